//! `exec()`: a text of many statements, run with the simple query protocol on a reserved
//! connection (JavaScript reserves one for `pool.exec`). The server runs such a text as one
//! implicit transaction unless it controls transactions itself, and stops at the first
//! error; the answer lists what each statement did up to there.
//!
//! `EXEC` answer: `u8 0, u32 statements completed`, per statement `f64 row count, u32 length,
//! tag`, then `u8 failed`, and when it is 1 the failure as an error buffer (status byte 1,
//! then the error); last, `u8` the transaction status the script left the connection in
//! (`I`, `T`, `E`; so a failure is an error buffer stamped with it, see
//! `layout::stamp_status`). The rows are read and dropped.
//!
//! `EXEC_ROWS` (node-postgres' simple-protocol queries keep their rows) answers the same,
//! with each statement's rows after its tag: `f64 row count, u32 length, tag, u32 page
//! length, page`. The page is a whole result buffer (`result/layout.rs`) with the columns
//! of the statement's RowDescription, every one a string as the server wrote it (the simple
//! protocol always answers in text); its length is 0 for a statement that returns no rows
//! (no RowDescription: INSERT without RETURNING, CREATE...). A statement that failed is not
//! completed and has no page, even if some of its rows arrived.

use super::Pool;
use crate::error::Error;
use crate::result::layout::error_buffer;
use crate::result::{ResultEncoder, ResultFormat};
use crate::wire::{rows_of_tag, RawColumns, ScriptSink};
use postgres_protocol::message::backend::DataRowBody;

impl Pool {
    /// Runs script `sql` on reserved connection `conn`; with `rows`, the answer carries each
    /// statement's rows (`EXEC_ROWS`), otherwise they are dropped (`EXEC`).
    pub async fn exec(&self, conn: u32, sql: &str, rows: bool) -> Result<Vec<u8>, Error> {
        let lease = self.lease_reserved(conn)?;
        lease.conn.check_not_held()?;
        let answer = {
            let _turn = lease.conn.turn().await;
            lease.conn.client().send_script_unread(sql)?
        };
        let mut pages = Pages::default();
        let read = if rows {
            answer.read_into(&mut pages).await
        } else {
            answer.read().await
        };
        let (tags, failure) = match read {
            Ok(script) => (script.tags, None),
            Err((e, script)) => (script.tags, Some(e)),
        };
        // Every statement the server completed counts, whether or not its rows could be kept.
        for tag in &tags {
            lease.conn.note(Some(tag));
        }
        if failure.is_some() {
            lease.conn.note(None);
        }
        let status = lease.conn.state().status.byte();
        Ok(if rows {
            let done = pages
                .done
                .iter()
                .map(|(t, p)| (t.as_str(), Some(p.as_slice())));
            encode(done, failure.as_ref(), status)
        } else {
            encode(
                tags.iter().map(|t| (t.as_str(), None)),
                failure.as_ref(),
                status,
            )
        })
    }
}

/// Result pages of a script's statements, made as their messages arrive.
#[derive(Default)]
struct Pages {
    /// The statement being read (after its RowDescription), and its rows so far.
    current: Option<(ResultEncoder, u64)>,
    /// The completed statements: tag and page (empty without a RowDescription).
    done: Vec<(String, Vec<u8>)>,
}

impl ScriptSink for Pages {
    fn columns(&mut self, columns: RawColumns) -> Result<(), Error> {
        // The columns came in text, so their types are not looked up: only their OIDs and
        // names reach the page.
        let encoder = ResultEncoder::new(&columns.without_lookup(), ResultFormat::Text, true);
        self.current = Some((encoder, 0));
        Ok(())
    }

    fn row(&mut self, row: &DataRowBody) -> Result<(), Error> {
        let Some((encoder, seen)) = &mut self.current else {
            return Err(Error::Internal(
                "the server sent a row before describing its columns".into(),
            ));
        };
        *seen += 1;
        encoder.push(row)
    }

