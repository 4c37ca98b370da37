//! Running a statement with the extended protocol: Bind, Execute and Sync for a prepared
//! statement, or Parse, Bind, Describe, Execute and Sync for the unnamed one (one round trip,
//! for PgBouncer in transaction mode). Results are asked for with Bind's result format codes
//! as the caller gives them: one for every column, or one per column.
//!
//! [`Rows`] reads the answer to its end: the rows, then the command tag of CommandComplete and
//! the transaction status of ReadyForQuery, which the caller needs to know what the statement
//! did to the session.

use bytes::BytesMut;
use postgres_protocol::message::backend::{DataRowBody, Message};
use postgres_protocol::message::frontend;
use postgres_protocol::IsNull;

use super::conn::Client;
use super::pipe::{Poison, Responses};
use super::prepare::{encode_error, RawColumns};
use crate::error::Error;
use crate::server_error::ServerError;

/// A parameter value ready for Bind: its bytes (`None`: NULL) and whether they are binary.
pub type Param<'a> = (Option<&'a [u8]>, bool);

impl Client {
    /// Runs prepared statement `name` with `params`; `results` are Bind's result format
    /// codes (1 binary, 0 text): one for every column, or one per column. `key` is the cancel
    /// key of its call (0: none; see [`Client::send_keyed`]).
    pub fn execute(
        &self,
        name: &str,
        params: &[Param<'_>],
        results: &[i16],
        key: u32,
    ) -> Result<Rows, Error> {
        let mut buf = BytesMut::with_capacity(message_size(name, params, results));
        bind(name, params, results, &mut buf)?;
        frontend::execute("", 0, &mut buf).map_err(encode_error)?;
        frontend::sync(&mut buf);
        Ok(Rows::new(
            self.send_keyed(buf, key).map_err(super::lost_error)?,
        ))
    }

    /// Prepares `sql` as the unnamed statement and runs it, in one round trip. The server
    /// infers parameter types (values go as text); the columns arrive with the answer, so
    /// `results` can only be one code for all of them.
    pub fn execute_unnamed(
        &self,
        sql: &str,
        params: &[Param<'_>],
        results: &[i16],
        key: u32,
    ) -> Result<Rows, Error> {
        let mut buf = BytesMut::with_capacity(sql.len() + message_size("", params, results));
        frontend::parse("", sql, std::iter::empty(), &mut buf).map_err(encode_error)?;
        bind("", params, results, &mut buf)?;
        frontend::describe(b'P', "", &mut buf).map_err(encode_error)?;
        frontend::execute("", 0, &mut buf).map_err(encode_error)?;
        frontend::sync(&mut buf);
        Ok(Rows::new(
            self.send_keyed(buf, key).map_err(super::lost_error)?,
        ))
    }
}

/// Room for Bind, Execute and Sync, so the buffer is allocated once (growing it showed up in
/// profiles of point queries).
fn message_size(statement: &str, params: &[Param<'_>], results: &[i16]) -> usize {
    let values: usize = params
        .iter()
        .map(|(v, _)| 6 + v.map_or(0, <[u8]>::len))
        .sum();
    64 + statement.len() + values + 2 * results.len()
}

/// Writes Bind for `statement` into the unnamed portal.
fn bind(
    statement: &str,
    params: &[Param<'_>],
    results: &[i16],
    buf: &mut BytesMut,
) -> Result<(), Error> {
    frontend::bind(
        "",
        statement,
        params.iter().map(|(_, binary)| *binary as i16),
        params.iter(),
        |(value, _), out| match value {
            Some(bytes) => {
                out.extend_from_slice(bytes);
                Ok(IsNull::No)
            }
            None => Ok(IsNull::Yes),
        },
        results.iter().copied(),
        buf,
    )
    .map_err(|e| match e {
        frontend::BindError::Conversion(e) => Error::Parameter(e.to_string()),
        frontend::BindError::Serialization(e) => encode_error(e),
    })
}

/// The answer to one statement, read row by row.
pub struct Rows {
    responses: Responses,
    tag: Option<String>,
    status: Option<u8>,
    failed: Option<Error>,
    columns: Option<RawColumns>,
}

impl Rows {
    fn new(responses: Responses) -> Rows {
        Rows {
            responses,
            tag: None,
            status: None,
            failed: None,
            columns: None,
        }
    }

    /// The error for a lost connection: the server's own FATAL error when it sent one for
    /// this statement before closing (the statement that was running gets the server's
    /// words; those queued behind it only hear that the connection was lost).
    fn lost(&mut self, lost: super::Lost) -> Error {
        match self.failed.take() {
            Some(
                e @ Error::Connection {
                    server: Some(_), ..
                },
            ) => e,
            other => {
                self.failed = other;
                super::lost_error(lost)
            }
        }
    }

    /// The next row; `Ok(None)` once the statement ended. A server error is returned after
    /// the answer has been read to its end, so [`Rows::status`] is known by then.
    pub async fn next(&mut self) -> Result<Option<DataRowBody>, Error> {
        loop {
            let message = self.responses.next().await.map_err(|l| self.lost(l))?;
            match message {
                Some(Message::DataRow(body)) => return Ok(Some(body)),
                Some(Message::CommandComplete(body)) => {
                    self.tag = Some(body.tag().unwrap_or_default().to_string());
                }
                Some(Message::RowDescription(body)) => {
                    self.columns = Some(RawColumns::parse(&body)?);
                }
                Some(Message::ErrorResponse(body)) => {
                    let e = ServerError::parse(body.fields()).unwrap_or_default();
                    self.failed.get_or_insert(super::server_failure(e));
                }
                Some(Message::ReadyForQuery(body)) => self.status = Some(body.status()),
                // Never delivered: the connection's task gives the connection up first (see
                // `Task::copy_starts`).
                Some(Message::CopyInResponse(_)) => {
                    self.failed.get_or_insert(copy_refused("copyIn"));
                }
                Some(Message::CopyOutResponse(_)) => {
                    self.failed.get_or_insert(copy_refused("copyOut"));
                }
                Some(_) => {}
                None => {
                    return match self.failed.take() {
                        Some(e) => Err(e),
                        None => Ok(None),
                    }
                }
            }
        }
    }

    /// Reads up to the RowDescription of an unnamed statement (or to the end, for one that
    /// returns no rows) and returns its columns.
    pub async fn columns(&mut self) -> Result<Option<RawColumns>, Error> {
        while self.columns.is_none() && !self.responses.is_done() {
            let message = self.responses.next().await.map_err(|l| self.lost(l))?;
            match message {
                Some(Message::RowDescription(body)) => {
                    self.columns = Some(RawColumns::parse(&body)?);
                }
                Some(Message::NoData) => return Ok(None),
                Some(Message::ErrorResponse(body)) => {
                    let e = ServerError::parse(body.fields()).unwrap_or_default();
                    self.failed.get_or_insert(super::server_failure(e));
                }
                Some(Message::ReadyForQuery(body)) => self.status = Some(body.status()),
                Some(_) => {}
                None => break,
            }
        }
        if self.responses.is_done() {
            if let Some(e) = self.failed.take() {
                return Err(e);
            }
        }
        Ok(self.columns.take())
    }

    /// Whether the server's whole answer has arrived (read or not).
    pub fn is_complete(&self) -> bool {
        self.responses.is_complete()
    }

    /// The command tag (`INSERT 0 1`, `SELECT 5`, `CREATE TABLE`), once the statement ended.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The transaction status after the statement, once its answer was read to the end.
    pub fn status(&self) -> Option<super::TxStatus> {
        self.status.map(super::TxStatus::from_byte)
    }

    /// Whether a statement at or before this one left the (shared) connection inside a
    /// transaction; see [`Client::set_strict`].
    pub fn poisoned(&self) -> Poison {
        self.responses.poisoned()
    }
}

fn copy_refused(method: &str) -> Error {
    Error::Parameter(format!(
        "COPY ... {} cannot run through query(); use {method}()",
        if method == "copyIn" {
            "FROM STDIN"
        } else {
            "TO STDOUT"
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The result format codes at the end of a Bind message: count, then the codes.
    fn result_codes(results: &[i16]) -> Vec<i16> {
        let mut buf = BytesMut::new();
        bind("s", &[(Some(b"1".as_slice()), false)], results, &mut buf).unwrap();
        let n = results.len();
        let tail = &buf[buf.len() - 2 - 2 * n..];
        assert_eq!(i16::from_be_bytes([tail[0], tail[1]]) as usize, n);
        tail[2..]
            .chunks(2)
            .map(|c| i16::from_be_bytes([c[0], c[1]]))
            .collect()
    }

    #[test]
    fn bind_sends_the_result_codes_given() {
        assert_eq!(result_codes(&[1]), [1]);
        assert_eq!(result_codes(&[0]), [0]);
        assert_eq!(result_codes(&[0, 1, 1]), [0, 1, 1]);
    }
}
