//! One statement on a connection: prepare (cached), encode parameters for the statement's
//! types, execute, and read the answer to its end, where the server's command tag and
//! transaction status decide what the caller is told ([`Caller`]). Reading the rows into
//! result pages is [`pages`].

pub mod mode;
pub mod pages;

use std::collections::VecDeque;
use std::sync::Arc;

use postgres_protocol::message::backend::DataRowBody;

pub use mode::{Mode, QueryMode};
pub use pages::{collect, is_too_large, Limits, Pager};

use crate::connection::Connection;
use crate::error::Error;
use crate::params::{self, Value};
use crate::result::{ResultEncoder, ResultFormat};
use crate::wire::{self, Param, Rows};

/// Parameters a statement can have: the protocol counts them in 16 bits.
const MAX_PARAMETERS: usize = 65535;

/// How a statement is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    /// Through the statement cache (named statements); otherwise the unnamed one.
    pub prepare: bool,
    /// How results are asked for and encoded (binary, text, or node-postgres' shapes).
    pub format: ResultFormat,
    /// A pool query that JavaScript runs on a connection it reserved for it alone (to be
    /// able to cancel it): refused and checked as on the shared path, and it leaves no mark
    /// on the session, so giving the connection back needs no reset.
    pub autocommit: bool,
    /// Strings go to the server as the text they are, for whatever type it inferred, and the
    /// server alone judges them (node-postgres' way, which `mode::PG_VALUES` requests imply): its
    /// error, not the engine's, names a bad value.
    pub verbatim: bool,
    /// The key a cancel of its call names (0: it cannot be cancelled; see `wire::cancel`).
    pub cancel_key: u32,
}

/// Who runs the statement, which decides what its end must look like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caller {
    /// An autocommit query on a shared, pipelined connection: it succeeds only if the server
    /// says the connection is idle after it, and nothing before it left a transaction open.
    Shared,
    /// Work the engine runs on a connection it holds for it (a pool's `stream()`): autocommit
    /// too, so it must end idle; like the shared path, it does not mark the session.
    Engine,
    /// The holder of a reserved connection (by hand or a transaction): any status is fine,
    /// the tags mark the session.
    Holder,
}

/// A statement whose execution has begun: its messages are sent and the first part of the
/// answer has been read. Owns everything it needs, so it can move into a task of its own.
pub struct Started {
    rows: Rows,
    conn: Arc<Connection>,
    encoder: Option<ResultEncoder>,
    caller: Caller,
    /// How results come (see [`Run::format`]).
    format: ResultFormat,
    /// Rows read before they could be encoded: the first one, or all of an unnamed
    /// statement's whose column types this connection had not looked up yet.
    early: VecDeque<DataRowBody>,
    /// The answer has been read to its end (the result is in `end`).
    ended: Option<Result<(), Error>>,
}

