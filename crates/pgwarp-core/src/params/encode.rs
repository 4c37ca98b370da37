//! Each parameter encoded for its statement parameter type, before anything is sent: a value
//! that does not fit is refused here with a message naming `$n` and the type.

use postgres_types::{Kind, Type};

use super::literal::{array_literal, is_integer, is_json, json_text, scalar_text};
use super::Value;
use crate::error::Error;
use crate::types::{base_type, datetime};

/// A parameter ready for the Bind message.
#[derive(Debug)]
pub struct Encoded {
    binary: bool,
    bytes: Option<Vec<u8>>,
}

impl Encoded {
    /// The bytes to send (`None` for NULL), and whether they are in the type's binary form.
    pub fn parts(&self) -> (Option<&[u8]>, bool) {
        (self.bytes.as_deref(), self.binary)
    }

    fn binary(bytes: Vec<u8>) -> Self {
        Encoded {
            binary: true,
            bytes: Some(bytes),
        }
    }

    fn text(text: Option<String>) -> Self {
        Encoded {
            binary: false,
            bytes: text.map(String::into_bytes),
        }
    }
}

/// Encodes every value for the statement's parameter types.
pub fn encode_all(values: &[Value], types: &[Type]) -> Result<Vec<Encoded>, Error> {
    if values.len() != types.len() {
        let expected = match types.len() {
            0 => "no parameters".to_string(),
            1 => "1 parameter ($1)".to_string(),
            k => format!("{k} parameters ($1..${k})"),
        };
        return Err(Error::Parameter(format!(
            "the query takes {expected} but {} {} given",
            values.len(),
            if values.len() == 1 { "was" } else { "were" }
        )));
    }
    values
        .iter()
        .zip(types)
        .enumerate()
        .map(|(i, (v, t))| encode(v, t, i + 1))
        .collect()
}

/// Encodes values as node-postgres sends them: strings as their text whatever the parameter's
/// type (the server parses it, and refuses it with its own error), bytes as the type's binary
/// form, integers as their decimal text (what `String(n)` gives; JavaScript sends them as
/// numbers so as not to make a string per value); anything else as [`encode_all`] would.
pub fn encode_verbatim(values: &[Value], types: &[Type]) -> Result<Vec<Encoded>, Error> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| match (v, types.get(i)) {
            (Value::Null, _) => Ok(Encoded::text(None)),
            (Value::String(s), _) => Ok(Encoded::text(Some((*s).to_string()))),
            (Value::Number(x), _) if is_safe_integer(*x) => {
                Ok(Encoded::text(Some((*x as i64).to_string())))
            }
            (Value::Bytes(b), _) => Ok(Encoded::binary(b.to_vec())),
            (_, Some(t)) => encode(v, t, i + 1),
            // No type to go by (the unnamed statement, or more values than the statement
            // takes, which the server refuses itself): as text, for the server to parse.
            (_, None) => encode_untyped(std::slice::from_ref(v)).map(|mut e| e.remove(0)),
        })
        .collect()
}

/// Whether `x` is an integer JavaScript holds exactly (`Number.isSafeInteger`), whose
/// `String(x)` is its plain decimal digits.
fn is_safe_integer(x: f64) -> bool {
    x.fract() == 0.0 && x.abs() <= 9_007_199_254_740_991.0
}

/// Encodes values with no statement types to go by (unnamed statements): all as text, which
/// the server parses for the type it infers.
pub fn encode_untyped(values: &[Value]) -> Result<Vec<Encoded>, Error> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let n = i + 1;
            Ok(Encoded::text(match v {
                Value::Array(items) => Some(array_literal(items, &Type::TEXT, n)?),
                // Written as for a timestamptz only so a Date keeps its zone (`...Z`); every
                // other value is written the same whatever the type.
                _ => scalar_text(v, &Type::TIMESTAMPTZ, n)?,
            }))
        })
        .collect()
}

pub(crate) fn mismatch(n: usize, ty: &Type, value: &Value, expected: &str) -> Error {
    Error::Parameter(format!(
        "${n} ({}): expected {expected}, got {}",
        label(ty),
        value.describe()
    ))
}

