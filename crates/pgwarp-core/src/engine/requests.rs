//! The request batch JavaScript sends once per tick (`src/bridge.ts` writes it). Per request,
//! little-endian: `u8 kind, u32 request id`, then by kind:
//!
//! - `QUERY`: `u8 mode, u32 conn (0: any pooled connection), u32 sql id, u32 sql length,
//!   sql (when the length is not 0: the text, registered under the id unless it is 0),
//!   u32 params length, params` (see `params::wire`)
//! - `NEXT`: `u32 cursor`; `CANCEL`: `u32 cursor`
//! - `RESERVE`: nothing; `RELEASE`: `u32 conn`
//! - `READY`: `u32 conn, u32 error length, error` (`onConnect` finished; empty error: it succeeded)

use crate::error::Error;

const QUERY: u8 = 1;
const NEXT: u8 = 2;
const CANCEL: u8 = 3;
const RESERVE: u8 = 4;
const RELEASE: u8 = 5;
const READY: u8 = 6;

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
        params: &'a [u8],
    },
    /// The next page of a paged result.
    Next { id: u32, cursor: u32 },
    /// Abandon a paged result (no completion).
    Cancel { cursor: u32 },
    /// Lend a connection to the caller alone.
    Reserve { id: u32 },
    /// Give a reserved connection back.
    Release { id: u32, conn: u32 },
    /// `onConnect` finished for a new connection (no completion).
    Ready { conn: u32, error: Option<&'a str> },
}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.buf.len());
        let end = end.ok_or_else(|| Error::Internal("request batch is truncated".into()))?;
        let s = &self.buf[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, Error> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().unwrap_or_default(),
        ))
    }
}

/// Reads every request of a batch.
pub fn parse(buf: &[u8]) -> Result<Vec<Request<'_>>, Error> {
    let mut r = Reader { buf, at: 0 };
    let mut out = Vec::new();
    while r.at < buf.len() {
        let kind = r.u8()?;
        let id = r.u32()?;
        out.push(match kind {
            QUERY => {
                let mode = r.u8()? as u32;
                let conn = r.u32()?;
                let sql_id = r.u32()?;
                let len = r.u32()? as usize;
                let sql = if len == 0 {
                    SqlText::Known(sql_id)
                } else {
                    let text = std::str::from_utf8(r.take(len)?)
                        .map_err(|_| Error::Internal("query text is not UTF-8".into()))?;
                    SqlText::Inline { id: sql_id, text }
                };
                let plen = r.u32()? as usize;
                let params = r.take(plen)?;
                Request::Query {
                    id,
                    mode,
                    sql,
                    conn,
                    params,
                }
            }
            NEXT => Request::Next {
                id,
                cursor: r.u32()?,
            },
            CANCEL => Request::Cancel { cursor: r.u32()? },
            RESERVE => Request::Reserve { id },
            RELEASE => Request::Release { id, conn: r.u32()? },
            READY => {
                let conn = r.u32()?;
                let len = r.u32()? as usize;
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