    fn complete(&mut self, tag: &str) -> Result<(), Error> {
        let page = match self.current.take() {
            Some((encoder, seen)) => encoder.finish(rows_of_tag(tag).unwrap_or(seen), tag),
            None => Vec::new(),
        };
        self.done.push((tag.to_string(), page));
        Ok(())
    }
}

/// The answer (see the module): per completed statement its tag, and with `EXEC_ROWS` its
/// page (`Some`, empty for none).
fn encode<'a>(
    statements: impl ExactSizeIterator<Item = (&'a str, Option<&'a [u8]>)>,
    failure: Option<&Error>,
    status: u8,
) -> Vec<u8> {
    let mut out = vec![0];
    out.extend_from_slice(&(statements.len() as u32).to_le_bytes());
    for (tag, page) in statements {
        let rows = rows_of_tag(tag).unwrap_or(0);
        out.extend_from_slice(&(rows as f64).to_le_bytes());
        out.extend_from_slice(&(tag.len() as u32).to_le_bytes());
        out.extend_from_slice(tag.as_bytes());
        if let Some(page) = page {
            out.extend_from_slice(&(page.len() as u32).to_le_bytes());
            out.extend_from_slice(page);
        }
    }
    match failure {
        Some(e) => {
            out.push(1);
            out.extend_from_slice(&error_buffer(e));
        }
        None => out.push(0),
    }
    out.push(status);
    out
}

#[cfg(test)]
mod tests {
    use bytes::{BufMut, BytesMut};
    use postgres_protocol::message::backend::Message;

    use super::*;
    use crate::bytes::Reader;

    /// A server message of type `tag` with `body`, parsed as the connection's task parses it.
    fn message(tag: u8, body: &[u8]) -> Message {
        let mut buf = BytesMut::new();
        buf.put_u8(tag);
        buf.put_i32(body.len() as i32 + 4);
        buf.put_slice(body);
        Message::parse(&mut buf).unwrap().unwrap()
    }

    /// RowDescription of `(name, type oid, type size)` columns of table 77.
    fn columns(cols: &[(&str, u32, i16)]) -> RawColumns {
        let mut body = BytesMut::new();
        body.put_u16(cols.len() as u16);
        for (i, (name, oid, size)) in cols.iter().enumerate() {
            body.put_slice(name.as_bytes());
            body.put_u8(0);
            body.put_u32(77);
            body.put_i16(i as i16 + 1);
            body.put_u32(*oid);
            body.put_i16(*size);
            body.put_i32(-1);
            body.put_i16(0);
        }
        match message(b'T', &body) {
            Message::RowDescription(body) => RawColumns::parse(&body).unwrap(),
            _ => unreachable!(),
        }
    }

    fn row(cells: &[Option<&str>]) -> DataRowBody {
        let mut body = BytesMut::new();
        body.put_u16(cells.len() as u16);
        for c in cells {
            match c {
                Some(s) => {
                    body.put_i32(s.len() as i32);
                    body.put_slice(s.as_bytes());
                }
                None => body.put_i32(-1),
            }
        }
        match message(b'D', &body) {
            Message::DataRow(body) => body,
            _ => unreachable!(),
        }
    }

    /// One statement of an answer: row count, tag, page.
    type Statement = (f64, String, Vec<u8>);

