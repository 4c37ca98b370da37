//! One autocommit query on a connection: prepare (cached), encode parameters for the
//! statement's types, execute, and encode what the caller asked to materialise.

use futures_util::{pin_mut, TryStreamExt};

use crate::connection::Connection;
use crate::error::Error;
use crate::params::{self, Value};
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

/// Runs `sql` with `values` and returns the encoded result.
pub async fn run(
    conn: &Connection,
    sql: &str,
    values: &[Value<'_>],
    mode: Mode,
) -> Result<Vec<u8>, Error> {
    let stmt = conn.prepare(sql).await?;
    let encoded = params::encode_all(values, stmt.params())?;
    let stream = conn
        .client()
        .query_raw(&stmt, encoded.iter())
        .await
        .map_err(Error::from_query)?;
    pin_mut!(stream);
    let mut encoder = ResultEncoder::new(stmt.columns());
    let mut seen: u64 = 0;
    while let Some(row) = stream.try_next().await.map_err(Error::from_query)? {
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
            return Ok(encoder.finish(encoded, command_of(sql)));
        }
    }
    let total = stream.rows_affected().unwrap_or(seen);
    Ok(encoder.finish(total, command_of(sql)))
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
