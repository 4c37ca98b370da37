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
    /// Every row, in pages of at most the request's batch size, on a connection held alone
    /// so that stopping early can cancel on the server; no size limits.
    Stream = 4,
    /// `COPY ... TO STDOUT`: the data in pages, held like `Stream`.
    CopyOut = 5,
    /// `COPY ... FROM STDIN`: starts a copy that data requests then feed.
    CopyIn = 6,
    /// Records-level copy into a table: like `CopyIn`, with rows encoded by the engine.
    CopyRows = 7,
}

impl Mode {
    /// The mode for a number from JavaScript.
    pub fn from_u32(n: u32) -> Result<Mode, Error> {
        Ok(match n {
            0 => Mode::All,
            1 => Mode::First,
            2 => Mode::One,
            3 => Mode::Execute,
            4 => Mode::Stream,
            5 => Mode::CopyOut,
            6 => Mode::CopyIn,
            7 => Mode::CopyRows,
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
pub async fn sent_in_turn<F, T>(send: F, turn: tokio::sync::MutexGuard<'_, ()>) -> Result<T, Error>
where
    F: std::future::Future<Output = Result<T, tokio_postgres::Error>>,
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

/// Runs a statement with no result in the connection's order (behind statements issued
/// before it, ahead of those issued after).
pub async fn execute_in_turn(conn: &Connection, sql: &str) -> Result<(), Error> {
    let turn = conn.turn().await;
    sent_in_turn(conn.client().batch_execute(sql), turn).await
}

/// Awaits a prepare, telling apart a connection that was already closed (nothing was written:
/// the first poll fails) from one lost while waiting.
pub async fn not_sent_if_closed<F, T>(conn: &Connection, prepare: F) -> Result<T, Error>
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
            // Paged or held modes never collect; encode nothing rather than everything.
            _ => false,
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

/// How much of a result the engine may read for one caller.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Rows of a buffered result before it fails (`maxRows`); 0: no limit.
    pub max_rows: u64,
    /// Encoded bytes of a buffered result before it fails (`maxBytes`); 0: no limit.
    pub max_bytes: u64,
    /// Most rows per page (`stream({ batchSize })`); 0: pages are cut by size only.
    pub batch_rows: u32,
}

/// Reads a result page by page, so JavaScript decodes one page while the server is still
/// sending the next.
pub struct Pager {
    stream: Pin<Box<RowStream>>,
    encoder: Option<ResultEncoder>,
    command: &'static str,
    seen: u64,
    /// Bytes of the pages already handed over.
    sent: u64,
    page_bytes: usize,
    limits: Limits,
    cursor: u32,
}

impl Pager {
    /// A pager over a started statement; `cursor` names it to JavaScript.
    pub fn new(started: Started, cursor: u32, limits: Limits) -> Pager {
        Pager {
            encoder: started.encoder,
            stream: Box::pin(started.stream),
            command: started.command,
            seen: 0,
            sent: 0,
            page_bytes: FIRST_PAGE_BYTES,
            limits,
            cursor,
        }
    }

    /// The limit the rows read so far break, if any. Checked as rows arrive, so an oversized
    /// result fails after reading at most one row past its limit, not after buffering it all.
    fn exceeded(&self, encoded: usize) -> Option<Error> {
        let l = &self.limits;
        if l.max_rows > 0 && self.seen > l.max_rows {
            return Some(Error::TooLarge {
                limit: "maxRows",
                max: l.max_rows,
            });
        }
        if l.max_bytes > 0 && self.sent + encoded as u64 > l.max_bytes {
            return Some(Error::TooLarge {
                limit: "maxBytes",
                max: l.max_bytes,
            });
        }
        None
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
                    let (size, rows) = (encoder.size(), encoder.rows());
                    if let Some(e) = self.exceeded(size) {
                        return (error_buffer(&e), true);
                    }
                    let batch = self.limits.batch_rows;
                    if size >= self.page_bytes || (batch > 0 && rows >= batch) {
                        self.page_bytes = (self.page_bytes * 2).min(MAX_PAGE_BYTES);
                        let encoder = self.encoder.as_mut().expect("encoder set above");
                        let page = encoder.take_page(self.seen, self.command, Some(self.cursor));
                        self.sent += page.len() as u64;
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
    /// Returns itself when the statement may still be running (the rest of it was not read).
    pub async fn pump(mut self, pages: mpsc::Sender<Vec<u8>>) -> Option<Pager> {
        loop {
            let (page, last) = self.next().await;
            let unfinished = is_too_large(&page);
            if pages.send(page).await.is_err() || (last && unfinished) {
                return Some(self);
            }
            if last {
                return None;
            }
        }
    }

    /// After a cancel was sent: reads what is left (see [`drain_cancelled`]).
    pub async fn drain_cancelled(self) -> bool {
        drain_cancelled(self.stream).await
    }
}

/// After a cancel request was sent for a statement: reads and drops the rest of its result.
/// True when it ended with the cancel error (57014): the cancel was used up. Otherwise the
/// statement ended first, and the cancel may still arrive and hit the next statement on the
/// connection, which must then not be used again. Gives up (false) after 10 seconds.
pub async fn drain_cancelled<S, T>(stream: S) -> bool
where
    S: futures_util::Stream<Item = Result<T, tokio_postgres::Error>>,
{
    let drain = async {
        pin_mut!(stream);
        loop {
            match stream.try_next().await {
                Ok(Some(_)) => {}
                Ok(None) => return false,
                Err(e) => {
                    return e.code() == Some(&tokio_postgres::error::SqlState::QUERY_CANCELED)
                }
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), drain)
        .await
        .unwrap_or(false)
}

/// Whether a page is the `maxRows`/`maxBytes` error, after which the statement is abandoned
/// while it still runs.
pub fn is_too_large(page: &[u8]) -> bool {
    page.len() > 1
        && page[0] == crate::result::layout::STATUS_ERROR
        && page[1] == crate::error::ErrorKind::TooLarge as u8
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
