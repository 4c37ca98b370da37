//! `COPY ... TO STDOUT`: the server's data, in pages JavaScript reads as Buffers.
//!
//! A page: `u8 status (0), u8 flags (bit 1: more pages follow), u16 0, u32 cursor`, then the
//! data. Pages end on the server's message boundaries (a row each in text and CSV formats).

use std::pin::Pin;

use futures_util::TryStreamExt;
use tokio_postgres::CopyOutStream;

use crate::connection::Connection;
use crate::error::Error;
use crate::query::{drain_cancelled, not_sent_if_closed, sent_in_turn};
use crate::result::layout::{error_buffer, FLAG_MORE, STATUS_OK};

/// Bytes of data per page: large enough that few pages cross the boundary, small enough that
/// the two pages waiting for JavaScript stay small.
const PAGE_BYTES: usize = 64 * 1024;
const HEADER: usize = 8;

/// Starts a `COPY ... TO STDOUT` statement.
pub async fn start(conn: &Connection, sql: &str) -> Result<CopyOutStream, Error> {
    let turn = conn.turn().await;
    let statement = not_sent_if_closed(conn, conn.prepare(sql)).await?;
    sent_in_turn(conn.client().copy_out(&statement), turn).await
}

/// Reads a COPY's data page by page.
pub struct CopyPager {
    stream: Pin<Box<CopyOutStream>>,
    cursor: u32,
}

impl CopyPager {
    /// A pager over a started COPY; `cursor` names it to JavaScript.
    pub fn new(stream: CopyOutStream, cursor: u32) -> CopyPager {
        CopyPager {
            stream: Box::pin(stream),
            cursor,
        }
    }

    /// After a cancel was sent: reads what is left (see [`drain_cancelled`]).
    pub async fn drain_cancelled(self) -> bool {
        drain_cancelled(self.stream).await
    }

    /// The next page, and whether it is the last (an error page is the last).
    pub async fn next(&mut self) -> (Vec<u8>, bool) {
        let mut page = Vec::with_capacity(HEADER + PAGE_BYTES);
        page.extend_from_slice(&[STATUS_OK, 0, 0, 0]);
        page.extend_from_slice(&self.cursor.to_le_bytes());
        loop {
            match self.stream.as_mut().try_next().await {
                Ok(Some(data)) => {
                    page.extend_from_slice(&data);
                    if page.len() >= HEADER + PAGE_BYTES {
                        page[1] = FLAG_MORE;
                        return (page, false);
                    }
                }
                Ok(None) => return (page, true),
                Err(e) => return (error_buffer(&Error::from_query(e)), true),
            }
        }
    }
}
