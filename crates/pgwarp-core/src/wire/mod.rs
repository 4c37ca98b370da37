//! pgwarp's own PostgreSQL connection layer on `postgres-protocol`, the rust-postgres
//! project's message codec.
//!
//! It exists because pgwarp must know what the server says, not guess it from SQL text: every
//! answer carries its ReadyForQuery transaction status and CommandComplete tag, which
//! tokio-postgres drops. One task per socket ([`task`]) writes pipelined requests and hands
//! each its answer to the connection's handle ([`conn`]); the flows on top are one file each: [`startup`], [`prepare`]
//! (with [`typeinfo`]), [`execute`], [`simple`], [`copy`] and [`cancel`].

pub mod auth;
pub mod cancel;
pub mod conn;
pub mod copy;
pub mod execute;
pub mod hosts;
pub mod negotiate;
pub mod passfile;
pub mod pipe;
pub mod prepare;
pub mod role_check;
pub mod settings;
pub mod simple;
pub mod socket;
pub mod startup;
pub mod status;
pub mod target;
pub mod task;
pub mod tls;
pub mod tls_files;
pub mod typeinfo;

pub use crate::server_error::ServerError;
pub use cancel::Cancelled;
pub use conn::Client;
pub use copy::{CopyIn, CopyOut};
pub use execute::{Param, Rows};
pub use pipe::{Lost, Poison};
pub use prepare::{Column, Description, RawColumns};
pub use settings::{ChannelBinding, PasswordFn, Settings, TargetSessionAttrs};
pub use simple::{Script, ScriptSink};
pub use socket::Host;
pub use startup::connect;
pub use status::TxStatus;
pub use task::Unsolicited;
pub use tls::{SslMode, Tls};
pub use tls_files::TlsFiles;
pub use typeinfo::TypeCache;

use crate::error::Error;

/// The longest message a server may declare: PostgreSQL's own limit for one allocation
/// (1 GB) and its header. A longer length is a protocol error, not an allocation to attempt.
pub const MAX_MESSAGE: usize = (1 << 30) + 64;

/// The `code` of a connection error for a request that never left the client.
pub const NOT_SENT: &str = "ENOTSENT";

/// The error for a request whose connection ended.
pub fn lost_error(lost: Lost) -> Error {
    match lost {
        Lost::NotSent(reason) => Error::Connection {
            message: format!("connection lost before the statement was sent: {reason}"),
            code: NOT_SENT,
            server: None,
        },
        // Said in words, as the caller must decide whether to run it again: pgwarp never does.
        Lost::Broken(reason) => Error::Connection {
            message: format!(
                "connection lost after the statement was sent (it may have run): {reason}"
            ),
            code: "ECONNRESET",
            server: None,
        },
    }
}

/// The error for an ErrorResponse. A FATAL (or PANIC) one also ends the session
/// (`pg_terminate_backend`, a shutdown): it is a lost connection, with the server's error as
/// its cause, as for every other request the connection had.
pub fn server_failure(e: ServerError) -> Error {
    if matches!(e.field(b'V'), Some("FATAL" | "PANIC")) {
        return Error::Connection {
            message: format!("connection lost: {}: {}", e.code(), e.message()),
            code: "ECONNRESET",
            server: Some(Box::new(e)),
        };
    }
    Error::Server(Box::new(e))
}

/// The row count at the end of a command tag (`INSERT 0 5`: 5); `None` for tags without one.
pub fn rows_of_tag(tag: &str) -> Option<u64> {
    let last = tag.rsplit(' ').next()?;
    if tag.contains(' ') {
        last.parse().ok()
    } else {
        None
    }
}

/// The command of a tag without its counts (`INSERT 0 5`: `INSERT`; `CREATE TABLE` stays).
pub fn command_of_tag(tag: &str) -> &str {
    let mut end = tag.len();
    while let Some(i) = tag[..end].rfind(' ') {
        let word = &tag[i + 1..end];
        if word.is_empty() || !word.bytes().all(|b| b.is_ascii_digit()) {
            break;
        }
        end = i;
    }
    &tag[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags() {
        assert_eq!(rows_of_tag("INSERT 0 5"), Some(5));
        assert_eq!(rows_of_tag("SELECT 12"), Some(12));
        assert_eq!(rows_of_tag("CREATE TABLE"), None);
        assert_eq!(rows_of_tag("BEGIN"), None);
        assert_eq!(command_of_tag("INSERT 0 5"), "INSERT");
        assert_eq!(command_of_tag("SELECT 12"), "SELECT");
        assert_eq!(command_of_tag("CREATE TABLE"), "CREATE TABLE");
        assert_eq!(command_of_tag("MERGE 3"), "MERGE");
        assert_eq!(command_of_tag("ROLLBACK"), "ROLLBACK");
        assert_eq!(command_of_tag("DISCARD ALL"), "DISCARD ALL");
    }
}
