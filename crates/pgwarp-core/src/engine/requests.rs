//! The request batch JavaScript sends once per tick (`src/engine/bridge.ts` writes it). Per request,
//! little-endian: `u8 kind, u32 request id`, then by kind:
//!
//! - `QUERY`: `u32 mode (see `query::mode`), u32 batch rows, u32 max rows, f64 max bytes (0: no limit),
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

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::shard::Command;
use crate::bytes::Reader;
use crate::error::Error;
use crate::pool::CopyInput;
use crate::query::{Limits, QueryMode};
use crate::sync::lock;

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

/// The SQL texts JavaScript has registered by id, so a repeated query sends only its id.
#[derive(Default)]
pub(crate) struct SqlTexts(Mutex<HashMap<u32, Arc<str>>>);

/// One request of a batch, parsed once into what it does.
pub(crate) enum Request {
    /// Work for a shard: the one that owns connection, cursor, copy or ticket `owner`, or
    /// with `None` whichever the engine picks.
    Work {
        owner: Option<u32>,
        command: Command,
    },
    /// A request that cannot run (a query naming a text that was never registered): its
    /// completion is this error.
    Refused { id: u32, error: Error },
    /// The password function's answer (the password, or why it failed).
    Password {
        number: u32,
        result: Result<Vec<u8>, String>,
    },
    /// `onConnect` finished for a new connection (no completion).
    Ready { conn: u32, error: Option<String> },
}

/// Reads every request of a batch, in order. Texts are registered and forgotten in
/// `texts` as the batch says, so a query resolves its text as of its place in the batch.
pub(crate) fn parse(buf: &[u8], texts: &SqlTexts) -> Result<Vec<Request>, Error> {
    let mut r = Reader::new(buf);
    // One lock for the batch: the engine's other users of the table are its own requests.
    let mut table = lock(&texts.0);
    let mut out = Vec::new();
    let work = |owner: u32, command: Command| Request::Work {
        owner: Some(owner),
        command,
    };
    // Connection 0 is "any pooled connection".
    let any_or = |conn: u32, command: Command| Request::Work {
        owner: (conn != 0).then_some(conn),
        command,
    };
    while !r.is_done() {
        let kind = r.u8()?;
        let id = r.u32_le()?;
        out.push(match kind {
            QUERY => {
                let mode = QueryMode::parse(r.u32_le()?);
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
                    table.get(&sql_id).cloned()
                } else {
                    let text: Arc<str> = Arc::from(
                        std::str::from_utf8(r.take(len)?)
                            .map_err(|_| Error::Internal("query text is not UTF-8".into()))?,
                    );
                    if sql_id != 0 {
                        table.insert(sql_id, text.clone());
                    }
                    Some(text)
                };
                let plen = r.u32_le()? as usize;
                let params = r.take(plen)?.to_vec();
                match (sql, mode) {
                    (Some(sql), Ok(mode)) => any_or(
                        conn,
                        Command::Query {
                            id,
                            sql,
                            params,
                            mode,
                            conn,
                            key,
                            limits,
                        },
                    ),
                    (None, _) => Request::Refused {
                        id,
                        error: Error::Internal(format!("unknown statement text id {sql_id}")),
                    },
                    (_, Err(error)) => Request::Refused { id, error },
                }
            }
            NEXT => {
                let cursor = r.u32_le()?;
                work(cursor, Command::Next { id, cursor })
            }
            DROP_RESULT => {
                let cursor = r.u32_le()?;
                work(cursor, Command::DropResult { cursor })
            }
            STOP => {
                let cursor = r.u32_le()?;
                work(cursor, Command::Stop { id, cursor })
            }
            COPY_DATA => {
                let copy = r.u32_le()?;
                let rows = r.u8()? == 1;
                let len = r.u32_le()? as usize;
                let data = r.take(len)?.to_vec();
                let input = CopyInput::Data { rows, data };
                work(copy, Command::Copy { id, copy, input })
            }
            COPY_END => {
                let copy = r.u32_le()?;
                let len = r.u32_le()? as usize;
                let error = std::str::from_utf8(r.take(len)?).unwrap_or("the copy failed");
                let input = CopyInput::End {
                    error: (len > 0).then(|| error.to_string()),
                };
                work(copy, Command::Copy { id, copy, input })
            }
            EXEC | EXEC_ROWS => {
                let conn = r.u32_le()?;
                let len = r.u32_le()? as usize;
                let sql = std::str::from_utf8(r.take(len)?)
                    .map_err(|_| Error::Internal("script text is not UTF-8".into()))?
                    .to_string();
                let rows = kind == EXEC_ROWS;
                work(
                    conn,
                    Command::Exec {
                        id,
                        conn,
                        sql,
                        rows,
                    },
                )
            }
            DESCRIBE => {
                let conn = r.u32_le()?;
                let len = r.u32_le()? as usize;
                let sql = std::str::from_utf8(r.take(len)?)
                    .map_err(|_| Error::Internal("query text is not UTF-8".into()))?
                    .to_string();
                any_or(conn, Command::Describe { id, conn, sql })
            }
            CANCEL_STATEMENTS => {
                let conn = r.u32_le()?;
                let key = r.u32_le()?;
                work(conn, Command::CancelStatements { id, conn, key })
            }
            WATCH => {
                let conn = r.u32_le()?;
                work(conn, Command::Watch { conn })
            }
            RESERVE => {
                let session = r.u32_le()?;
                Request::Work {
                    owner: None,
                    command: Command::Reserve { id, session },
                }
            }
            CLAIM => {
                let ticket = r.u32_le()? | super::tickets::TICKET_BIT;
                work(ticket, Command::Claim { ticket })
            }
            RELEASE => {
                let conn = r.u32_le()?;
                work(conn, Command::Release { id, conn })
            }
            FORGET => {
                table.remove(&r.u32_le()?);
                continue;
            }
            PASSWORD => {
                let number = r.u32_le()?;
                let ok = r.u8()? == 1;
                let len = r.u32_le()? as usize;
                let text = std::str::from_utf8(r.take(len)?)
                    .map_err(|_| Error::Internal("password is not UTF-8".into()))?;
                Request::Password {
                    number,
                    result: if ok {
                        Ok(text.as_bytes().to_vec())
                    } else {
                        Err(text.to_string())
                    },
                }
            }
            END => {
                let conn = r.u32_le()?;
                let commit = r.u8()? == 1;
                work(conn, Command::End { id, conn, commit })
            }
            READY => {
                let conn = r.u32_le()?;
                let len = r.u32_le()? as usize;
                let error = std::str::from_utf8(r.take(len)?).unwrap_or("onConnect failed");
                Request::Ready {
                    conn,
                    error: (len > 0).then(|| error.to_string()),
                }
            }
            other => return Err(Error::Internal(format!("unknown request kind {other}"))),
        });
    }
    Ok(out)
}
