//! `COPY ... FROM STDIN` sessions: a task per copy owns the held connection and the COPY, and
//! takes JavaScript's data and end requests in the order they were sent.

use tokio::sync::{mpsc, oneshot};

use super::exclusive::{Hold, Outcome};
use super::Pool;
use crate::copy::input::CopyIn;
use crate::error::Error;
use crate::result::layout::{count_buffer, error_buffer, value_buffer};
use crate::sync::lock;

/// A request for a copy in progress.
pub enum CopyInput {
    /// A chunk: COPY data as is, or (`rows`) a batch of rows' values to encode.
    Data { rows: bool, data: Vec<u8> },
    /// The end: commit when `error` is `None`, abort with that reason otherwise.
    End { error: Option<String> },
}

/// A copy's inbox: each input with where its answer goes.
pub(super) type Inbox = mpsc::UnboundedSender<(CopyInput, oneshot::Sender<Vec<u8>>)>;

impl Pool {
    /// Starts a COPY FROM STDIN on a held connection and answers with the copy's id, which
    /// data and end requests name. `sql` is the statement, or for a rows copy (`rows`) the
    /// quoted table and column list separated by a NUL.
    pub(super) async fn start_copy_in(
        &self,
        sql: &str,
        conn: u32,
        rows: bool,
    ) -> Result<Vec<u8>, Error> {
        let id = self.new_cursor();
        let hold = Hold::take(self, conn, id, false).await?;
        let started = if rows {
            match sql.split_once('\0') {
                Some((table, columns)) => {
                    let prepare = self.inner.options.prepare;
                    CopyIn::start_rows(hold.conn(), table, columns, prepare).await
                }
                None => Err(Error::Internal("copyRows without a column list".into())),
            }
        } else {
            CopyIn::start(hold.conn(), sql).await
        };
        let copy = match started {
            Ok(copy) => copy,
            Err(e) => {
                hold.end(Outcome::Failed).await;
                return Err(e);
            }
        };
        if hold.is_callers() {
            // A COPY can fire triggers, which can change the session.
            hold.conn().note(None);
        }
        let (tx, rx) = mpsc::unbounded_channel();
        lock(&self.inner.copies).insert(id, tx);
        tokio::spawn(self.clone().run_copy(id, copy, hold, rx));
        Ok(value_buffer(id))
    }

    /// Queues `input` for copy `id`, in order; the answer arrives on the receiver.
    pub fn copy_send(&self, id: u32, input: CopyInput) -> oneshot::Receiver<Vec<u8>> {
        let (tx, rx) = oneshot::channel();
        let inbox = lock(&self.inner.copies).get(&id).cloned();
        let refused = match inbox {
            Some(inbox) => inbox.send((input, tx)).err().map(|e| e.0 .1),
            None => Some(tx),
        };
        if let Some(tx) = refused {
            let err = Error::Internal(format!("no copy {id} is in progress (it ended already)"));
            let _ = tx.send(error_buffer(&err));
        }
        rx
    }

    async fn run_copy(
        self,
        id: u32,
        mut copy: CopyIn,
        hold: Hold,
        mut inbox: mpsc::UnboundedReceiver<(CopyInput, oneshot::Sender<Vec<u8>>)>,
    ) {
        // The first failure answers every later request, so JavaScript sees one cause.
        let mut failed: Option<Vec<u8>> = None;
        let last = loop {
            let Some((input, answer)) = inbox.recv().await else {
                // JavaScript went away mid-copy: abort.
                break None;
            };
            match input {
                CopyInput::Data { rows, data } => {
                    let out = match &failed {
                        Some(err) => err.clone(),
                        None => match copy.write(data, rows).await {
                            Ok(()) => value_buffer(0),
                            Err(e) => {
                                let err = error_buffer(&e);
                                failed = Some(err.clone());
                                err
                            }
                        },
                    };
                    let _ = answer.send(out);
                }
                CopyInput::End { error } => {
                    let out = match (failed.take(), error) {
                        (Some(err), _) => err,
                        (None, Some(reason)) => error_buffer(&Error::Parameter(format!(
                            "the COPY was aborted: {reason}"
                        ))),
                        (None, None) => {
                            lock(&self.inner.copies).remove(&id);
                            let out = match copy.finish().await {
                                Ok(n) => count_buffer(0, n),
                                Err(e) => error_buffer(&e),
                            };
                            let outcome = if out[0] == 0 {
                                Outcome::Completed
                            } else {
                                Outcome::Failed
                            };
                            hold.end(outcome).await;
                            let _ = answer.send(out);
                            return;
                        }
                    };
                    break Some((answer, out));
                }
            }
        };
        lock(&self.inner.copies).remove(&id);
        // CopyFail: the server rolls the statement back.
        copy.abort("the COPY was aborted").await;
        hold.end(Outcome::Failed).await;
        if let Some((answer, out)) = last {
            let _ = answer.send(out);
        }
    }
}
