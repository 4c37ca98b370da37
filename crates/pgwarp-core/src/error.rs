//! The one error type of the engine, and its encoding for the JavaScript side.
//!
//! Errors cross the boundary as data (a result buffer whose first byte says "error"), not as
//! thrown N-API errors: the TypeScript layer builds the right error class, with every server
//! field and a stack that points at the caller.

use std::fmt;

use crate::server_error::ServerError;

/// What went wrong, with everything the server said when the server said it.
#[derive(Clone, Debug)]
pub enum Error {
    /// The server answered with an ErrorResponse.
    Server(Box<ServerError>),
    /// A connection could not be opened or was lost.
    Connection {
        /// What happened, in words.
        message: String,
        /// A short code in the style of Node's errno names (`ECONNREFUSED`, `ENOTFOUND`,
        /// `ETIMEDOUT`, `ECONNRESET`, `EAUTH`...).
        code: &'static str,
        /// The server's error, when the server refused us (authentication, unknown database).
        server: Option<Box<ServerError>>,
    },
    /// The caller's input was refused before anything was sent.
    Parameter(String),
    /// The pool was closed.
    Closed,
    /// No connection could be had within `acquireTimeout`.
    PoolTimeout(String),
    /// A client-side protocol or conversion failure that is not the caller's fault.
    Internal(String),
    /// Work the server had done was rolled back by the engine, to keep it from reaching
    /// other callers (a statement left a shared connection inside a transaction).
    RolledBack(String),
    /// A buffered result grew past `maxRows` or `maxBytes`.
    TooLarge {
        /// `maxRows` or `maxBytes`.
        limit: &'static str,
        /// The limit's value.
        max: u64,
    },
}

/// Which JavaScript error class the TypeScript layer must build.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// `PostgresError`.
    Server = 1,
    /// `ConnectionError`.
    Connection = 2,
    /// `ParameterError`.
    Parameter = 3,
    /// `PoolClosedError`.
    Closed = 4,
    /// `PgwarpError`.
    Internal = 5,
    /// `PoolTimeoutError`.
    PoolTimeout = 6,
    /// `ResultTooLargeError`.
    TooLarge = 7,
    /// `RolledBackError`.
    RolledBack = 8,
}

impl Error {
    /// The class of error the JavaScript side must raise.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Server(_) => ErrorKind::Server,
            Error::Connection { .. } => ErrorKind::Connection,
            Error::Parameter(_) => ErrorKind::Parameter,
            Error::Closed => ErrorKind::Closed,
            Error::Internal(_) => ErrorKind::Internal,
            Error::PoolTimeout(_) => ErrorKind::PoolTimeout,
            Error::TooLarge { .. } => ErrorKind::TooLarge,
            Error::RolledBack(_) => ErrorKind::RolledBack,
        }
    }

    /// The server's SQLSTATE, when the server raised this error.
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            Error::Server(e) => Some(e.code()),
            _ => None,
        }
    }

    /// Whether a failed connection attempt may succeed later by itself: the server down,
    /// refusing, starting or shutting down, unreachable, out of connection slots (no server
    /// error, or SQLSTATE class 57, 08 or 53). Not a wrong password or an unknown database.
    pub fn is_outage(&self) -> bool {
        match self {
            Error::Connection { server: None, .. } => true,
            Error::Connection {
                server: Some(s), ..
            } => {
                let code = s.code();
                code.starts_with("57") || code.starts_with("08") || code.starts_with("53")
            }
            _ => false,
        }
    }

    /// Whether this is a connection error with `code` (`ENOTSENT`, `ECONNRESET`...).
    pub fn is_connection(&self, code: &str) -> bool {
        matches!(self, Error::Connection { code: c, .. } if *c == code)
    }

    /// Encodes the error as the body of an error result: kind byte, then `(field, length, bytes)`
    /// triples using the protocol's ErrorResponse field letters, then a zero byte.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.kind() as u8);
        match self {
            Error::Server(db) => encode_db(db, out),
            Error::Connection {
                message,
                code,
                server,
            } => {
                field(out, b'm', message);
                field(out, b'K', code);
                if let Some(db) = server {
                    encode_db(db, out);
                }
            }
            Error::Parameter(message)
            | Error::Internal(message)
            | Error::PoolTimeout(message)
            | Error::RolledBack(message) => field(out, b'M', message),
            Error::Closed => field(out, b'M', "the pool is closed"),
            Error::TooLarge { limit, max } => {
                field(out, b'M', &self.to_string());
                field(out, b'K', limit);
                field(out, b'X', &max.to_string());
            }
        }
        out.push(0);
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Server(db) => write!(f, "{}: {}", db.severity(), db.message()),
            Error::Connection { message, .. } => f.write_str(message),
            Error::Parameter(m)
            | Error::Internal(m)
            | Error::PoolTimeout(m)
            | Error::RolledBack(m) => f.write_str(m),
            Error::Closed => f.write_str("the pool is closed"),
            Error::TooLarge { limit, max } => {
                let what = if *limit == "maxRows" { "rows" } else { "bytes" };
                write!(
                    f,
                    "the result has more than {limit} ({max}) {what}; read it with stream(), or raise {limit}"
                )
            }
        }
    }
}

impl std::error::Error for Error {}

/// Every field the server sent, under its protocol letter.
fn encode_db(db: &ServerError, out: &mut Vec<u8>) {
    for (letter, value) in db.fields() {
        field(out, *letter, value);
    }
}

fn field(out: &mut Vec<u8>, letter: u8, value: &str) {
    out.push(letter);
    out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    out.extend_from_slice(value.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_error_encodes_kind_and_message() {
        let mut out = Vec::new();
        Error::Parameter("$1: bad".into()).encode(&mut out);
        assert_eq!(out[0], ErrorKind::Parameter as u8);
        assert_eq!(out[1], b'M');
        assert_eq!(u32::from_le_bytes(out[2..6].try_into().unwrap()), 7);
        assert_eq!(&out[6..13], b"$1: bad");
        assert_eq!(*out.last().unwrap(), 0);
    }
}
