//! `exec()`: a text of many statements, run with the simple query protocol on a reserved
//! connection (JavaScript reserves one for `pool.exec`). The server runs such a text as one
//! implicit transaction unless it controls transactions itself, and stops at the first
//! error; the answer lists what each statement did up to there.
//!
//! Answer: `u8 0, u32 statements completed`, per statement `f64 row count, u32 length, tag`,
//! then `u8 failed`, and when it is 1 the failure as an error buffer (status byte 1, then
//! the error).

use super::Pool;
use crate::error::Error;
use crate::result::layout::error_buffer;

impl Pool {
    /// Runs script `sql` on reserved connection `conn`.
    pub async fn exec(&self, conn: u32, sql: &str) -> Result<Vec<u8>, Error> {
        let lease = self.lease_reserved(conn)?;
        lease.conn.check_not_held()?;
        let answer = {
            let _turn = lease.conn.turn().await;
            lease.conn.client().send_script_unread(sql)?
        };
        let (tags, failure) = match answer.read().await {
            Ok(script) => (script.tags, None),
            Err((e, script)) => (script.tags, Some(e)),
        };
        for tag in &tags {
            lease.conn.note(Some(tag));
        }
        if failure.is_some() {
            lease.conn.note(None);
        }
        Ok(encode(&tags, failure.as_ref()))
    }
}

fn encode(tags: &[String], failure: Option<&Error>) -> Vec<u8> {
    let mut out = vec![0];
    out.extend_from_slice(&(tags.len() as u32).to_le_bytes());
    for tag in tags {
        let rows = crate::wire::rows_of_tag(tag).unwrap_or(0);
        out.extend_from_slice(&(rows as f64).to_le_bytes());
        out.extend_from_slice(&(tag.len() as u32).to_le_bytes());
        out.extend_from_slice(tag.as_bytes());
    }
    match failure {
        Some(e) => {
            out.push(1);
            out.extend_from_slice(&error_buffer(e));
        }
        None => out.push(0),
    }
    out
}
