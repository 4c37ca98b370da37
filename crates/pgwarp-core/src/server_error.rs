//! What the server says in an ErrorResponse or NoticeResponse, with every field it sent.

use std::fmt;

use postgres_protocol::message::backend::ErrorFields;

/// An ErrorResponse (or NoticeResponse) from the server. Field letters are the protocol's
/// (`S`, `V`, `C`, `M`, `D`, `H`, `P`, `p`, `q`, `W`, `s`, `t`, `c`, `d`, `n`, `F`, `L`, `R`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerError {
    fields: Vec<(u8, String)>,
}

impl ServerError {
    /// Reads the fields of an ErrorResponse or NoticeResponse body.
    pub fn parse(mut fields: ErrorFields<'_>) -> std::io::Result<ServerError> {
        use fallible_iterator::FallibleIterator;
        let mut out = Vec::new();
        while let Some(f) = fields.next()? {
            out.push((
                f.type_(),
                String::from_utf8_lossy(f.value_bytes()).into_owned(),
            ));
        }
        Ok(ServerError { fields: out })
    }

    /// A server error made of `(letter, value)` pairs, for errors the client synthesises in
    /// the server's shape.
    pub fn from_fields(fields: Vec<(u8, String)>) -> ServerError {
        ServerError { fields }
    }

    /// The value of field `letter`, if the server sent it.
    pub fn field(&self, letter: u8) -> Option<&str> {
        self.fields
            .iter()
            .find(|(l, _)| *l == letter)
            .map(|(_, v)| v.as_str())
    }

    /// Every field, in the order the server sent them.
    pub fn fields(&self) -> &[(u8, String)] {
        &self.fields
    }

    /// `ERROR`, `FATAL`, `WARNING`, `NOTICE`... possibly localised.
    pub fn severity(&self) -> &str {
        self.field(b'S').unwrap_or("ERROR")
    }

    /// The SQLSTATE code (`23505`).
    pub fn code(&self) -> &str {
        self.field(b'C').unwrap_or("XX000")
    }

    /// The primary message.
    pub fn message(&self) -> &str {
        self.field(b'M').unwrap_or("")
    }

    /// The optional detail.
    pub fn detail(&self) -> Option<&str> {
        self.field(b'D')
    }

    /// The optional hint.
    pub fn hint(&self) -> Option<&str> {
        self.field(b'H')
    }

    /// Where the error happened (`PL/pgSQL function f() line 3`, `COPY t, line 3001`).
    pub fn where_(&self) -> Option<&str> {
        self.field(b'W')
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.severity(), self.message())
    }
}

impl std::error::Error for ServerError {}
