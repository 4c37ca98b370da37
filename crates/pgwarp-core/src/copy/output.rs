//! `COPY ... TO STDOUT`: the server's data, in pages JavaScript reads as Buffers.
//!
//! A page: `u8 status (0), u8 flags (bit 1: more pages follow), u16 0, u32 cursor` (on the
//! last page: the rows the server says it copied, saturated at u32), then the data. Pages end
//! on the server's message boundaries (a row each in text and CSV formats).

use crate::connection::{Connection, Drained};
use crate::error::Error;
use crate::query::not_sent;
use crate::result::layout::{error_buffer, FLAG_MORE, STATUS_OK};
use crate::wire;

/// Bytes of data per page: large enough that few pages cross the boundary, small enough that
/// the two pages waiting for JavaScript stay small.
const PAGE_BYTES: usize = 64 * 1024;
const HEADER: usize = 8;

/// Starts a `COPY ... TO STDOUT` statement.
pub async fn start(conn: &Connection, sql: &str) -> Result<wire::CopyOut, Error> {
    let _turn = conn.turn().await;
    if conn.state().closing {
        return Err(not_sent());
    }
    conn.client().copy_out(sql).await
}

/// Reads a COPY's data page by page.
pub struct CopyPager {
    copy: wire::CopyOut,
    cursor: u32,
}

impl CopyPager {
    /// A pager over a started COPY; `cursor` names it to JavaScript.
    pub fn new(copy: wire::CopyOut, cursor: u32) -> CopyPager {
        CopyPager { copy, cursor }
    }

    /// Stops the COPY (see [`Connection::stop_statement`]); whether the connection is clean.
    pub async fn stop(mut self, conn: &Connection) -> bool {
        let complete = self.copy.is_complete();
        conn.stop_statement(complete, async move {
            loop {
                match self.copy.next().await {
                    Ok(Some(_)) => {}
                    other => return Drained::of(other),
                }
            }
        })
        .await
    }

    /// The next page, and whether it is the last (an error page is the last).
    pub async fn next(&mut self) -> (Vec<u8>, bool) {
        let mut page = Vec::with_capacity(HEADER + PAGE_BYTES);
        page.extend_from_slice(&[STATUS_OK, 0, 0, 0]);
        page.extend_from_slice(&self.cursor.to_le_bytes());
        loop {
            match self.copy.next().await {
                Ok(Some(data)) => {
                    page.extend_from_slice(&data);
                    if page.len() >= HEADER + PAGE_BYTES {
                        page[1] = FLAG_MORE;
                        return (page, false);
                    }
                }
                Ok(None) => {
                    let rows = self.copy.rows().min(u32::MAX as u64) as u32;
                    page[4..8].copy_from_slice(&rows.to_le_bytes());
                    return (page, true);
                }
                Err(e) => return (error_buffer(&e), true),
            }
        }
    }
}