    /// The answer's statements, and the bytes after them.
    fn statements(answer: &[u8], pages: bool) -> (Vec<Statement>, Vec<u8>) {
        let mut r = Reader::new(answer);
        assert_eq!(r.u8().unwrap(), 0);
        let n = r.u32_le().unwrap();
        let mut out = Vec::new();
        for _ in 0..n {
            let rows = r.f64_le().unwrap();
            let len = r.u32_le().unwrap() as usize;
            let tag = String::from_utf8(r.take(len).unwrap().to_vec()).unwrap();
            let page = if pages {
                let len = r.u32_le().unwrap() as usize;
                r.take(len).unwrap().to_vec()
            } else {
                Vec::new()
            };
            out.push((rows, tag, page));
        }
        let mut rest = Vec::new();
        while !r.is_done() {
            rest.push(r.u8().unwrap());
        }
        (out, rest)
    }

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }

    #[test]
    fn exec_answers_as_before() {
        let tags = ["CREATE TABLE", "INSERT 0 2"];
        let answer = encode(tags.iter().map(|t| (*t, None)), None, b'I');
        let (done, rest) = statements(&answer, false);
        assert_eq!(done[0], (0.0, "CREATE TABLE".into(), vec![]));
        assert_eq!(done[1], (2.0, "INSERT 0 2".into(), vec![]));
        assert_eq!(rest, [0, b'I']);
    }

    #[test]
    fn statements_keep_their_rows_as_text_pages() {
        let mut pages = Pages::default();
        pages
            .columns(columns(&[("a", 23, 4), ("b", 99999, -1)]))
            .unwrap();
        pages.row(&row(&[Some("1"), Some("x")])).unwrap();
        pages.row(&row(&[Some("2"), None])).unwrap();
        pages.complete("SELECT 2").unwrap();
        pages.complete("INSERT 0 1").unwrap();
        pages.columns(columns(&[("n", 25, -1)])).unwrap();
        pages.complete("SELECT 0").unwrap();
        // A failing statement's rows never complete.
        pages.columns(columns(&[("n", 25, -1)])).unwrap();
        pages.row(&row(&[Some("lost")])).unwrap();
        let failure = Error::Internal("failed".into());
        let done = pages
            .done
            .iter()
            .map(|(t, p)| (t.as_str(), Some(p.as_slice())));
        let answer = encode(done, Some(&failure), b'E');

        let (done, rest) = statements(&answer, true);
        assert_eq!(done.len(), 3);
        assert_eq!((done[1].0, done[1].1.as_str()), (1.0, "INSERT 0 1"));
        assert!(done[1].2.is_empty());
        assert_eq!(rest[0], 1);
        let mut stamped = error_buffer(&failure);
        crate::result::layout::stamp_status(&mut stamped, crate::wire::TxStatus::Failed);
        assert_eq!(rest[1..], stamped);

        let page = &done[0].2;
        assert_eq!((done[0].0, done[0].1.as_str()), (2.0, "SELECT 2"));
        assert_eq!(page[0], 0);
        assert_eq!(u16::from_le_bytes([page[2], page[3]]), 2);
        assert_eq!(u32_at(page, 4), 2);
        assert_eq!(f64::from_le_bytes(page[8..16].try_into().unwrap()), 2.0);
        let cells_at = u32_at(page, 20) as usize;
        assert_eq!(cells_at % 8, 0);
        let at = 48 + u32_at(page, 40) as usize;
        assert_eq!(&page[48..at], b"SELECT 2");
        // Column a: int4, a string, table 77 attribute 1, size 4; b of an unknown type.
        assert_eq!(u32_at(page, at), 23);
        assert_eq!(page[at + 4], 4);
        assert_eq!(u32_at(page, at + 16), 77);
        assert_eq!(i16::from_le_bytes([page[at + 24], page[at + 25]]), 1);
        assert_eq!(i16::from_le_bytes([page[at + 26], page[at + 27]]), 4);
        let b = at + 28 + 1;
        assert_eq!(u32_at(page, b), 99999);
        assert_eq!(page[b + 4], 4);
        assert_eq!(i16::from_le_bytes([page[b + 26], page[b + 27]]), -1);
        let strings_at = u32_at(page, 28) as usize;
        let strings_len = u32_at(page, 32) as usize;
        assert_eq!(&page[strings_at..strings_at + strings_len], b"1x2");
        let nulls_at = u32_at(page, 24) as usize;
        assert_eq!(&page[nulls_at..nulls_at + 4], [0, 0, 0, 1]);

        // A statement with columns and no rows still has its page.
        let empty = &done[2].2;
        assert_eq!(u16::from_le_bytes([empty[2], empty[3]]), 1);
        assert_eq!(u32_at(empty, 4), 0);
    }
}
