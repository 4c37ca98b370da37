//! What one holder of a connection (a reservation, a transaction, a held stream) may have left
//! in its session, told by the server's command tags, and the script that puts it back.
//!
//! Any statement can call a function that takes an advisory lock or changes a setting, so
//! only transaction control is known to leave the session as it was: every other statement,
//! and every failed one, marks the session as touched, and a touched session is reset before
//! anyone else gets it. That reset is what asyncpg runs on every release; pgwarp skips it when
//! nothing but transaction control ran, and sends it in the same round trip as the COMMIT that
//! ends a `pool.transaction()`.

use postgres_protocol::escape::{escape_identifier, escape_literal};

/// Tags that change nothing in the session beyond the transaction itself.
const CONTROL: &[&str] = &[
    "BEGIN",
    "START TRANSACTION",
    "COMMIT",
    "ROLLBACK",
    "SAVEPOINT",
    "RELEASE",
];

/// What the statements run so far may have changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Marks {
    /// Something other than transaction control ran (or failed).
    pub touched: bool,
    /// The server's prepared statements were dropped (`DISCARD ALL`, `DEALLOCATE`).
    pub statements_dropped: bool,
}

impl Marks {
    /// Follows one statement: its command tag, or `None` when it failed.
    pub fn note(&mut self, tag: Option<&str>) {
        let Some(tag) = tag else {
            self.touched = true;
            return;
        };
        let command = crate::wire::command_of_tag(tag);
        if !CONTROL.contains(&command) {
            self.touched = true;
        }
        if command == "DISCARD ALL" || command.starts_with("DEALLOCATE") {
            self.statements_dropped = true;
        }
    }
}

/// The statements that undo whatever a holder did to the session, keeping the statement
/// cache (no `DISCARD ALL`): advisory locks, cursors, LISTENs, the role, every setting, and
/// temporary tables; then what `onConnect` had set (`baseline`) again. `RESET ALL` keeps
/// the settings given at startup (`options`, `statementTimeout`), which are the sessions'
/// defaults, but not the role, which has its own statements.
pub fn reset_script(rollback_first: bool, baseline: &str) -> String {
    let mut sql = String::new();
    if rollback_first {
        sql.push_str("ROLLBACK; ");
    }
    sql.push_str(
        "SELECT pg_catalog.pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; \
         RESET SESSION AUTHORIZATION; RESET ROLE; RESET ALL; DISCARD TEMP",
    );
    if !baseline.is_empty() {
        sql.push_str("; ");
        sql.push_str(baseline);
    }
    sql
}

/// The query that reads what `onConnect` set, for [`baseline_script`].
pub const BASELINE_QUERY: &str = "SELECT name, setting FROM pg_catalog.pg_settings \
     WHERE source = 'session' UNION ALL \
     SELECT 'role', current_setting('role') WHERE current_setting('role') <> 'none'";

/// The statements that set again what [`BASELINE_QUERY`] found.
pub fn baseline_script(rows: &[Vec<Option<String>>]) -> String {
    let mut out = Vec::new();
    let mut role = None;
    for row in rows {
        let (Some(Some(name)), Some(Some(value))) = (row.first(), row.get(1)) else {
            continue;
        };
        if name == "role" {
            role = Some(value.clone());
            continue;
        }
        out.push(format!(
            "SELECT pg_catalog.set_config({}, {}, false)",
            escape_literal(name),
            escape_literal(value)
        ));
    }
    if let Some(role) = role {
        out.push(format!("SET ROLE {}", escape_identifier(&role)));
    }
    out.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_only_leaves_the_session_clean() {
        let mut m = Marks::default();
        for tag in ["BEGIN", "SAVEPOINT", "RELEASE", "ROLLBACK", "COMMIT"] {
            m.note(Some(tag));
        }
        assert!(!m.touched);
        m.note(Some("INSERT 0 1"));
        assert!(m.touched);
        let mut failed = Marks::default();
        failed.note(None);
        assert!(failed.touched && !failed.statements_dropped);
        let mut d = Marks::default();
        d.note(Some("DISCARD ALL"));
        assert!(d.statements_dropped);
    }

    #[test]
    fn baseline_quotes_what_the_server_said() {
        let rows = vec![
            vec![Some("search_path".into()), Some("a, 'b'".into())],
            vec![Some("role".into()), Some("we\"ird".into())],
        ];
        assert_eq!(
            baseline_script(&rows),
            "SELECT pg_catalog.set_config('search_path', 'a, ''b''', false); SET ROLE \"we\"\"ird\""
        );
    }
}
