//! Preparing a statement: Parse, Describe and Sync in one round trip, then the parameter and
//! column types the server reported, resolved to full types.

use bytes::BytesMut;
use postgres_protocol::message::backend::{Message, RowDescriptionBody};
use postgres_protocol::message::frontend;
use postgres_types::{Kind, Type};

use super::conn::Client;
use super::typeinfo::TypeCache;
use crate::error::Error;
use crate::server_error::ServerError;

/// A result column, as the server describes it.
#[derive(Clone, Debug)]
pub struct Column {
    /// The column's name (or alias).
    pub name: String,
    /// Its type.
    pub type_: Type,
    /// The table it comes from (0 when it is computed).
    pub table_oid: u32,
    /// Its attribute number in that table (0 when it is computed).
    pub column_id: i16,
    /// The type modifier (`varchar(20)`: 24); -1 when none.
    pub type_modifier: i32,
    /// The type's size (`-1` for variable length).
    pub type_size: i16,
}

/// What a prepared statement takes and returns.
#[derive(Clone, Debug)]
pub struct Description {
    /// The types the server inferred (or was told) for `$1, $2, ...`.
    pub params: Vec<Type>,
    /// The result columns; empty for statements that return no rows.
    pub columns: Vec<Column>,
}

/// A RowDescription before its type OIDs are resolved.
pub struct RawColumns(Vec<(String, u32, u32, i16, i32, i16)>);

impl RawColumns {
    /// Reads a RowDescription body.
    pub fn parse(body: &RowDescriptionBody) -> Result<RawColumns, Error> {
        use fallible_iterator::FallibleIterator;
        let mut out = Vec::new();
        let mut fields = body.fields();
        while let Some(f) = fields.next().map_err(|e| Error::Internal(e.to_string()))? {
            out.push((
                f.name().to_string(),
                f.type_oid(),
                f.table_oid(),
                f.column_id(),
                f.type_modifier(),
                f.type_size(),
            ));
        }
        Ok(RawColumns(out))
    }

    /// The type OIDs, in column order.
    pub fn oids(&self) -> Vec<u32> {
        self.0.iter().map(|c| c.1).collect()
    }

    /// The columns without a catalog lookup, for results the server sent in text: built-in
    /// types by their OID, any other as a placeholder that carries only its OID (the encoder
    /// then needs no more than the OID and a name for errors).
    pub fn without_lookup(self) -> Vec<Column> {
        self.0
            .into_iter()
            .map(
                |(name, oid, table_oid, column_id, type_modifier, type_size)| Column {
                    name,
                    type_: Type::from_oid(oid).unwrap_or_else(|| {
                        Type::new(format!("type {oid}"), oid, Kind::Simple, String::new())
                    }),
                    table_oid,
                    column_id,
                    type_modifier,
                    type_size,
                },
            )
            .collect()
    }

    /// The columns with their types looked up.
    pub async fn resolve(self, client: &Client, types: &TypeCache) -> Result<Vec<Column>, Error> {
        let resolved = types.resolve(client, &self.oids()).await?;
        Ok(self
            .0
            .into_iter()
            .zip(resolved)
            .map(
                |((name, _, table_oid, column_id, type_modifier, type_size), type_)| Column {
                    name,
                    type_,
                    table_oid,
                    column_id,
                    type_modifier,
                    type_size,
                },
            )
            .collect())
    }
}

impl Client {
    /// Prepares `sql` as statement `name` (`""`: the unnamed statement, which the next Parse
    /// replaces) and describes it.
    pub async fn prepare(
        &self,
        name: &str,
        sql: &str,
        types: &TypeCache,
    ) -> Result<Description, Error> {
        let mut buf = BytesMut::new();
        frontend::parse(name, sql, std::iter::empty(), &mut buf).map_err(encode_error)?;
        frontend::describe(b'S', name, &mut buf).map_err(encode_error)?;
        frontend::sync(&mut buf);
        let mut responses = self.send(buf).map_err(super::lost_error)?;
        let mut params = Vec::new();
        let mut columns = None;
        let mut failed = None;
        loop {
            match responses.next().await.map_err(super::lost_error)? {
                Some(Message::ParameterDescription(body)) => {
                    use fallible_iterator::FallibleIterator;
                    params = body
                        .parameters()
                        .collect::<Vec<u32>>()
                        .map_err(|e| Error::Internal(e.to_string()))?;
                }
                Some(Message::RowDescription(body)) => columns = Some(RawColumns::parse(&body)?),
                Some(Message::ErrorResponse(body)) => {
                    let e = ServerError::parse(body.fields()).unwrap_or_default();
                    failed = Some(super::server_failure(e));
                }
                Some(_) => {}
                None => break,
            }
        }
        if let Some(e) = failed {
            return Err(e);
        }
        let params = types.resolve(self, &params).await?;
        let columns = match columns {
            Some(raw) => raw.resolve(self, types).await?,
            None => Vec::new(),
        };
        Ok(Description { params, columns })
    }

    /// Closes prepared statement `name` on the server. Its answer is not awaited: it comes in
    /// order with the requests after it, and closing an unknown name is not an error.
    pub fn close_statement(&self, name: &str) {
        let mut buf = BytesMut::new();
        if frontend::close(b'S', name, &mut buf).is_ok() {
            frontend::sync(&mut buf);
            let _ = self.send(buf);
        }
    }
}

pub(super) fn encode_error(e: std::io::Error) -> Error {
    Error::Parameter(format!("the statement cannot be sent: {e}"))
}
