//! The one error type of the engine, and its encoding for the JavaScript side.
//!
//! Errors cross the boundary as data (a result buffer whose first byte says "error"), not as
//! thrown N-API errors: the TypeScript layer builds the right error class, with every server
//! field and a stack that points at the caller.

use std::fmt;
use std::io;

use tokio_postgres::error::{DbError, ErrorPosition};

/// What went wrong, with everything the server said when the server said it.
#[derive(Debug)]
pub enum Error {
    /// The server answered with an ErrorResponse.
    Server(Box<DbError>),
    /// A connection could not be opened or was lost.
    Connection {
        /// What happened, in words.
        message: String,
        /// A short code in the style of Node's errno names (`ECONNREFUSED`, `ENOTFOUND`,
        /// `ETIMEDOUT`, `ECONNRESET`, `EAUTH`...).
        code: &'static str,
        /// The server's error, when the server refused us (authentication, unknown database).
        server: Option<Box<DbError>>,
    },
    /// The caller's input was refused before anything was sent.
    Parameter(String),
    /// The pool was closed.
    Closed,
    /// No connection could be had within `acquireTimeout`.
    PoolTimeout(String),
    /// A client-side protocol or conversion failure that is not the caller's fault.
    Internal(String),
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
        }
    }

    /// Classifies an error from opening a connection.
    pub fn from_connect(err: tokio_postgres::Error) -> Error {
        if let Some(db) = err.as_db_error() {
            let code = if db.code().code().starts_with("28") {
                "EAUTH"
            } else {
                "ESERVER"
            };
            return Error::Connection {
                message: format!("could not connect: {}", db.message()),
                code,
                server: Some(Box::new(db.clone())),
            };
        }
        Error::Connection {
            message: format!("could not connect: {}", describe(&err)),
            code: io_code(&err).unwrap_or("ECONNECT"),
            server: None,
        }
    }

    /// Classifies an error from running a query on an open connection.
    pub fn from_query(err: tokio_postgres::Error) -> Error {
        if let Some(db) = err.as_db_error() {
            return Error::Server(Box::new(db.clone()));
        }
        if err.is_closed() || io_code(&err).is_some() {
            return Error::Connection {
                message: format!("connection lost: {}", describe(&err)),
                code: io_code(&err).unwrap_or("ECONNRESET"),
                server: None,
            };
        }
        Error::Internal(describe(&err))
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
            Error::Parameter(message) | Error::Internal(message) | Error::PoolTimeout(message) => {
                field(out, b'M', message)
            }
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
            Error::Parameter(m) | Error::Internal(m) | Error::PoolTimeout(m) => f.write_str(m),
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

fn encode_db(db: &DbError, out: &mut Vec<u8>) {
    field(out, b'S', db.severity());
    if let Some(v) = db.parsed_severity() {
        field(out, b'V', &v.to_string());
    }
    field(out, b'C', db.code().code());
    field(out, b'M', db.message());
    let optional = [
        (b'D', db.detail()),
        (b'H', db.hint()),
        (b'W', db.where_()),
        (b's', db.schema()),
        (b't', db.table()),
        (b'c', db.column()),
        (b'd', db.datatype()),
        (b'n', db.constraint()),
        (b'F', db.file()),
        (b'R', db.routine()),
    ];
    for (letter, value) in optional {
        if let Some(v) = value {
            field(out, letter, v);
        }
    }
    if let Some(line) = db.line() {
        field(out, b'L', &line.to_string());
    }
    match db.position() {
        Some(ErrorPosition::Original(p)) => field(out, b'P', &p.to_string()),
        Some(ErrorPosition::Internal { position, query }) => {
            field(out, b'p', &position.to_string());
            field(out, b'q', query);
        }
        None => {}
    }
}

fn field(out: &mut Vec<u8>, letter: u8, value: &str) {
    out.push(letter);
    out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    out.extend_from_slice(value.as_bytes());
}

/// tokio-postgres' Display for some errors is only "error connecting to server"; the useful
/// part is in the source chain.
fn describe(err: &tokio_postgres::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

fn io_code(err: &tokio_postgres::Error) -> Option<&'static str> {
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<io::Error>() {
            return Some(match io.kind() {
                io::ErrorKind::ConnectionRefused => "ECONNREFUSED",
                io::ErrorKind::ConnectionReset => "ECONNRESET",
                io::ErrorKind::TimedOut => "ETIMEDOUT",
                io::ErrorKind::NotFound => "ENOENT",
                io::ErrorKind::PermissionDenied => "EACCES",
                io::ErrorKind::UnexpectedEof | io::ErrorKind::BrokenPipe => "ECONNRESET",
                _ if io.to_string().contains("lookup") => "ENOTFOUND",
                _ => "EIO",
            });
        }
        source = s.source();
    }
    if err.to_string().contains("timed out") {
        return Some("ETIMEDOUT");
    }
    None
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