/// The type as SQL spells it (`int4[]`, not the catalog's `_int4`).
pub(crate) fn label(ty: &Type) -> String {
    match ty.kind() {
        Kind::Array(elem) => format!("{}[]", label(elem)),
        _ => ty.name().to_string(),
    }
}

pub(crate) fn check_integer(x: f64, ty: &Type, n: usize, value: &Value) -> Result<i64, Error> {
    if !x.is_finite() || x.fract() != 0.0 {
        return Err(mismatch(n, ty, value, "an integer"));
    }
    if x.abs() > 9_007_199_254_740_991.0 {
        return Err(Error::Parameter(format!(
            "${n} ({}): {} is beyond +/-2^53-1 and may already have been rounded; pass a bigint or a string",
            label(ty),
            value.describe()
        )));
    }
    check_range(x as i64, ty, n, value)
}

fn check_range(v: i64, ty: &Type, n: usize, value: &Value) -> Result<i64, Error> {
    let (lo, hi) = match *ty {
        Type::INT2 => (i16::MIN as i64, i16::MAX as i64),
        Type::INT4 => (i32::MIN as i64, i32::MAX as i64),
        Type::OID => (0, u32::MAX as i64),
        _ => (i64::MIN, i64::MAX),
    };
    if v < lo || v > hi {
        return Err(Error::Parameter(format!(
            "${n} ({}): {} is out of range ({lo} to {hi})",
            label(ty),
            value.describe()
        )));
    }
    Ok(v)
}

fn integer_bytes(v: i64, ty: &Type) -> Vec<u8> {
    match *ty {
        Type::INT2 => (v as i16).to_be_bytes().to_vec(),
        Type::INT4 => (v as i32).to_be_bytes().to_vec(),
        Type::OID => (v as u32).to_be_bytes().to_vec(),
        _ => v.to_be_bytes().to_vec(),
    }
}

/// Refuses what the server would: a value past the type's range, or one so small it would
/// become 0 (a string that overflowed f64 parses as infinity; only the infinity spellings
/// may give one).
fn check_float(x: f64, value: &Value, ty: &Type, n: usize) -> Result<(), Error> {
    let text = match value {
        Value::String(s) | Value::BigInt(s) => Some(s.trim()),
        _ => None,
    };
    let spelled_infinite = text.is_some_and(|t| {
        t.trim_start_matches(['+', '-'])
            .to_ascii_lowercase()
            .starts_with("inf")
    });
    let spelled_zero = text.is_some_and(|t| {
        let mantissa = t.split(['e', 'E']).next().unwrap_or("");
        !mantissa.bytes().any(|b| (b'1'..=b'9').contains(&b))
    });
    // A text (or bigint) past f64's range already parsed to infinity or 0.
    let text_overflow = x.is_infinite() && text.is_some() && !spelled_infinite;
    let text_underflow = x == 0.0 && text.is_some() && !spelled_zero;
    let (overflow, underflow) = if *ty == Type::FLOAT4 {
        let y = x as f32;
        (
            text_overflow || (x.is_finite() && y.is_infinite()),
            text_underflow || (x != 0.0 && x.is_finite() && y == 0.0),
        )
    } else {
        (text_overflow, text_underflow)
    };
    if overflow || underflow {
        let shown = match value {
            Value::Number(x) => format!("{x:e}").replace("e", "e+").replace("e+-", "e-"),
            _ => value.describe(),
        };
        return Err(Error::Parameter(format!(
            "${n} ({}): {shown} is out of range for type {}",
            label(ty),
            label(ty)
        )));
    }
    Ok(())
}

fn float_bytes(x: f64, ty: &Type) -> Vec<u8> {
    if *ty == Type::FLOAT4 {
        (x as f32).to_be_bytes().to_vec()
    } else {
        x.to_be_bytes().to_vec()
    }
}

