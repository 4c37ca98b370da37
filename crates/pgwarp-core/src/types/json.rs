//! JSON text written from binary values, for the columns JavaScript reads with one
//! `JSON.parse` per column: json/jsonb documents and arrays.

use postgres_protocol::types as wire;
use postgres_types::{Kind, Type};

use super::{base_type, text, ConvertError};

/// How JavaScript must finish an array element that JSON cannot carry as-is.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElemFix {
    /// Use the JSON value as it is.
    None = 0,
    /// A decimal string to turn into the pool's int8 representation.
    Int8 = 1,
    /// A number, or `"NaN"`/`"Infinity"`/`"-Infinity"` as a string.
    Float = 2,
    /// Milliseconds since the Unix epoch (or `"infinity"`/`"-infinity"`) to make a `Date`.
    Timestamp = 3,
    /// `\x`-hex text to make a `Buffer`.
    Bytes = 4,
    /// Composites or ranges: the column's first element is their shape (`types::shaped`).
    Shape = 5,
}

/// The fix an array of `elem` values needs.
pub fn elem_fix(elem: &Type) -> ElemFix {
    match *base_type(elem) {
        Type::INT8 => ElemFix::Int8,
        Type::FLOAT4 | Type::FLOAT8 => ElemFix::Float,
        Type::TIMESTAMP | Type::TIMESTAMPTZ => ElemFix::Timestamp,
        Type::BYTEA => ElemFix::Bytes,
        _ => ElemFix::None,
    }
}

/// Writes `s` as a JSON string literal. `s` is valid UTF-8; only `"`, `\` and control
/// characters need escaping.
pub fn write_string(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    let mut start = 0;
    for (i, &b) in s.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&s[start..i]);
        if escape.is_empty() {
            out.extend_from_slice(format!("\\u{b:04x}").as_bytes());
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&s[start..]);
    out.push(b'"');
}

/// Writes a json/jsonb document's text (jsonb carries a version byte first).
pub fn write_document(ty: &Type, raw: &[u8], out: &mut Vec<u8>) -> Result<(), ConvertError> {
    let body = if *base_type(ty) == Type::JSONB {
        match raw.split_first() {
            Some((1, rest)) => rest,
            _ => return Err("unsupported jsonb version".into()),
        }
    } else {
        raw
    };
    out.extend_from_slice(body);
    Ok(())
}

/// Writes a binary array of `elem` as nested JSON arrays, one level per dimension.
pub fn write_array(elem: &Type, raw: &[u8], out: &mut Vec<u8>) -> Result<(), ConvertError> {
    use fallible_iterator::FallibleIterator;
    let array = wire::array_from_sql(raw)?;
    let dims: Vec<usize> = array
        .dimensions()
        .map(|d| Ok(d.len.max(0) as usize))
        .collect()?;
    let mut values = array.values();
    let mut scratch = String::new();
    if dims.is_empty() {
        out.extend_from_slice(b"[]");
        return Ok(());
    }
    write_level(elem, &dims, &mut values, out, &mut scratch)
}

fn write_level<'a>(
    elem: &Type,
    dims: &[usize],
    values: &mut wire::ArrayValues<'a>,
    out: &mut Vec<u8>,
    scratch: &mut String,
) -> Result<(), ConvertError> {
    use fallible_iterator::FallibleIterator;
    out.push(b'[');
    for i in 0..dims[0] {
        if i > 0 {
            out.push(b',');
        }
        if dims.len() > 1 {
            write_level(elem, &dims[1..], values, out, scratch)?;
        } else {
            let value = values
                .next()?
                .ok_or("array has fewer values than dimensions")?;
            write_value(elem, value, out, scratch)?;
        }
    }
    out.push(b']');
    Ok(())
}

/// Writes one value as JSON: numbers as numbers where JSON can hold them exactly, everything
/// else as the string [`ElemFix`] expects.
pub fn write_value(
    ty: &Type,
    raw: Option<&[u8]>,
    out: &mut Vec<u8>,
    scratch: &mut String,
) -> Result<(), ConvertError> {
    let Some(raw) = raw else {
        out.extend_from_slice(b"null");
        return Ok(());
    };
    let ty = base_type(ty);
    match *ty {
        Type::BOOL => out.extend_from_slice(if wire::bool_from_sql(raw)? {
            b"true"
        } else {
            b"false"
        }),
        Type::INT2 => out.extend_from_slice(wire::int2_from_sql(raw)?.to_string().as_bytes()),
        Type::INT4 => out.extend_from_slice(wire::int4_from_sql(raw)?.to_string().as_bytes()),
        Type::OID => out.extend_from_slice(wire::oid_from_sql(raw)?.to_string().as_bytes()),
        Type::FLOAT4 | Type::FLOAT8 => {
            scratch.clear();
            if *ty == Type::FLOAT4 {
                text::write_float4(wire::float4_from_sql(raw)?, scratch);
            } else {
                text::write_float(wire::float8_from_sql(raw)?, scratch);
            }
            // JSON has no NaN or Infinity: those go as strings for the JavaScript fix-up.
            if scratch.starts_with(|c: char| c == '-' || c.is_ascii_digit())
                && scratch != "-Infinity"
            {
                out.extend_from_slice(scratch.as_bytes());
            } else {
                write_string(scratch.as_bytes(), out);
            }
        }
        Type::JSON | Type::JSONB => write_document(ty, raw, out)?,
        Type::TIMESTAMP | Type::TIMESTAMPTZ => {
            let ms = super::datetime::timestamp_to_unix_ms(wire::timestamp_from_sql(raw)?);
            if ms.is_finite() {
                out.extend_from_slice((ms as i64).to_string().as_bytes());
            } else {
                out.extend_from_slice(if ms > 0.0 {
                    b"\"infinity\""
                } else {
                    b"\"-infinity\""
                });
            }
        }
        _ => match ty.kind() {
            Kind::Array(inner) => write_array(inner, raw, out)?,
            Kind::Composite(_) | Kind::Range(_) => {
                super::shaped::write_shaped(ty, raw, out, scratch)?
            }
            _ => {
                scratch.clear();
                text::write_text(ty, raw, scratch)?;
                write_string(scratch.as_bytes(), out);
            }
        },
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_strings() {
        let mut out = Vec::new();
        write_string("a\"b\\c\nd\u{1}é😀".as_bytes(), &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"a\\\"b\\\\c\\nd\\u0001é😀\""
        );
    }

    #[test]
    fn values() {
        let mut out = Vec::new();
        let mut s = String::new();
        write_value(&Type::INT8, Some(&42i64.to_be_bytes()), &mut out, &mut s).unwrap();
        out.push(b',');
        write_value(
            &Type::FLOAT8,
            Some(&f64::NAN.to_be_bytes()),
            &mut out,
            &mut s,
        )
        .unwrap();
        out.push(b',');
        write_value(&Type::FLOAT8, Some(&1.5f64.to_be_bytes()), &mut out, &mut s).unwrap();
        out.push(b',');
        write_value(&Type::FLOAT8, Some(&2f64.to_be_bytes()), &mut out, &mut s).unwrap();
        out.push(b',');
        write_value(&Type::INT4, None, &mut out, &mut s).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "\"42\",\"NaN\",1.5,2,null");
    }
}
