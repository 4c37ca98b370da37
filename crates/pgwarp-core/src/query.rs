//! One autocommit query on a connection: prepare (cached), encode parameters for the
//! statement's types, execute, and encode what the caller asked to materialise.

use std::pin::Pin;

use futures_util::{pin_mut, TryStreamExt};
use tokio::sync::mpsc;
use tokio_postgres::types::Type;
use tokio_postgres::{RowStream, Statement};

use crate::connection::Connection;
use crate::error::Error;
use crate::params::{self, Value};
use crate::result::layout::error_buffer;
use crate::result::ResultEncoder;

/// What the caller will do with the rows, so the engine encodes no more than needed.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Every row.
    All = 0,
    /// The first row only; the rest are read off the socket and dropped.
    First = 1,
    /// The first row, and a count of all rows (for `one()`'s "exactly one" check).
    One = 2,
    /// No rows, only the count (INSERT/UPDATE/DELETE, DDL).
    Execute = 3,
}

impl Mode {
    /// The mode for a number from JavaScript.
    pub fn from_u32(n: u32) -> Result<Mode, Error> {
        Ok(match n {
            0 => Mode::All,
            1 => Mode::First,
            2 => Mode::One,
            3 => Mode::Execute,
            _ => return Err(Error::Internal(format!("unknown result mode {n}"))),
        })
    }
}

/// A statement whose execution has begun: the server accepted the parameters and rows are
/// on their way. Owns everything it needs, so it can move into a task of its own.
pub struct Started {
    stream: RowStream,
    /// Known up front for prepared statements; unnamed ones learn it from the first row.
    encoder: Option<ResultEncoder>,
    command: &'static str,
}