/// Encodes one value for `declared`; errors name it `$n`.
pub fn encode(value: &Value, declared: &Type, n: usize) -> Result<Encoded, Error> {
    let ty = base_type(declared);
    if let Value::Null = value {
        return Ok(Encoded::text(None));
    }
    if is_integer(ty) {
        let v = match value {
            Value::Number(x) => check_integer(*x, ty, n, value)?,
            Value::BigInt(s) | Value::String(s) => {
                let parsed = s.trim().parse::<i64>();
                check_range(
                    parsed.map_err(|_| mismatch(n, ty, value, "an integer"))?,
                    ty,
                    n,
                    value,
                )?
            }
            _ => return Err(mismatch(n, ty, value, "an integer")),
        };
        return Ok(Encoded::binary(integer_bytes(v, ty)));
    }
    match (*ty).clone() {
        Type::FLOAT4 | Type::FLOAT8 => {
            let x = match value {
                Value::Number(x) => *x,
                Value::BigInt(s) | Value::String(s) => s
                    .trim()
                    .parse::<f64>()
                    .map_err(|_| mismatch(n, ty, value, "a number"))?,
                _ => return Err(mismatch(n, ty, value, "a number")),
            };
            check_float(x, value, ty, n)?;
            Ok(Encoded::binary(float_bytes(x, ty)))
        }
        Type::BOOL => match value {
            Value::Bool(b) => Ok(Encoded::binary(vec![*b as u8])),
            Value::String(_) => Ok(Encoded::text(scalar_text(value, ty, n)?)),
            _ => Err(mismatch(n, ty, value, "a boolean")),
        },
        Type::BYTEA => match value {
            Value::Bytes(b) => Ok(Encoded::binary(b.to_vec())),
            Value::String(_) => Ok(Encoded::text(scalar_text(value, ty, n)?)),
            _ => Err(mismatch(n, ty, value, "a Buffer")),
        },
        Type::TIMESTAMP | Type::TIMESTAMPTZ | Type::DATE => match value {
            Value::Date(ms) => {
                let micros = datetime::unix_ms_to_timestamp(*ms)
                    .ok_or_else(|| Error::Parameter(format!("${n}: the Date is invalid")))?;
                if *ty == Type::DATE {
                    let days = micros.div_euclid(datetime::DAY_US);
                    Ok(Encoded::binary((days as i32).to_be_bytes().to_vec()))
                } else {
                    Ok(Encoded::binary(micros.to_be_bytes().to_vec()))
                }
            }
            Value::String(_) => Ok(Encoded::text(scalar_text(value, ty, n)?)),
            _ => Err(mismatch(n, ty, value, "a Date or a string")),
        },
        Type::JSON | Type::JSONB => match value {
            // A string is taken as JSON text, as pg and postgres.js do.
            Value::String(_) | Value::Json(_) => Ok(Encoded::text(scalar_text(value, ty, n)?)),
            _ => Ok(Encoded::text(Some(json_text(value, n)?))),
        },
        _ => match (ty.kind(), value) {
            (Kind::Composite(_) | Kind::Range(_), Value::Json(text)) => {
                match super::record::object_literal(ty, text, n) {
                    Some(literal) => Ok(Encoded::text(Some(literal?))),
                    None => Ok(Encoded::text(scalar_text(value, ty, n)?)),
                }
            }
            (Kind::Array(_), Value::Array(_) | Value::String(_)) => {
                Ok(Encoded::text(scalar_text(value, ty, n)?))
            }
            (Kind::Array(_), _) => Err(mismatch(n, ty, value, "an array")),
            (_, Value::Array(_)) if !is_json(ty) => {
                Err(mismatch(n, ty, value, "a scalar value, not an array"))
            }
            (_, Value::Bytes(_)) => Err(mismatch(n, ty, value, "a string")),
            _ => Ok(Encoded::text(scalar_text(value, ty, n)?)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(v: Value, ty: Type) -> Result<Encoded, Error> {
        encode_all(&[v], &[ty]).map(|mut e| e.remove(0))
    }

    #[test]
    fn integers_are_checked_and_binary() {
        let e = one(Value::Number(7.0), Type::INT4).unwrap();
        assert_eq!(e.bytes.unwrap(), 7i32.to_be_bytes());
        assert!(one(Value::Number(1.5), Type::INT4).is_err());
        assert!(one(Value::Number(40000.0), Type::INT2).is_err());
        let e = one(Value::String("x"), Type::INT8).unwrap_err().to_string();
        assert_eq!(e, "$1 (int8): expected an integer, got string \"x\"");
        let e = one(Value::BigInt("9223372036854775807"), Type::INT8).unwrap();
        assert_eq!(e.bytes.unwrap(), i64::MAX.to_be_bytes());
        assert!(one(Value::Number(2f64.powi(60)), Type::INT8).is_err());
    }

    #[test]
    fn counts_must_match() {
        let e = encode_all(&[Value::Null], &[Type::INT4, Type::TEXT]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the query takes 2 parameters ($1..$2) but 1 was given"
        );
    }

    #[test]
    fn dates_encode_in_utc() {
        let e = one(Value::Date(946_684_800_000.0 + 86_400_000.0), Type::DATE).unwrap();
        assert_eq!(e.bytes.unwrap(), 1i32.to_be_bytes());
        let e = one(Value::Date(946_684_800_001.0), Type::TIMESTAMPTZ).unwrap();
        assert_eq!(e.bytes.unwrap(), 1000i64.to_be_bytes());
    }

    #[test]
    fn floats_out_of_range_are_refused() {
        let e = one(Value::Number(1e300), Type::FLOAT4)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "$1 (float4): 1e+300 is out of range for type float4");
        assert!(one(Value::Number(1e-50), Type::FLOAT4).is_err());
        assert!(one(Value::String("1e400"), Type::FLOAT8).is_err());
        assert!(one(Value::String("1e400"), Type::FLOAT4).is_err());
        assert!(one(Value::String("1e-400"), Type::FLOAT4).is_err());
        let huge = format!("1{}", "0".repeat(1000));
        assert!(one(Value::BigInt(&huge), Type::FLOAT4).is_err());
        assert!(one(Value::BigInt(&huge), Type::FLOAT8).is_err());
        assert!(one(Value::String("inf"), Type::FLOAT4).is_ok());
        assert!(one(Value::String("1e-400"), Type::FLOAT8).is_err());
        assert!(one(Value::String("-Infinity"), Type::FLOAT8).is_ok());
        assert!(one(Value::String("0.000"), Type::FLOAT4).is_ok());
        assert!(one(Value::Number(f64::INFINITY), Type::FLOAT4).is_ok());
        assert!(one(Value::Number(f64::NAN), Type::FLOAT4).is_ok());
        assert!(one(Value::Number(3.4e38), Type::FLOAT4).is_ok());
    }

    #[test]
    fn verbatim_integers_are_their_decimal_text() {
        let text = |v: Value, types: &[Type]| {
            let e = encode_verbatim(&[v], types).unwrap().remove(0);
            assert!(!e.binary);
            String::from_utf8(e.bytes.unwrap()).unwrap()
        };
        assert_eq!(text(Value::Number(7.0), &[Type::INT4]), "7");
        assert_eq!(text(Value::Number(-0.0), &[Type::TEXT]), "0");
        assert_eq!(
            text(Value::Number(-9_007_199_254_740_991.0), &[]),
            "-9007199254740991"
        );
        // Out of JavaScript's exact range, or not integers: as the statement's type says.
        let e = encode_verbatim(&[Value::Number(1.5)], &[Type::FLOAT8])
            .unwrap()
            .remove(0);
        assert!(e.binary);
        assert!(encode_verbatim(&[Value::Number(2f64.powi(60))], &[Type::INT8]).is_err());
    }

    #[test]
    fn objects_refused_for_scalars() {
        let e = one(Value::Json("{}"), Type::INT4).unwrap_err().to_string();
        assert!(e.contains("$1 (int4)"), "{e}");
        assert!(one(Value::Bool(true), Type::TIMESTAMPTZ).is_err());
    }
}
