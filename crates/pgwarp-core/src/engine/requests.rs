//! The request batch JavaScript sends once per tick (`src/bridge.ts` writes it). Per request,
//! little-endian: `u8 kind, u32 request id`, then by kind:
//!
//! - `QUERY`: `u32 mode (see `query::MODE_BITS`), u32 batch rows, u32 max rows, f64 max bytes (0: no limit),
//!   u32 conn (0: any pooled connection), u32 cancel key (0: none; the key a `CANCEL_STATEMENTS`
//!   names), u32 sql id, u32 sql length, sql (when the length is
//!   not 0: the text, registered under the id unless it is 0), u32 params length, params`
//!   (see `params::wire`)
//! - `NEXT`: `u32 cursor`; `DROP_RESULT`: `u32 cursor`; `STOP`: `u32 cursor`
//! - `RESERVE`: `u32 session` (0: answer with the id only; 1: the backend's pid too; 2: its
//!   reported parameters as well, see `result::layout::session_buffer`); `RELEASE`: `u32 conn`
//!   (request id 0: no answer)
//! - `CLAIM`: `u32 ticket`: a reservation the requests naming `ticket` (in place of a
//!   connection) run on, made without an answer (see `engine/tickets.rs`)
//! - `END`: `u32 conn, u8 commit (1: COMMIT, 0: ROLLBACK)`: ends a transaction and releases
//! - `FORGET`: `u32 sql id`: a registered text JavaScript dropped (no completion)
//! - `PASSWORD`: `u32 number, u8 ok, u32 length, text`: the password function's answer to
//!   event `EVENT_PASSWORD` (the password, or when not ok why it failed; no completion)
//! - `READY`: `u32 conn, u32 error length, error` (`onConnect` finished; empty error: it succeeded)
//! - `COPY_DATA`: `u32 copy, u8 rows (1: values to encode, 0: COPY data), u32 length, data`
//! - `COPY_END`: `u32 copy, u32 error length, error` (empty: commit; otherwise abort, saying why)
//! - `EXEC`: `u32 conn, u32 length, text`: a script on a reserved connection
//! - `EXEC_ROWS`: as `EXEC`, and the answer keeps each statement's rows (see `pool/script.rs`)
//! - `CANCEL_STATEMENTS`: `u32 conn, u32 key`: cancels the statements of cancel key `key` on reserved
//!   connection `conn` (see `wire::cancel`); completes once no cancel for them can arrive any
//!   more (`u32 1` when one was sent and confirmed, else `u32 0`)
//! - `DESCRIBE`: `u32 conn (0: a pooled one), u32 length, text`: the parameter types of a
//!   statement (see `pool/describe.rs`)
//! - `WATCH`: `u32 conn`: send event `EVENT_LOST` when reserved connection `conn` is gone (no completion)

use crate::bytes::Reader;
use crate::error::Error;
use crate::query::Limits;

const QUERY: u8 = 1;
const NEXT: u8 = 2;
const DROP_RESULT: u8 = 3;
const RESERVE: u8 = 4;
const RELEASE: u8 = 5;
const READY: u8 = 6;
const STOP: u8 = 7;
const COPY_DATA: u8 = 8;
const COPY_END: u8 = 9;
const END: u8 = 10;
const FORGET: u8 = 11;
const PASSWORD: u8 = 12;
const EXEC: u8 = 13;
const WATCH: u8 = 14;
const CANCEL_STATEMENTS: u8 = 15;
const DESCRIBE: u8 = 16;
const EXEC_ROWS: u8 = 17;
const CLAIM: u8 = 18;

/// Where a query's text is.
pub enum SqlText<'a> {
    /// Sent with the request (and registered under `id` unless it is 0).
    Inline { id: u32, text: &'a str },
    /// Registered earlier.
    Known(u32),
}