/// Prepares (through the cache), encodes the parameters for the statement's types, sends the
/// statement, and reads its answer up to the first row. A statement refused at Bind because
/// its cached plan went stale or its server statement is gone is prepared again and retried
/// once, when that is safe (the connection is not inside a failed transaction).
pub async fn start(
    conn: &Arc<Connection>,
    sql: &str,
    values: &[Value<'_>],
    run: Run,
    caller: Caller,
) -> Result<Started, Error> {
    let first = send(conn, sql, values, run, caller).await?.prime().await;
    match first {
        Err(Error::Server(e))
            if run.prepare
                && conn.state().status != wire::TxStatus::Failed
                && (e.code() == "26000"
                    || (e.code() == "0A000" && e.message().contains("cached plan"))) =>
        {
            conn.forget(sql);
            send(conn, sql, values, run, caller).await?.prime().await
        }
        other => other,
    }
}

async fn send(
    conn: &Arc<Connection>,
    sql: &str,
    values: &[Value<'_>],
    run: Run,
    caller: Caller,
) -> Result<Started, Error> {
    if values.len() > MAX_PARAMETERS {
        return Err(Error::Parameter(format!(
            "{} parameters: the PostgreSQL protocol allows at most 65,535 per statement",
            values.len()
        )));
    }
    let turn = conn.turn().await;
    if conn.state().closing {
        return Err(not_sent());
    }
    // node-postgres' values (`verbatim`) need no parameter types, so a text's first run on a
    // connection goes as pg sends it: the unnamed statement, in one round trip, results in
    // text (the columns are not known before Bind); it is prepared from its second run on.
    let once = run.prepare && run.verbatim && conn.first_use(sql);
    let mut format = run.format;
    let (rows, encoder) = if run.prepare && !once {
        let (prepared, kept) = match conn.prepare(sql).await {
            Ok(p) => p,
            Err(e) => {
                if caller != Caller::Shared {
                    conn.note(None);
                }
                return Err(e);
            }
        };
        let encoded = if run.verbatim {
            params::encode_verbatim(values, &prepared.description.params)?
        } else {
            params::encode_all(values, &prepared.description.params)?
        };
        let params: Vec<Param> = encoded.iter().map(|e| e.parts()).collect();
        // The columns are known before Bind, so Bind asks for each in the format it needs.
        let encoder = ResultEncoder::new(&prepared.description.columns, run.format, true);
        let rows = conn.client().execute(
            &prepared.name,
            &params,
            encoder.result_formats(),
            run.cancel_key,
        )?;
        if !kept {
            // Nothing keeps it: close it behind its one use.
            conn.client().close_statement(&prepared.name);
        }
        (rows, Some(encoder))
    } else {
        // PgBouncer in transaction mode (or a first run, above): one round trip with the
        // unnamed statement; the server infers the parameter types, so values go as text.
        let encoded = if run.verbatim {
            params::encode_verbatim(values, &[])?
        } else {
            params::encode_untyped(values)?
        };
        let params: Vec<Param> = encoded.iter().map(|e| e.parts()).collect();
        if once {
            format = ResultFormat::Text;
        }
        let codes = format.unnamed_codes();
        (
            conn.client()
                .execute_unnamed(sql, &params, codes, run.cancel_key)?,
            None,
        )
    };
    drop(turn);
    Ok(Started {
        rows,
        conn: conn.clone(),
        encoder,
        caller,
        format,
        early: VecDeque::new(),
        ended: None,
    })
}

impl Started {
    /// Reads up to the first row (or the end), so errors at Bind surface from [`start`].
    async fn prime(mut self) -> Result<Started, Error> {
        if self.encoder.is_none() {
            Box::pin(self.describe()).await?;
        }
        match self.rows.next().await {
            Ok(Some(row)) => self.early.push_back(row),
            Ok(None) => self.ended = Some(Ok(())),
            Err(e) => return Err(self.fail(e)),
        }
        Ok(self)
    }

    /// The columns of an unnamed statement, from the answer. Types this connection has not
    /// looked up can only be looked up after this answer (the lookup queues behind it), so
    /// the rows are read ahead first; that happens once per type per connection.
    async fn describe(&mut self) -> Result<(), Error> {
        let raw = match self.rows.columns().await {
            Ok(raw) => raw,
            Err(e) => return Err(self.fail(e)),
        };
        let Some(raw) = raw else {
            self.encoder = Some(ResultEncoder::empty());
            return Ok(());
        };
        if self.format == ResultFormat::Text {
            // The server's text needs no type looked up: its parsers are JavaScript's.
            self.encoder = Some(ResultEncoder::new(
                &raw.without_lookup(),
                self.format,
                false,
            ));
            return Ok(());
        }
        if raw
            .oids()
            .iter()
            .any(|o| self.conn.types().known(*o).is_none())
        {
            loop {
                match self.rows.next().await {
                    Ok(Some(row)) => self.early.push_back(row),
                    Ok(None) => break,
                    Err(e) => return Err(self.fail(e)),
                }
            }
            self.ended = Some(Ok(()));
        }
        let columns = raw.resolve(self.conn.client(), self.conn.types()).await?;
        // Every column came in the one format of `unnamed_codes`.
        self.encoder = Some(ResultEncoder::new(&columns, self.format, false));
        Ok(())
    }

    /// The next row; `Ok(None)` at the end, once the end passed the caller's checks.
    pub async fn next_row(&mut self) -> Result<Option<DataRowBody>, Error> {
        if let Some(row) = self.early.pop_front() {
            return Ok(Some(row));
        }
        let outcome = match self.ended.take() {
            Some(done) => done.map(|_| None),
            None => self.rows.next().await,
        };
        match outcome {
            Ok(Some(row)) => Ok(Some(row)),
            Ok(None) => {
                self.ended = Some(Ok(()));
                self.end_checks()?;
                Ok(None)
            }
            Err(e) => Err(self.fail(e)),
        }
    }

    /// The statement ended with `e`: what the caller sees, after the end's checks (which
    /// may find worse than `e`).
    fn fail(&mut self, e: Error) -> Error {
        self.ended = Some(Err(e.clone()));
        match self.end_checks() {
            Ok(()) => e,
            Err(worse) => worse,
        }
    }

    /// The encoder for this statement's columns.
    pub fn encoder(&mut self) -> &mut ResultEncoder {
        self.encoder.get_or_insert_with(ResultEncoder::empty)
    }

    /// Moves the encoder out (for pagers that own it).
    pub fn take_encoder(&mut self) -> ResultEncoder {
        self.encoder.take().unwrap_or_else(ResultEncoder::empty)
    }

    /// The server's command tag, once the statement ended.
    pub fn tag(&self) -> &str {
        self.rows.tag().unwrap_or("")
    }

    /// Rows the statement returned or affected, from its tag (or `seen`, for tags that do
    /// not count).
    pub fn row_count(&self, seen: u64) -> u64 {
        self.rows.tag().and_then(wire::rows_of_tag).unwrap_or(seen)
    }

    /// The connection it runs on.
    pub fn conn(&self) -> &Arc<Connection> {
        &self.conn
    }

    /// Whether the server's whole answer has arrived (read or not).
    pub fn answer_complete(&self) -> bool {
        self.rows.is_complete()
    }

    /// What the end of the answer means for the caller; see [`Caller`].
    fn end_checks(&self) -> Result<(), Error> {
        let failed = matches!(self.ended, Some(Err(_)));
        if self.caller == Caller::Holder {
            self.conn.note(if failed { None } else { self.rows.tag() });
        }
        let status = self.rows.status().unwrap_or(wire::TxStatus::Idle);
        let poison = self.rows.poisoned();
        let leaked = match self.caller {
            Caller::Shared => poison != wire::Poison::Clean,
            Caller::Engine => !status.is_idle(),
            Caller::Holder => false,
        };
        if !leaked {
            return Ok(());
        }
        // The connection is closed without COMMIT once what is pipelined on it has come
        // back, so the server rolls back everything done since the transaction began.
        self.conn.spoil();
        Err(left_in_transaction(
            poison == wire::Poison::ByEarlier,
            status,
        ))
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        if self.ended.is_none() && self.caller == Caller::Holder {
            // Stopped before its end (too large, abandoned): whatever it did counts.
            self.conn.note(None);
        }
    }
}

fn left_in_transaction(by_earlier: bool, status: wire::TxStatus) -> Error {
    let state = match status {
        wire::TxStatus::Failed => "a failed transaction",
        _ => "a transaction",
    };
    Error::RolledBack(if by_earlier {
        "a statement pipelined before this one left the shared connection inside a transaction, \
         so this one ran inside it; it was rolled back and the connection closed. Use \
         pool.transaction() or pool.reserve() for statements that open transactions"
            .to_string()
    } else {
        format!(
            "the statement left the shared connection inside {state} (server status {:?}), which \
             would have captured other callers' queries: everything it did was rolled back and \
             the connection closed. Use pool.transaction() or pool.reserve() for statements that \
             open transactions",
            status.byte() as char
        )
    })
}

/// Runs an engine statement (SAVEPOINT, RELEASE...) with the simple protocol, in the
/// connection's order (behind statements issued before it, ahead of those issued after).
pub async fn execute_in_turn(conn: &Connection, sql: &str) -> Result<wire::Script, Error> {
    let turn = conn.turn().await;
    let answer = conn.client().send_script(sql)?;
    drop(turn);
    answer.read().await.map_err(|(e, _)| e)
}

/// The error for a statement that never left the client: safe to run elsewhere.
pub fn not_sent() -> Error {
    Error::Connection {
        message: "connection lost before the statement was sent".into(),
        code: wire::NOT_SENT,
        server: None,
    }
}
