//! Statements that must not run on a shared, pipelined connection, refused before anything is
//! sent: transaction control (a `BEGIN` there would capture every other caller's queries) and
//! session state (a `SET` there would change the session under other callers).
//!
//! This reads only the statement's first words, after comments and parentheses. It is a
//! courtesy that names the right tool; the guarantee is elsewhere: an autocommit query
//! succeeds only if the server says the connection is idle after it
//! ([`crate::query::Caller::Shared`]).

use crate::error::Error;

const TRANSACTION_HINT: &str =
    "use pool.transaction(async (tx) => ...) for a transaction, or pool.reserve() to run \
     transaction control by hand on a connection of your own";
const SESSION_HINT: &str = "session state set here would reach other callers: use onConnect to \
     set it on every connection, SET LOCAL inside pool.transaction(), or pool.reserve() for a \
     connection of your own";

/// Why `sql` may not run through `pool.query()`, if it may not.
pub fn refuse_shared(sql: &str) -> Option<Error> {
    let mut words = Words::new(sql);
    let first = words.next()?;
    let second = words.next().unwrap_or_default();
    let transaction = match first.as_str() {
        "BEGIN" | "START" | "END" | "ABORT" | "SAVEPOINT" | "RELEASE" => true,
        "COMMIT" | "ROLLBACK" => second != "PREPARED",
        "PREPARE" => second == "TRANSACTION",
        _ => false,
    };
    if transaction {
        return Some(refusal(&first, TRANSACTION_HINT));
    }
    if changes_session(&first, &second, &mut words) {
        return Some(refusal(&first, SESSION_HINT));
    }
    if first == "COPY" {
        return copy_to_client(sql);
    }
    None
}

const POOLER_HINT: &str = "behind a transaction-mode pooler (pooler: 'transaction') session \
     state does not outlast the statement, and may reach another client's session: use SET \
     LOCAL inside a transaction, or set it on the role (ALTER ROLE ... SET)";

/// Why `sql` may not run on a reserved connection behind a transaction-mode pooler, where
/// each transaction may run on another server session and what a session keeps reaches
/// another client (a cursor inside a transaction ends with it, so `DECLARE` is let through
/// there).
pub fn refuse_behind_pooler(sql: &str, in_transaction: bool) -> Option<Error> {
    session_word(sql)
        .filter(|w| !(in_transaction && w == "DECLARE"))
        .map(|word| {
            Error::Parameter(format!(
                "{word} (session state) cannot run on this pool: {POOLER_HINT}"
            ))
        })
}

/// The first word of `sql` when it changes session state.
fn session_word(sql: &str) -> Option<String> {
    let mut words = Words::new(sql);
    let first = words.next()?;
    let second = words.next().unwrap_or_default();
    changes_session(&first, &second, &mut words).then_some(first)
}

/// Whether a statement beginning with `first` and `second` (the rest in `words`) changes
/// session state.
fn changes_session(first: &str, second: &str, words: &mut Words) -> bool {
    match first {
        "SET" => !matches!(second, "LOCAL" | "TRANSACTION"),
        "RESET" | "LISTEN" | "DISCARD" | "DEALLOCATE" | "PREPARE" | "DECLARE" | "LOAD" => true,
        "CREATE" => {
            let third = words.next().unwrap_or_default();
            matches!(second, "TEMP" | "TEMPORARY")
                || (second == "LOCAL" || second == "GLOBAL")
                    && matches!(third.as_str(), "TEMP" | "TEMPORARY")
        }
        _ => false,
    }
}

/// Why `sql` may not run through `query()` on any connection: a COPY to or from the client
/// has its own methods, since its data does not travel as rows.
pub fn refuse_copy(sql: &str) -> Option<Error> {
    let mut words = Words::new(sql);
    if words.next()? != "COPY" {
        return None;
    }
    copy_to_client(sql)
}

/// For a COPY statement: its refusal when its data goes to or from the client.
fn copy_to_client(sql: &str) -> Option<Error> {
    let upper = sql.to_ascii_uppercase();
    if upper.contains("STDIN") {
        return Some(copy_refusal("FROM STDIN", "copyIn"));
    }
    if upper.contains("STDOUT") {
        return Some(copy_refusal("TO STDOUT", "copyOut"));
    }
    None
}

/// Refuses a statement text PostgreSQL cannot take, saying where the problem is: a NUL
/// character (the protocol's strings end at one).
pub fn check_text(sql: &str) -> Result<(), Error> {
    match sql.find('\0') {
        Some(at) => Err(Error::Parameter(format!(
            "the query text contains a NUL character at position {} (counting from 1); \
             PostgreSQL cannot take one in a statement",
            sql[..at].chars().count() + 1
        ))),
        None => Ok(()),
    }
}