/// One request of a batch.
pub enum Request<'a> {
    /// Run a statement.
    Query {
        id: u32,
        mode: u32,
        sql: SqlText<'a>,
        conn: u32,
        /// Names the call for `CancelStatements` (0: it cannot be cancelled).
        key: u32,
        params: &'a [u8],
        limits: Limits,
    },
    /// The next page of a paged result.
    Next { id: u32, cursor: u32 },
    /// Abandon a paged result (no completion).
    DropResult { cursor: u32 },
    /// Stop held work early; completes once its connection is clean.
    Stop { id: u32, cursor: u32 },
    /// A chunk for a copy in progress.
    CopyData {
        id: u32,
        copy: u32,
        rows: bool,
        data: &'a [u8],
    },
    /// The end of a copy: commit, or abort with a reason.
    CopyEnd {
        id: u32,
        copy: u32,
        error: Option<&'a str>,
    },
    /// Lend a connection to the caller alone; with `session` (1 or 2), say which backend it is.
    Reserve { id: u32, session: u32 },
    /// Make the reservation `ticket` names.
    Claim { ticket: u32 },
    /// Give a reserved connection back.
    Release { id: u32, conn: u32 },
    /// End the transaction on a reserved connection and give it back.
    End { id: u32, conn: u32, commit: bool },
    /// Run a script (simple protocol) on a reserved connection; with `rows`, the answer
    /// keeps the rows its statements return.
    Exec {
        id: u32,
        conn: u32,
        sql: &'a str,
        rows: bool,
    },
    /// The parameter types of a statement.
    Describe { id: u32, conn: u32, sql: &'a str },
    /// Cancel the statements of one call on a reserved connection.
    CancelStatements { id: u32, conn: u32, key: u32 },
    /// Announce when a reserved connection is gone.
    Watch { conn: u32 },
    /// Drop a registered SQL text.
    Forget { sql_id: u32 },
    /// The password function's answer.
    Password {
        number: u32,
        result: Result<&'a str, &'a str>,
    },
    /// `onConnect` finished for a new connection (no completion).
    Ready { conn: u32, error: Option<&'a str> },
}

/// Reads every request of a batch.
pub fn parse(buf: &[u8]) -> Result<Vec<Request<'_>>, Error> {
    let mut r = Reader::new(buf);
    let mut out = Vec::new();
    while !r.is_done() {
        let kind = r.u8()?;
        let id = r.u32_le()?;
        out.push(match kind {
            QUERY => {
                let mode = r.u32_le()?;
                let limits = Limits {
                    batch_rows: r.u32_le()?,
                    max_rows: r.u32_le()? as u64,
                    max_bytes: r.f64_le()? as u64,
                };
                let conn = r.u32_le()?;
                let key = r.u32_le()?;
                let sql_id = r.u32_le()?;
                let len = r.u32_le()? as usize;
                // Length 0 with id 0 is the empty text, which is never registered.
                let sql = if len == 0 && sql_id != 0 {
                    SqlText::Known(sql_id)
                } else {
                    let text = std::str::from_utf8(r.take(len)?)
                        .map_err(|_| Error::Internal("query text is not UTF-8".into()))?;
                    SqlText::Inline { id: sql_id, text }
                };
                let plen = r.u32_le()? as usize;
                let params = r.take(plen)?;
                Request::Query {
                    id,
                    mode,
                    sql,
                    conn,
                    key,
                    params,
                    limits,
                }
            }
            NEXT => Request::Next {
                id,
                cursor: r.u32_le()?,
            },
            DROP_RESULT => Request::DropResult {
                cursor: r.u32_le()?,
            },
            STOP => Request::Stop {
                id,
                cursor: r.u32_le()?,
            },
            COPY_DATA => {
                let copy = r.u32_le()?;
                let rows = r.u8()? == 1;
                let len = r.u32_le()? as usize;
                Request::CopyData {
                    id,
                    copy,
                    rows,
                    data: r.take(len)?,
                }
            }
            COPY_END => {
                let copy = r.u32_le()?;
                let len = r.u32_le()? as usize;
                let error = std::str::from_utf8(r.take(len)?).unwrap_or("the copy failed");
                Request::CopyEnd {
                    id,
                    copy,
                    error: (len > 0).then_some(error),
                }
            }
            EXEC | EXEC_ROWS => {
                let conn = r.u32_le()?;
                let len = r.u32_le()? as usize;
                let sql = std::str::from_utf8(r.take(len)?)
                    .map_err(|_| Error::Internal("script text is not UTF-8".into()))?;
                Request::Exec {
                    id,
                    conn,
                    sql,
                    rows: kind == EXEC_ROWS,
                }
            }
            DESCRIBE => {
                let conn = r.u32_le()?;
                let len = r.u32_le()? as usize;
                let sql = std::str::from_utf8(r.take(len)?)
                    .map_err(|_| Error::Internal("query text is not UTF-8".into()))?;
                Request::Describe { id, conn, sql }
            }
            CANCEL_STATEMENTS => Request::CancelStatements {
                id,
                conn: r.u32_le()?,
                key: r.u32_le()?,
            },
            WATCH => Request::Watch { conn: r.u32_le()? },
            RESERVE => Request::Reserve {
                id,
                session: r.u32_le()?,
            },
            CLAIM => Request::Claim {
                ticket: r.u32_le()? | super::tickets::TICKET_BIT,
            },
            RELEASE => Request::Release {
                id,
                conn: r.u32_le()?,
            },
            FORGET => Request::Forget {
                sql_id: r.u32_le()?,
            },
            PASSWORD => {
                let number = r.u32_le()?;
                let ok = r.u8()? == 1;
                let len = r.u32_le()? as usize;
                let text = std::str::from_utf8(r.take(len)?)
                    .map_err(|_| Error::Internal("password is not UTF-8".into()))?;
                Request::Password {
                    number,
                    result: if ok { Ok(text) } else { Err(text) },
                }
            }
            END => Request::End {
                id,
                conn: r.u32_le()?,
                commit: r.u8()? == 1,
            },
            READY => {
                let conn = r.u32_le()?;
                let len = r.u32_le()? as usize;
                let error = std::str::from_utf8(r.take(len)?).unwrap_or("onConnect failed");
                Request::Ready {
                    conn,
                    error: (len > 0).then_some(error),
                }
            }
            other => return Err(Error::Internal(format!("unknown request kind {other}"))),
        });
    }
    Ok(out)
}
