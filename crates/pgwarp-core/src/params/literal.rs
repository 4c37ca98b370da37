//! Parameters written as text: PostgreSQL array literals, JSON, and the text input of scalars.
//! Text lets the server parse types whose binary form would be a second implementation here
//! (inet, interval, ranges, enums...), at no measurable cost for parameters.

use postgres_types::{Kind, Type};

use super::encode::{check_integer, mismatch};
use super::Value;
use crate::error::Error;
use crate::types::{base_type, datetime, json, text};

/// The text PostgreSQL should parse for `value` as a `ty`; `None` is NULL.
pub fn scalar_text(value: &Value, ty: &Type, n: usize) -> Result<Option<String>, Error> {
    let ty = base_type(ty);
    Ok(Some(match value {
        Value::Null => return Ok(None),
        Value::String(s) => {
            // Checked here so an array element fails like a scalar would: before sending.
            let ok = if is_integer(ty) {
                s.trim().parse::<i64>().is_ok()
            } else if matches!(*ty, Type::FLOAT4 | Type::FLOAT8) {
                s.trim().parse::<f64>().is_ok()
            } else {
                true
            };
            if !ok {
                let what = if is_integer(ty) {
                    "an integer"
                } else {
                    "a number"
                };
                return Err(mismatch(n, ty, value, what));
            }
            (*s).to_string()
        }
        Value::Bool(b) => {
            if is_numeric(ty) {
                return Err(mismatch(n, ty, value, "a number"));
            }
            (if *b { "true" } else { "false" }).to_string()
        }
        Value::Number(x) => {
            if is_integer(ty) {
                check_integer(*x, ty, n, value)?;
            }
            js_number_text(*x)
        }
        Value::BigInt(s) => (*s).to_string(),
        Value::Date(ms) => {
            let ms = *ms;
            match *ty {
                Type::DATE => datetime::date_text_from_unix_ms(ms)
                    .ok_or_else(|| Error::Parameter(format!("${n}: the Date is invalid")))?,
                Type::TIMESTAMP => iso(ms, false, n)?,
                _ => iso(ms, true, n)?,
            }
        }
        Value::Bytes(b) => {
            let mut s = String::new();
            text::write_hex(b, &mut s);
            s
        }
        Value::Json(s) => (*s).to_string(),
        Value::Array(items) => match ty.kind() {
            Kind::Array(elem) => array_literal(items, elem, n)?,
            _ if is_json(ty) => json_text(value, n)?,
            _ => return Err(mismatch(n, ty, value, "a scalar value")),
        },
    }))
}

fn iso(ms: f64, zone: bool, n: usize) -> Result<String, Error> {
    datetime::iso_from_unix_ms(ms, zone)
        .ok_or_else(|| Error::Parameter(format!("${n}: the Date is invalid")))
}

/// `{...}` with every element quoted, so no element text can break the syntax.
pub fn array_literal(items: &[Value], elem: &Type, n: usize) -> Result<String, Error> {
    let mut out = String::from("{");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match item {
            Value::Array(inner) if !is_json(base_type(elem)) => {
                out.push_str(&array_literal(inner, elem, n)?)
            }
            Value::Json(json) if super::record::is_record(elem) => {
                if let Some(literal) = super::record::object_literal(elem, json, n) {
                    text::push_quoted(&literal?, false, &mut out);
                }
            }
            _ => match scalar_text(item, elem, n)? {
                None => out.push_str("NULL"),
                Some(text) => text::push_quoted(&text, false, &mut out),
            },
        }
    }
    out.push('}');
    Ok(out)
}

/// JSON text of a value, as `JSON.stringify` would write it (a bigint keeps every digit).
pub fn json_text(value: &Value, n: usize) -> Result<String, Error> {
    let mut out = Vec::new();
    write_json(value, n, &mut out)?;
    String::from_utf8(out).map_err(|_| Error::Internal("JSON text is not UTF-8".into()))
}