fn refusal(word: &str, hint: &str) -> Error {
    Error::Parameter(format!(
        "pool.query() cannot run {word} on the shared, pipelined connections: {hint}"
    ))
}

fn copy_refusal(direction: &str, method: &str) -> Error {
    Error::Parameter(format!(
        "COPY ... {direction} cannot run through query(); use {method}()"
    ))
}

/// The leading keywords of a statement, upper-cased, skipping whitespace, `--` and (nested)
/// `/* */` comments and opening parentheses.
struct Words<'a> {
    rest: &'a str,
}

impl<'a> Words<'a> {
    fn new(sql: &'a str) -> Words<'a> {
        Words { rest: sql }
    }

    fn skip_noise(&mut self) {
        loop {
            let r = self.rest.trim_start();
            if let Some(after) = r.strip_prefix("--") {
                self.rest = after.split_once('\n').map_or("", |(_, t)| t);
            } else if r.starts_with("/*") {
                self.rest = skip_block_comment(r);
            } else if let Some(after) = r.strip_prefix(['(', ';']) {
                // `(select ...)`, and empty statements before the real one.
                self.rest = after;
            } else {
                self.rest = r;
                return;
            }
        }
    }
}

impl Iterator for Words<'_> {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        self.skip_noise();
        let end = self
            .rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(self.rest.len());
        if end == 0 {
            return None;
        }
        let word = self.rest[..end].to_ascii_uppercase();
        self.rest = &self.rest[end..];
        Some(word)
    }
}

/// What follows a block comment at the start of `s`; comments nest, as in PostgreSQL.
fn skip_block_comment(s: &str) -> &str {
    let bytes = s.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i + 1 < bytes.len() {
        match (bytes[i], bytes[i + 1]) {
            (b'/', b'*') => {
                depth += 1;
                i += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return &s[i..];
                }
            }
            _ => i += 1,
        }
    }
    ""
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behind_a_pooler_session_state_is_refused_but_local_settings_and_cursors_pass() {
        let r = |sql: &str, tx: bool| refuse_behind_pooler(sql, tx).is_some();
        assert!(r("SET search_path = x", false) && r("set search_path = x", true));
        assert!(r("LISTEN x", false) && r("CREATE TEMP TABLE t (a int)", true));
        assert!(!r("SET LOCAL search_path = x", true) && !r("SET TRANSACTION READ ONLY", true));
        assert!(
            !r("DECLARE c CURSOR FOR SELECT 1", true) && r("DECLARE c CURSOR FOR SELECT 1", false)
        );
        assert!(!r("SELECT 1", false));
        let e = refuse_behind_pooler("SET x = 1", false)
            .unwrap()
            .to_string();
        assert!(e.contains("SET LOCAL") && e.contains("pooler"), "{e}");
    }

    fn refused(sql: &str) -> bool {
        refuse_shared(sql).is_some()
    }

    #[test]
    fn transaction_control_is_refused_through_comments_and_case() {
        for sql in [
            "begin",
            "  BeGiN isolation level serializable",
            "-- note\nbegin",
            "/* a /* nested */ comment */ begin",
            "start transaction",
            "commit",
            "end",
            "rollback",
            "abort",
            "savepoint a",
            "release savepoint a",
            "prepare transaction 'x'",
        ] {
            assert!(refused(sql), "{sql}");
        }
        let e = refuse_shared("BEGIN").unwrap().to_string();
        assert!(
            e.contains("pool.transaction(") && e.contains("pool.reserve()"),
            "{e}"
        );
    }

    #[test]
    fn session_state_is_refused_and_names_the_tools() {
        for sql in [
            "set search_path = x",
            "SET ROLE app",
            "set session authorization app",
            "reset all",
            "listen ch",
            "discard all",
            "deallocate all",
            "prepare p as select 1",
            "declare c cursor with hold for select 1",
            "create temp table t (a int)",
            "create local temporary table t (a int)",
            "copy t from stdin",
            "copy (select 1) to stdout",
            ";copy t from stdin",
            " ; ; begin",
        ] {
            assert!(refused(sql), "{sql}");
        }
        let e = refuse_shared("set role x").unwrap().to_string();
        assert!(
            e.contains("onConnect") && e.contains("pool.reserve()"),
            "{e}"
        );
    }

    #[test]
    fn ordinary_statements_pass() {
        for sql in [
            "select 1",
            "(select 1)",
            "with x as (select 1) insert into t select * from x",
            "set local work_mem = '1MB'",
            "commit prepared 'x'",
            "rollback prepared 'x'",
            "create table t (a int)",
            "select 'begin'",
            "copy t to '/tmp/file'",
            "",
            "-- only a comment",
        ] {
            assert!(!refused(sql), "{sql}");
        }
    }
}
