//! Reading a started statement's rows into result buffers: all at once for small modes
//! ([`collect`]), or page by page so JavaScript decodes one page while the server still sends
//! the next ([`Pager`]), within the caller's size limits.

use tokio::sync::mpsc;

use super::{Mode, Started};
use crate::connection::Drained;
use crate::error::Error;
use crate::result::layout::{self, error_buffer};
use crate::result::ResultEncoder;

/// Reads the whole result and encodes what `mode` asks for as one buffer. Every row is read,
/// even those not encoded, because the statement's outcome is only known at its end.
pub async fn collect(mut started: Started, mode: Mode) -> Result<Vec<u8>, Error> {
    let mut seen: u64 = 0;
    while let Some(row) = started.next_row().await? {
        seen += 1;
        let wanted = match mode {
            Mode::All => true,
            Mode::First | Mode::One => seen == 1,
            // Paged or held modes never collect; encode nothing rather than everything.
            _ => false,
        };
        if wanted {
            started.encoder().push(&row)?;
        }
    }
    let total = started.row_count(seen);
    let tag = started.tag().to_string();
    Ok(started.take_encoder().finish(total, &tag))
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

/// Reads a result page by page.
pub struct Pager {
    started: Started,
    encoder: ResultEncoder,
    seen: u64,
    /// Bytes of the pages already handed over.
    sent: u64,
    page_bytes: usize,
    limits: Limits,
    cursor: u32,
}

impl Pager {
    /// A pager over a started statement; `cursor` names it to JavaScript.
    pub fn new(mut started: Started, cursor: u32, limits: Limits) -> Pager {
        Pager {
            encoder: started.take_encoder(),
            started,
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

    /// The next page, and whether it is the last (an error page is the last). The last one
    /// carries the transaction status the connection is left in.
    pub async fn next(&mut self) -> (Vec<u8>, bool) {
        let (mut page, last) = self.read_page().await;
        if last {
            layout::stamp_status(&mut page, self.started.conn().state().status);
        }
        (page, last)
    }

    async fn read_page(&mut self) -> (Vec<u8>, bool) {
        loop {
            match self.started.next_row().await {
                Ok(Some(row)) => {
                    self.seen += 1;
                    if let Err(e) = self.encoder.push(&row) {
                        return (error_buffer(&e), true);
                    }
                    let (size, rows) = (self.encoder.size(), self.encoder.rows());
                    if let Some(e) = self.exceeded(size) {
                        return (error_buffer(&e), true);
                    }
                    let batch = self.limits.batch_rows;
                    if size >= self.page_bytes || (batch > 0 && rows >= batch) {
                        self.page_bytes = (self.page_bytes * 2).min(MAX_PAGE_BYTES);
                        let page = self.encoder.take_page(self.seen, "", Some(self.cursor));
                        self.sent += page.len() as u64;
                        return (page, false);
                    }
                }
                Ok(None) => {
                    let total = self.started.row_count(self.seen);
                    let page = self.encoder.take_page(total, self.started.tag(), None);
                    return (page, true);
                }
                Err(e) => return (error_buffer(&e), true),
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

    /// Stops the statement (see [`crate::connection::Connection::stop_statement`]); whether its connection is
    /// clean afterwards.
    pub async fn stop(self) -> bool {
        let mut started = self.started;
        let conn = started.conn().clone();
        let complete = started.answer_complete();
        conn.stop_statement(complete, async move {
            loop {
                match started.next_row().await {
                    Ok(Some(_)) => {}
                    other => return Drained::of(other),
                }
            }
        })
        .await
    }
}

/// Whether a page is the `maxRows`/`maxBytes` error, after which the statement is abandoned
/// while it still runs.
pub fn is_too_large(page: &[u8]) -> bool {
    page.len() > 1
        && page[0] == crate::result::layout::STATUS_ERROR
        && page[1] == crate::error::ErrorKind::TooLarge as u8
}
