//! COPY through the simple protocol, as psql and node-postgres run it: no prepared statement
//! (so it works behind PgBouncer in transaction mode), and the server's answer is watched
//! while data goes out, so a rejected row stops the copy at once.

use bytes::{Bytes, BytesMut};
use futures_util::FutureExt;
use postgres_protocol::message::backend::Message;
use postgres_protocol::message::frontend;

use super::conn::Client;
use super::pipe::Responses;
use crate::error::Error;
use crate::server_error::ServerError;

/// Bytes of COPY data waiting to be written before a writer waits (backpressure).
const UNWRITTEN_LIMIT: usize = 512 * 1024;

/// What started instead of the COPY that was asked for.
fn not_a_copy(expected: &str) -> Error {
    Error::Parameter(format!(
        "the statement is not a COPY ... {expected} statement"
    ))
}

/// A `COPY ... FROM STDIN` in progress.
pub struct CopyIn {
    responses: Responses,
    /// The server's error, seen while sending: the copy is over.
    failed: Option<Error>,
}

/// A `COPY ... TO STDOUT` in progress.
pub struct CopyOut {
    responses: Responses,
    tag: Option<String>,
}

impl Client {
    /// Starts `sql`, which must be a `COPY ... FROM STDIN`.
    pub async fn copy_in(&self, sql: &str) -> Result<CopyIn, Error> {
        let mut buf = BytesMut::new();
        frontend::query(sql, &mut buf).map_err(super::prepare::encode_error)?;
        let mut responses = self.send_copy_in(buf).map_err(super::lost_error)?;
        match first_answer(&mut responses).await? {
            Some(Message::CopyInResponse(_)) => Ok(CopyIn {
                responses,
                failed: None,
            }),
            other => Err(self.wrong_answer(responses, other, "FROM STDIN").await),
        }
    }

    /// Starts `sql`, which must be a `COPY ... TO STDOUT`.
    pub async fn copy_out(&self, sql: &str) -> Result<CopyOut, Error> {
        let mut responses = self.query_message(sql)?;
        match first_answer(&mut responses).await? {
            Some(Message::CopyOutResponse(_)) => Ok(CopyOut {
                responses,
                tag: None,
            }),
            other => Err(self.wrong_answer(responses, other, "TO STDOUT").await),
        }
    }

    fn query_message(&self, sql: &str) -> Result<Responses, Error> {
        let mut buf = BytesMut::new();
        frontend::query(sql, &mut buf).map_err(super::prepare::encode_error)?;
        self.send(buf).map_err(super::lost_error)
    }
}

/// The first message that says how the statement started; errors are read to the end.
async fn first_answer(responses: &mut Responses) -> Result<Option<Message>, Error> {
    loop {
        match responses.next().await.map_err(super::lost_error)? {
            Some(Message::ErrorResponse(body)) => {
                let e = ServerError::parse(body.fields()).unwrap_or_default();
                while responses.next().await.map_err(super::lost_error)?.is_some() {}
                return Err(super::server_failure(e));
            }
            Some(Message::NoticeResponse(_)) => {}
            other => return Ok(other),
        }
    }
}

impl Client {
    /// Reads to the end of an answer that was not the COPY expected, so the connection stays
    /// usable, and says what was wrong. A COPY FROM STDIN later in the same script is failed
    /// here (for copyIn's own request the connection expects one and lets it through).
    async fn wrong_answer(
        &self,
        mut responses: Responses,
        first: Option<Message>,
        expected: &str,
    ) -> Error {
        let mut message = first;
        while !responses.is_done() {
            // For copyOut's request the connection's task has failed it already.
            if expected == "FROM STDIN" && matches!(message, Some(Message::CopyInResponse(_))) {
                let mut buf = BytesMut::new();
                if frontend::copy_fail("not the COPY copyIn() was given", &mut buf).is_ok() {
                    let _ = self.send_more(buf);
                }
            }
            message = match responses.next().await {
                Ok(m) => m,
                Err(_) => break,
            };
        }
        not_a_copy(expected)
    }
}