/// Prepares (through the cache), encodes the parameters for the statement's types, and starts
/// executing. Errors up to here happen before any row is read.
pub async fn start(
    conn: &Connection,
    sql: &str,
    values: &[Value<'_>],
    prepare: bool,
) -> Result<Started, Error> {
    let turn = conn.turn().await;
    if !prepare {
        // PgBouncer in transaction mode: one round trip with an unnamed statement; the server
        // infers the parameter types, so values go as text.
        let encoded = params::encode_untyped(values)?;
        let send = conn
            .client()
            .query_typed_raw(sql, encoded.iter().map(|e| (e, Type::UNKNOWN)));
        let stream = sent_in_turn(send, turn).await?;
        return Ok(Started {
            stream,
            encoder: None,
            command: command_of(sql),
        });
    }
    let statement: Statement = not_sent_if_closed(conn, conn.prepare(sql)).await?;
    let encoded = params::encode_all(values, statement.params())?;
    let stream = sent_in_turn(conn.client().query_raw(&statement, encoded.iter()), turn).await?;
    Ok(Started {
        stream,
        encoder: Some(ResultEncoder::new(statement.columns())),
        command: command_of(sql),
    })
}

/// Polls `send` once, which writes the statement's messages to the connection, then gives up
/// the turn (so later statements pipeline behind it) and waits for the answer.
async fn sent_in_turn<F>(send: F, turn: tokio::sync::MutexGuard<'_, ()>) -> Result<RowStream, Error>
where
    F: std::future::Future<Output = Result<RowStream, tokio_postgres::Error>>,
{
    pin_mut!(send);
    let first = futures_util::poll!(send.as_mut());
    drop(turn);
    match first {
        std::task::Poll::Ready(Err(e)) if e.is_closed() => Err(not_sent()),
        std::task::Poll::Ready(r) => r.map_err(Error::from_query),
        std::task::Poll::Pending => send.await.map_err(Error::from_query),
    }
}

/// Awaits a prepare, telling apart a connection that was already closed (nothing was written:
/// the first poll fails) from one lost while waiting.
async fn not_sent_if_closed<F, T>(conn: &Connection, prepare: F) -> Result<T, Error>
where
    F: std::future::Future<Output = Result<T, Error>>,
{
    if conn.is_closed() {
        return Err(not_sent());
    }
    prepare.await
}

/// The error for a statement that never left the client: safe to run elsewhere.
pub fn not_sent() -> Error {
    Error::Connection {
        message: "connection lost before the statement was sent".into(),
        code: NOT_SENT,
        server: None,
    }
}

/// The `code` of [`not_sent`].
pub const NOT_SENT: &str = "ENOTSENT";

/// Reads the whole result and encodes what `mode` asks for as one buffer.
pub async fn collect(started: Started, mode: Mode) -> Result<Vec<u8>, Error> {
    let Started {
        stream,
        encoder,
        command,
    } = started;
    pin_mut!(stream);
    let mut encoder = encoder;
    let mut seen: u64 = 0;
    while let Some(row) = stream.try_next().await.map_err(Error::from_query)? {
        let encoder = encoder.get_or_insert_with(|| ResultEncoder::new(row.columns()));
        seen += 1;
        let wanted = match mode {
            Mode::All => true,
            Mode::First | Mode::One => seen == 1,
            Mode::Execute => false,
        };
        if wanted {
            encoder.push(&row)?;
        } else if mode == Mode::First {
            // Dropping the stream lets the connection discard the remaining rows.
            let encoded = encoder.rows() as u64;
            return Ok(encoder.take_page(encoded, command, None));
        }
    }
    let total = stream.rows_affected().unwrap_or(seen);
    let encoder = encoder.unwrap_or_else(|| ResultEncoder::new(&[]));
    Ok(encoder.finish(total, command))
}

/// The first page is small so JavaScript starts decoding early; pages then grow so large
/// results cost few round trips across the boundary.
const FIRST_PAGE_BYTES: usize = 16 * 1024;
const MAX_PAGE_BYTES: usize = 64 * 1024;

/// Reads a result page by page, so JavaScript decodes one page while the server is still
/// sending the next.
pub struct Pager {
    stream: Pin<Box<RowStream>>,
    encoder: Option<ResultEncoder>,
    command: &'static str,
    seen: u64,
    limit: usize,
    cursor: u32,
}

impl Pager {
    /// A pager over a started statement; `cursor` names it to JavaScript.
    pub fn new(started: Started, cursor: u32) -> Pager {
        Pager {
            encoder: started.encoder,
            stream: Box::pin(started.stream),
            command: started.command,
            seen: 0,
            limit: FIRST_PAGE_BYTES,
            cursor,
        }
    }

    /// The next page, and whether it is the last (an error page is the last).
    pub async fn next(&mut self) -> (Vec<u8>, bool) {
        loop {
            match self.stream.as_mut().try_next().await {
                Ok(Some(row)) => {
                    self.seen += 1;
                    let encoder = self
                        .encoder
                        .get_or_insert_with(|| ResultEncoder::new(row.columns()));
                    if let Err(e) = encoder.push(&row) {
                        return (error_buffer(&e), true);
                    }
                    if encoder.size() >= self.limit {
                        self.limit = (self.limit * 2).min(MAX_PAGE_BYTES);
                        let page = encoder.take_page(self.seen, self.command, Some(self.cursor));
                        return (page, false);
                    }
                }
                Ok(None) => {
                    let total = self.stream.rows_affected().unwrap_or(self.seen);
                    let encoder = self.encoder.get_or_insert_with(|| ResultEncoder::new(&[]));
                    return (encoder.take_page(total, self.command, None), true);
                }
                Err(e) => return (error_buffer(&Error::from_query(e)), true),
            }
        }
    }

    /// Sends the remaining pages into `pages`. The channel's bound is the backpressure: at most
    /// its capacity of pages wait for JavaScript. Stops early when the receiver goes away.
    pub async fn pump(mut self, pages: mpsc::Sender<Vec<u8>>) {
        loop {
            let (page, last) = self.next().await;
            if pages.send(page).await.is_err() || last {
                return;
            }
        }
    }
}

/// The statement's command word, upper-cased, skipping leading comments and parentheses.
/// tokio-postgres keeps the server's command tag to itself, and the first keyword is what the
/// tag starts with for every statement users run through `query()`.
pub fn command_of(sql: &str) -> &'static str {
    let mut rest = sql.trim_start();
    loop {
        if let Some(r) = rest.strip_prefix("--") {
            rest = r.split_once('\n').map_or("", |(_, t)| t).trim_start();
        } else if let Some(r) = rest.strip_prefix("/*") {
            rest = r.split_once("*/").map_or("", |(_, t)| t).trim_start();
        } else if let Some(r) = rest.strip_prefix('(') {
            rest = r.trim_start();
        } else {
            break;
        }
    }
    let word: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_uppercase();
    const KNOWN: &[&str] = &[
        "SELECT",
        "INSERT",
        "UPDATE",
        "DELETE",
        "MERGE",
        "WITH",
        "VALUES",
        "TABLE",
        "CREATE",
        "DROP",
        "ALTER",
        "TRUNCATE",
        "COPY",
        "BEGIN",
        "COMMIT",
        "ROLLBACK",
        "SET",
        "SHOW",
        "DO",
        "CALL",
        "EXPLAIN",
        "GRANT",
        "REVOKE",
        "LOCK",
        "LISTEN",
        "NOTIFY",
        "VACUUM",
        "ANALYZE",
        "DECLARE",
        "FETCH",
        "CLOSE",
        "PREPARE",
        "EXECUTE",
        "SAVEPOINT",
        "RELEASE",
        "RESET",
        "COMMENT",
        "REFRESH",
        "REINDEX",
        "CLUSTER",
        "DISCARD",
        "START",
    ];
    KNOWN.iter().find(|k| **k == word).copied().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_words() {
        assert_eq!(command_of("  select 1"), "SELECT");
        assert_eq!(command_of("-- hi\n/* x */ insert into t"), "INSERT");
        assert_eq!(command_of("(select 1)"), "SELECT");
        assert_eq!(command_of("frobnicate"), "");
    }
}