fn write_json(value: &Value, n: usize, out: &mut Vec<u8>) -> Result<(), Error> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(x) if x.is_finite() => out.extend_from_slice(js_number_text(*x).as_bytes()),
        Value::Number(_) => out.extend_from_slice(b"null"),
        Value::BigInt(s) => out.extend_from_slice(s.as_bytes()),
        Value::String(s) => json::write_string(s.as_bytes(), out),
        Value::Date(ms) => json::write_string(iso(*ms, true, n)?.as_bytes(), out),
        Value::Json(s) => out.extend_from_slice(s.as_bytes()),
        Value::Bytes(_) => {
            return Err(Error::Parameter(format!(
                "${n}: a Buffer cannot be put inside a json value; convert it to a string first"
            )))
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json(item, n, out)?;
            }
            out.push(b']');
        }
    }
    Ok(())
}

/// A number as JavaScript's `String(n)` writes it (`1e+21`, `1e-7`, `0.1`, `NaN`), so a number
/// sent to a text parameter reads as the user would expect.
pub fn js_number_text(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if x == 0.0 {
        return "0".into();
    }
    // `{:e}` gives the shortest round-trip digits: "1.2345e3".
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let exp: i32 = exp.parse().unwrap_or(0);
    let k = digits.len() as i32;
    let n = exp + 1; // position of the decimal point relative to the digits
    let sign = if x < 0.0 { "-" } else { "" };
    let body = if k <= n && n <= 21 {
        format!("{digits}{}", "0".repeat((n - k) as usize))
    } else if 0 < n && n <= 21 {
        format!("{}.{}", &digits[..n as usize], &digits[n as usize..])
    } else if -6 < n && n <= 0 {
        format!("0.{}{digits}", "0".repeat((-n) as usize))
    } else {
        let e = n - 1;
        let e = if e >= 0 {
            format!("+{e}")
        } else {
            e.to_string()
        };
        if k == 1 {
            format!("{digits}e{e}")
        } else {
            format!("{}.{}e{e}", &digits[..1], &digits[1..])
        }
    };
    format!("{sign}{body}")
}

pub(crate) fn is_json(ty: &Type) -> bool {
    matches!(*ty, Type::JSON | Type::JSONB)
}

pub(crate) fn is_integer(ty: &Type) -> bool {
    matches!(*ty, Type::INT2 | Type::INT4 | Type::INT8 | Type::OID)
}

fn is_numeric(ty: &Type) -> bool {
    is_integer(ty) || matches!(*ty, Type::FLOAT4 | Type::FLOAT8 | Type::NUMERIC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_literals_quote_everything() {
        let items = vec![
            Value::String("a\"b"),
            Value::Null,
            Value::String("NULL"),
            Value::Array(vec![Value::Number(1.0)]),
        ];
        assert_eq!(
            array_literal(&items, &Type::TEXT, 1).unwrap(),
            r#"{"a\"b",NULL,"NULL",{"1"}}"#
        );
    }

    #[test]
    fn integer_arrays_are_checked() {
        let items = vec![Value::Number(1.5)];
        let err = array_literal(&items, &Type::INT4, 2).unwrap_err();
        assert!(err.to_string().contains("$2"), "{err}");
    }

    #[test]
    fn numbers_read_like_javascript() {
        let cases = [
            (1e21, "1e+21"),
            (1e-7, "1e-7"),
            (123.456, "123.456"),
            (-0.000001, "-0.000001"),
            (100.0, "100"),
            (1.5e300, "1.5e+300"),
            (0.1, "0.1"),
        ];
        for (x, want) in cases {
            assert_eq!(js_number_text(x), want);
        }
    }

    #[test]
    fn json_keeps_bigint_digits() {
        let v = Value::Array(vec![Value::BigInt("9007199254740993"), Value::String("x")]);
        assert_eq!(json_text(&v, 1).unwrap(), r#"[9007199254740993,"x"]"#);
    }
}
