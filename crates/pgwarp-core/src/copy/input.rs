//! `COPY ... FROM STDIN`: data from JavaScript as it arrives (raw, in any COPY format), or rows
//! of values that [`RowEncoder`] turns into binary or text COPY. A [`CopyIn`] dropped before
//! [`CopyIn::finish`] aborts the COPY, so nothing of it is committed.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use postgres_protocol::message::frontend;

use crate::connection::Connection;
use crate::error::Error;
use crate::params::copy::RowEncoder;
use crate::query::not_sent;
use crate::wire;

/// A COPY in progress.
pub struct CopyIn {
    copy: Option<wire::CopyIn>,
    conn: Arc<Connection>,
    rows: Option<RowEncoder>,
    /// Rows encoded so far, to number rows in error messages.
    encoded: u64,
}

impl CopyIn {
    /// Starts `sql`, a `COPY ... FROM STDIN` whose data the caller sends as is.
    pub async fn start(conn: &Arc<Connection>, sql: &str) -> Result<CopyIn, Error> {
        Ok(CopyIn {
            copy: Some(start_copy(conn, sql).await?),
            conn: conn.clone(),
            rows: None,
            encoded: 0,
        })
    }

    /// Starts a COPY into `table`'s `columns` (both already quoted as identifiers), whose rows
    /// the caller sends as values. The column types come from describing a SELECT of the
    /// columns: prepared and cached per connection, or (`prepare: false`) as the unnamed
    /// statement, so that nothing named is left on a server behind PgBouncer.
    pub async fn start_rows(
        conn: &Arc<Connection>,
        table: &str,
        columns: &str,
        prepare: bool,
    ) -> Result<CopyIn, Error> {
        let probe = format!("SELECT {columns} FROM {table} LIMIT 0");
        let columns_of = {
            let _turn = conn.turn().await;
            if prepare {
                let (probe, kept) = conn.prepare(&probe).await?;
                if !kept {
                    conn.client().close_statement(&probe.name);
                }
                probe.description.columns.clone()
            } else {
                conn.describe_unnamed(&probe).await?.columns
            }
        };
        let encoder = RowEncoder::new(
            columns_of.iter().map(|c| c.type_.clone()).collect(),
            columns_of.iter().map(|c| c.name.clone()).collect(),
        );
        let format = if encoder.binary() { "binary" } else { "text" };
        let sql = format!("COPY {table} ({columns}) FROM STDIN (FORMAT {format})");
        let mut copy = CopyIn {
            copy: Some(start_copy(conn, &sql).await?),
            conn: conn.clone(),
            rows: None,
            encoded: 0,
        };
        if !encoder.header().is_empty() {
            copy.send(Bytes::from_static(encoder.header())).await?;
        }
        copy.rows = Some(encoder);
        Ok(copy)
    }

    async fn send(&mut self, data: Bytes) -> Result<(), Error> {
        match self.copy.as_mut() {
            Some(copy) => copy.write(self.conn.client(), data).await,
            None => Err(Error::Internal("the COPY has ended".into())),
        }
    }

    /// Sends a chunk: COPY data as is, or (`rows`) a batch of rows' values to encode first.
    /// Waits while the connection's buffers are full, which is the backpressure; fails as soon
    /// as the server has refused a row.
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
        self.send(Bytes::from(data)).await
    }

    /// Ends the COPY; the server checks the last rows and commits (or fails the statement).
    /// Returns the rows copied.
    pub async fn finish(mut self) -> Result<u64, Error> {
        if let Some(trailer) = self.rows.as_ref().map(RowEncoder::trailer) {
            if !trailer.is_empty() {
                self.send(Bytes::from_static(trailer)).await?;
            }
        }
        let copy = self
            .copy
            .take()
            .ok_or_else(|| Error::Internal("the COPY has ended".into()))?;
        copy.finish(self.conn.client()).await
    }

    /// Aborts the COPY with `reason`; resolves once the server has rolled it back.
    pub async fn abort(mut self, reason: &str) {
        if let Some(copy) = self.copy.take() {
            copy.abort(self.conn.client(), reason).await;
        }
    }
}

impl Drop for CopyIn {
    fn drop(&mut self) {
        if self.copy.take().is_some() {
            // Abandoned mid-way: CopyFail makes the server roll the COPY back; its answer is
            // read (and dropped) by the connection, in order.
            let mut buf = BytesMut::new();
            if frontend::copy_fail("the COPY was abandoned", &mut buf).is_ok() {
                let _ = self.conn.client().send_more(buf);
            }
        }
    }
}

async fn start_copy(conn: &Arc<Connection>, sql: &str) -> Result<wire::CopyIn, Error> {
    let _turn = conn.turn().await;
    if conn.state().closing {
        return Err(not_sent());
    }
    conn.client().copy_in(sql).await
}
