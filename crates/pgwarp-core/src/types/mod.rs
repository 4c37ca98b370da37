//! Conversions of PostgreSQL binary values into forms JavaScript reads cheaply: numbers, text in
//! PostgreSQL's own output style, and JSON.

pub mod datetime;
pub mod geometry;
pub mod json;
pub mod numeric;
pub mod search;
pub mod shaped;
pub mod text;

use postgres_types::{Kind, Type};

/// Follows domains down to the type whose wire format they use.
pub fn base_type(ty: &Type) -> &Type {
    let mut ty = ty;
    while let Kind::Domain(inner) = ty.kind() {
        ty = inner;
    }
    ty
}

/// The error type of value conversions; turned into [`crate::Error::Internal`] at the edge.
pub type ConvertError = Box<dyn std::error::Error + Sync + Send>;
