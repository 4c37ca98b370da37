//! Composite and range values as JSON objects (`{ "field": value }`, `{ "lower", "upper",
//! "lowerInclusive", "upperInclusive", "empty" }`), for JavaScript to parse with the rest of
//! their column.
//!
//! Their fields can be of any type, so one fix for the whole column (as arrays have) is not
//! enough: a column of such values starts its JSON array with a *shape*, which tells
//! JavaScript how to finish each value inside: a number is an [`ElemFix`] for a scalar,
//! `{"f":[[name, shape], ...]}` a composite, `{"r": shape}` a range, `{"a": shape}` an array.

use postgres_protocol::types as wire;
use postgres_types::{Kind, Type};

use super::json::{elem_fix, write_string, write_value, ElemFix};
use super::{base_type, ConvertError};
use crate::bytes::Reader;

/// Whether values of `ty` hold a composite or a range somewhere (and so need a shape).
pub fn is_shaped(ty: &Type) -> bool {
    match base_type(ty).kind() {
        Kind::Composite(_) | Kind::Range(_) => true,
        Kind::Array(elem) => is_shaped(elem),
        _ => false,
    }
}

/// The shape of `ty` (see the module), as JSON.
pub fn shape(ty: &Type, out: &mut Vec<u8>) {
    let ty = base_type(ty);
    match ty.kind() {
        Kind::Composite(fields) => {
            out.extend_from_slice(b"{\"f\":[");
            for (i, f) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.push(b'[');
                write_string(f.name().as_bytes(), out);
                out.push(b',');
                shape(f.type_(), out);
                out.push(b']');
            }
            out.extend_from_slice(b"]}");
        }
        Kind::Range(sub) => {
            out.extend_from_slice(b"{\"r\":");
            shape(sub, out);
            out.push(b'}');
        }
        Kind::Array(elem) => {
            out.extend_from_slice(b"{\"a\":");
            shape(elem, out);
            out.push(b'}');
        }
        _ => out.extend_from_slice((scalar_fix(ty) as u8).to_string().as_bytes()),
    }
}

fn scalar_fix(ty: &Type) -> ElemFix {
    elem_fix(ty)
}

/// Writes a composite or range value of `ty` as a JSON object.
pub fn write_shaped(
    ty: &Type,
    raw: &[u8],
    out: &mut Vec<u8>,
    scratch: &mut String,
) -> Result<(), ConvertError> {
    let ty = base_type(ty);
    match ty.kind() {
        Kind::Composite(fields) => {
            let mut r = Reader::new(raw);
            let count = r.i32_be()?;
            if count < 0 || count as usize != fields.len() {
                return Err(format!(
                    "a record of {count} fields for type {} of {}",
                    ty.name(),
                    fields.len()
                )
                .into());
            }
            out.push(b'{');
            for (i, field) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let oid = r.u32_be()?;
                let len = r.i32_be()?;
                let value = if len < 0 {
                    None
                } else {
                    Some(r.take(len as usize)?)
                };
                write_string(field.name().as_bytes(), out);
                out.push(b':');
                // The wire names each field's type: a field whose type changed since this
                // connection looked the composite up (ALTER TYPE) is read as what it is now.
                if oid == field.type_().oid() {
                    write_value(field.type_(), value, out, scratch)?;
                } else {
                    let now = Type::from_oid(oid).unwrap_or(Type::TEXT);
                    write_value(&now, value, out, scratch)?;
                }
            }
            out.push(b'}');
            if !r.is_done() {
                return Err("bytes left after the record's fields".into());
            }
            Ok(())
        }
        Kind::Range(sub) => {
            match wire::range_from_sql(raw)? {
                wire::Range::Empty => out.extend_from_slice(
                    b"{\"lower\":null,\"upper\":null,\"lowerInclusive\":false,\"upperInclusive\":false,\"empty\":true}",
                ),
                wire::Range::Nonempty(lower, upper) => {
                    let mut bound = |name: &[u8], b: wire::RangeBound<Option<&[u8]>>, out: &mut Vec<u8>| {
                        let (value, inclusive) = match b {
                            wire::RangeBound::Inclusive(v) => (v, true),
                            wire::RangeBound::Exclusive(v) => (v, false),
                            wire::RangeBound::Unbounded => (None, false),
                        };
                        out.push(b'"');
                        out.extend_from_slice(name);
                        out.extend_from_slice(b"\":");
                        write_value(sub, value, out, scratch)?;
                        Ok::<bool, ConvertError>(inclusive)
                    };
                    out.push(b'{');
                    let lower_inclusive = bound(b"lower", lower, out)?;
                    out.push(b',');
                    let upper_inclusive = bound(b"upper", upper, out)?;
                    out.extend_from_slice(
                        format!(
                            ",\"lowerInclusive\":{lower_inclusive},\"upperInclusive\":{upper_inclusive},\"empty\":false}}"
                        )
                        .as_bytes(),
                    );
                }
            }
            Ok(())
        }
        _ => Err(format!("type {} is not a composite or a range", ty.name()).into()),
    }
}
