//! `COPY ... FROM STDIN`: data from JavaScript as it arrives (raw, in any COPY format), or rows
//! of values that [`RowEncoder`] turns into binary or text COPY. Dropping a [`CopyIn`] before
//! [`CopyIn::finish`] aborts the COPY, so nothing of it is committed.

use std::pin::Pin;

use bytes::Bytes;
use futures_util::SinkExt;
use tokio_postgres::CopyInSink;

use crate::connection::Connection;
use crate::error::Error;
use crate::params::copy::RowEncoder;
use crate::query::{not_sent_if_closed, sent_in_turn};

/// Why a COPY could not start.
#[derive(Debug)]
pub struct StartError {
    /// What the server or the client said.
    pub error: Error,
    /// The server refused the COPY statement itself (an unknown table, say). tokio-postgres
    /// then still sends CopyFail and a second Sync, whose answer nothing waits for, so the
    /// connection must not be used again.
    pub connection_spoiled: bool,
}

impl From<Error> for StartError {
    fn from(error: Error) -> Self {
        StartError {
            error,
            connection_spoiled: false,
        }
    }
}

/// A COPY in progress.
pub struct CopyIn {
    sink: Pin<Box<CopyInSink<Bytes>>>,
    rows: Option<RowEncoder>,
    /// Rows encoded so far, to number rows in error messages.
    encoded: u64,
}

impl CopyIn {
    /// Starts `sql`, a `COPY ... FROM STDIN` whose data the caller sends as is.
    pub async fn start(conn: &Connection, sql: &str) -> Result<CopyIn, StartError> {
        Ok(CopyIn {
            sink: Box::pin(start_sink(conn, sql).await?),
            rows: None,
            encoded: 0,
        })
    }

    /// Starts a COPY into `table`'s `columns` (both already quoted as identifiers), whose rows
    /// the caller sends as values. The column types come from preparing a SELECT of the
    /// columns, which the connection's statement cache keeps for the next copy.
    pub async fn start_rows(
        conn: &Connection,
        table: &str,
        columns: &str,
    ) -> Result<CopyIn, StartError> {
        let probe = conn
            .prepare(&format!("SELECT {columns} FROM {table} LIMIT 0"))
            .await?;
        let encoder = RowEncoder::new(
            probe.columns().iter().map(|c| c.type_().clone()).collect(),
            probe
                .columns()
                .iter()
                .map(|c| c.name().to_string())
                .collect(),
        );
        let format = if encoder.binary() { "binary" } else { "text" };
        let sql = format!("COPY {table} ({columns}) FROM STDIN (FORMAT {format})");
        let mut sink = Box::pin(start_sink(conn, &sql).await?);
        if !encoder.header().is_empty() {
            sink.feed(Bytes::from_static(encoder.header()))
                .await
                .map_err(|e| StartError::from(Error::from_query(e)))?;
        }
        Ok(CopyIn {
            sink,
            rows: Some(encoder),
            encoded: 0,
        })
    }

    /// Sends a chunk: COPY data as is, or (`rows`) a batch of rows' values to encode first.
    /// Waits while the connection's buffers are full, which is the backpressure.
    pub async fn write(&mut self, data: Vec<u8>, rows: bool) -> Result<(), Error> {
        let data = match (&self.rows, rows) {
            (Some(encoder), true) => {
                let (bytes, count) = encoder.encode(&data, self.encoded)?;
                self.encoded += count;
                bytes
            }
            (None, false) => data,
            _ => {
                return Err(Error::Internal(
                    "copy data does not match the kind of copy".into(),
                ))
            }
        };
        self.sink
            .send(Bytes::from(data))
            .await
            .map_err(Error::from_query)
    }

    /// Ends the COPY; the server checks the last rows and commits (or fails the statement).
    /// Returns the rows copied.
    pub async fn finish(mut self) -> Result<u64, Error> {
        if let Some(trailer) = self.rows.as_ref().map(RowEncoder::trailer) {
            if !trailer.is_empty() {
                self.sink
                    .feed(Bytes::from_static(trailer))
                    .await
                    .map_err(Error::from_query)?;
            }
        }
        self.sink.as_mut().finish().await.map_err(Error::from_query)
    }
}

async fn start_sink(conn: &Connection, sql: &str) -> Result<CopyInSink<Bytes>, StartError> {
    let turn = conn.turn().await;
    let statement = not_sent_if_closed(conn, conn.prepare(sql)).await?;
    sent_in_turn(conn.client().copy_in(&statement), turn)
        .await
        .map_err(|error| StartError {
            error,
            connection_spoiled: true,
        })
}
