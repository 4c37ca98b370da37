//! The simple query protocol (one `Query` message, any number of statements), for the
//! engine's own statements (transaction control, session resets, catalog lookups) and the
//! caller's scripts, whose rows are dropped or handed to a [`ScriptSink`].

use bytes::BytesMut;
use postgres_protocol::message::backend::{DataRowBody, Message};
use postgres_protocol::message::frontend;

use super::conn::Client;
use super::pipe::Responses;
use super::prepare::RawColumns;
use crate::error::Error;
use crate::server_error::ServerError;

/// What a script did: each statement's command tag, the text rows of all its statements, and
/// the transaction status after it.
#[derive(Debug, Default)]
pub struct Script {
    /// Command tags, one per statement that completed (`SET`, `SELECT 1`, `ROLLBACK`...).
    pub tags: Vec<String>,
    /// Every row of every statement, as text (`None` is NULL).
    pub rows: Vec<Vec<Option<String>>>,
    /// The ReadyForQuery status after the script.
    pub status: u8,
}

/// A script that has been sent; [`ScriptAnswer::read`] collects its answer.
pub struct ScriptAnswer(Responses, Rows);

/// Takes a script's statements as their messages arrive, for a caller that keeps the rows
/// in its own form (`pool/script.rs` makes result pages of them).
pub trait ScriptSink {
    /// A statement's RowDescription; its rows follow.
    fn columns(&mut self, columns: RawColumns) -> Result<(), Error>;
    /// A row of the statement described last.
    fn row(&mut self, row: &DataRowBody) -> Result<(), Error>;
    /// A statement completed with `tag` (a statement that failed never does).
    fn complete(&mut self, tag: &str) -> Result<(), Error>;
}

/// Where a script's statements go as they arrive.
type Sink<'a> = Option<&'a mut (dyn ScriptSink + Send)>;

/// Whether a script's rows are kept.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Rows {
    Keep,
    Skip,
}

impl Client {
    /// Sends `sql` with the simple protocol (now, so it keeps its place in the connection's
    /// order); the answer is read with [`ScriptAnswer::read`].
    pub fn send_script(&self, sql: &str) -> Result<ScriptAnswer, Error> {
        let answer = self.send(query_message(sql)?);
        Ok(ScriptAnswer(answer.map_err(super::lost_error)?, Rows::Keep))
    }

    /// [`Client::send_script`] for a session reset (see [`Client::send_reset`]).
    pub fn send_reset_script(&self, sql: &str) -> Result<ScriptAnswer, Error> {
        let answer = self.send_reset(query_message(sql)?);
        Ok(ScriptAnswer(answer.map_err(super::lost_error)?, Rows::Keep))
    }

    /// [`Client::send_script`] for a caller's script: the rows its statements return are
    /// read and dropped, so a `SELECT` in a migration cannot fill memory.
    pub fn send_script_unread(&self, sql: &str) -> Result<ScriptAnswer, Error> {
        let mut answer = self.send_script(sql)?;
        answer.1 = Rows::Skip;
        Ok(answer)
    }

    /// Runs `sql` with the simple protocol and collects what it returned.
    pub async fn batch(&self, sql: &str) -> Result<Script, Error> {
        self.send_script(sql)?.read().await.map_err(|(e, _)| e)
    }
}

/// A simple Query message for `sql`.
fn query_message(sql: &str) -> Result<BytesMut, Error> {
    let mut buf = BytesMut::new();
    frontend::query(sql, &mut buf).map_err(super::prepare::encode_error)?;
    Ok(buf)
}

impl ScriptAnswer {
    /// Collects the answer. A failing statement ends the script (the server skips the rest):
    /// its error comes with what the script did up to it (the tags of the statements that
    /// completed, the status the server reported afterwards).
    pub async fn read(self) -> Result<Script, (Error, Script)> {
        read_script(self.0, self.1, None).await
    }

    /// [`ScriptAnswer::read`], handing each statement's columns, rows and tag to `sink` as
    /// they arrive. If the sink fails, it gets nothing more and its error is the script's
    /// (the answer is still read to its end, so the connection stays in step).
    pub async fn read_into(
        self,
        sink: &mut (dyn ScriptSink + Send),
    ) -> Result<Script, (Error, Script)> {
        read_script(self.0, self.1, Some(sink)).await
    }
}

async fn read_script(
    mut responses: Responses,
    rows: Rows,
    mut sink: Sink<'_>,
) -> Result<Script, (Error, Script)> {
    let mut script = Script::default();
    let mut failed: Option<Error> = None;
    loop {
        let message = match responses.next().await {
            Ok(Some(m)) => m,
            Ok(None) => break,
            Err(lost) => return Err((super::lost_error(lost), script)),
        };
        match message {
            Message::RowDescription(body) => {
                if let Some(s) = sink.as_deref_mut() {
                    let r = RawColumns::parse(&body).and_then(|c| s.columns(c));
                    feed(&mut sink, &mut failed, r);
                }
            }
            Message::DataRow(body) if sink.is_some() => {
                let r = sink.as_deref_mut().map_or(Ok(()), |s| s.row(&body));
                feed(&mut sink, &mut failed, r);
            }
            Message::DataRow(_) if rows == Rows::Skip => {}
            Message::DataRow(body) => {
                let buf = body.buffer();
                let mut row = Vec::new();
                let mut ranges = body.ranges();
                use fallible_iterator::FallibleIterator;
                while let Ok(Some(range)) = ranges.next() {
                    row.push(range.map(|r| String::from_utf8_lossy(&buf[r]).into_owned()));
                }
                script.rows.push(row);
            }
            Message::CommandComplete(body) => {
                let tag = body.tag().unwrap_or_default();
                if let Some(s) = sink.as_deref_mut() {
                    let r = s.complete(tag);
                    feed(&mut sink, &mut failed, r);
                }
                script.tags.push(tag.to_string());
            }
            Message::ErrorResponse(body) => {
                let e = ServerError::parse(body.fields()).unwrap_or_default();
                failed.get_or_insert(super::server_failure(e));
            }
            Message::ReadyForQuery(body) => {
                script.status = body.status();
            }
            Message::CopyInResponse(_) => {
                // The connection's task fails a COPY FROM STDIN nobody feeds; its error
                // follows.
            }
            _ => {}
        }
    }
    match failed {
        Some(e) => Err((e, script)),
        None => Ok(script),
    }
}

/// What a sink said about a message: after an error it gets nothing more, and the first
/// error is the script's.
fn feed(sink: &mut Sink<'_>, failed: &mut Option<Error>, said: Result<(), Error>) {
    if let Err(e) = said {
        *sink = None;
        failed.get_or_insert(e);
    }
}