impl CopyIn {
    /// Sends a chunk of COPY data, waiting while much is still unwritten. Fails with the
    /// server's error as soon as the server has refused the copy.
    pub async fn write(&mut self, client: &Client, data: Bytes) -> Result<(), Error> {
        self.check_early();
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let mut buf = BytesMut::with_capacity(data.len() + 5);
        frontend::CopyData::new(data)
            .map_err(super::prepare::encode_error)?
            .write(&mut buf);
        client.send_more(buf).map_err(super::lost_error)?;
        client.writable(UNWRITTEN_LIMIT).await;
        self.check_early();
        match &self.failed {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// Whether the server already answered (it only does when it refused the data).
    fn check_early(&mut self) {
        while self.failed.is_none() {
            match self.responses.next().now_or_never() {
                Some(Ok(Some(Message::ErrorResponse(body)))) => {
                    let e = ServerError::parse(body.fields()).unwrap_or_default();
                    self.failed = Some(super::server_failure(e));
                }
                Some(Ok(Some(_))) => {}
                Some(Ok(None)) => {
                    self.failed = Some(Error::Internal("the server ended the COPY early".into()))
                }
                Some(Err(lost)) => self.failed = Some(super::lost_error(lost)),
                None => return,
            }
        }
    }

    /// Ends the data; resolves to the rows copied, or the server's error for the last rows.
    pub async fn finish(mut self, client: &Client) -> Result<u64, Error> {
        if let Some(e) = self.failed.take() {
            self.drain().await;
            return Err(e);
        }
        let mut buf = BytesMut::new();
        frontend::copy_done(&mut buf);
        client.send_more(buf).map_err(super::lost_error)?;
        let mut rows = 0;
        let mut failed = None;
        loop {
            match self.responses.next().await.map_err(super::lost_error)? {
                // The COPY's own count, not that of a statement after it in the same script.
                Some(Message::CommandComplete(body)) if rows == 0 => {
                    let tag = body.tag().unwrap_or_default();
                    if tag.starts_with("COPY") {
                        rows = super::rows_of_tag(tag).unwrap_or(0);
                    }
                }
                Some(Message::ErrorResponse(body)) => {
                    let e = ServerError::parse(body.fields()).unwrap_or_default();
                    failed.get_or_insert(super::server_failure(e));
                }
                Some(_) => {}
                None => break,
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(rows),
        }
    }

    /// Aborts the copy: nothing of it is kept. Resolves once the server has confirmed.
    pub async fn abort(mut self, client: &Client, reason: &str) {
        if self.failed.is_none() {
            let mut buf = BytesMut::new();
            if frontend::copy_fail(reason, &mut buf).is_ok() {
                let _ = client.send_more(buf);
            }
        }
        self.drain().await;
    }

    async fn drain(&mut self) {
        while let Ok(Some(_)) = self.responses.next().await {}
    }
}

impl CopyOut {
    /// Rows the server says it copied, once the COPY ended.
    pub fn rows(&self) -> u64 {
        self.tag
            .as_deref()
            .and_then(super::rows_of_tag)
            .unwrap_or(0)
    }

    /// Whether the server's whole answer has arrived, read or not.
    pub fn is_complete(&self) -> bool {
        self.responses.is_complete()
    }

    /// The next chunk of data (a row, in text and CSV formats); `None` at the end.
    pub async fn next(&mut self) -> Result<Option<Bytes>, Error> {
        let mut failed = None;
        loop {
            match self.responses.next().await.map_err(super::lost_error)? {
                Some(Message::CopyData(body)) => return Ok(Some(body.into_bytes())),
                Some(Message::CommandComplete(body)) => {
                    self.tag = Some(body.tag().unwrap_or_default().to_string());
                }
                Some(Message::ErrorResponse(body)) => {
                    let e = ServerError::parse(body.fields()).unwrap_or_default();
                    failed.get_or_insert(super::server_failure(e));
                }
                Some(_) => {}
                None => {
                    return match failed {
                        Some(e) => Err(e),
                        None => Ok(None),
                    }
                }
            }
        }
    }
}
