//! Access to a column's raw bytes: tokio-postgres exposes values only through `FromSql`, so this
//! `FromSql` accepts every type and keeps the slice (the route the maintainer suggests,
//! rust-postgres#743).

use tokio_postgres::types::{FromSql, Type};

use super::ConvertError;

/// A column value as it came off the wire: `None` is SQL NULL.
pub struct RawValue<'a>(pub Option<&'a [u8]>);

impl<'a> FromSql<'a> for RawValue<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, ConvertError> {
        Ok(RawValue(Some(raw)))
    }

    fn from_sql_null(_: &Type) -> Result<Self, ConvertError> {
        Ok(RawValue(None))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}
