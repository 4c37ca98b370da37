//! Composite and range parameters given as JavaScript objects (`{ street, city }`,
//! `{ lower, upper, lowerInclusive, upperInclusive, empty }`, the shapes results come in),
//! written as the server's text literals: `("1 Main St","Springfield")`, `[1,10)`.

use postgres_types::{Field, Kind, Type};
use serde_json::Value as Json;

use super::encode::label;
use crate::error::Error;
use crate::types::base_type;

/// Whether `ty` is a composite or a range (after domains).
pub fn is_record(ty: &Type) -> bool {
    matches!(base_type(ty).kind(), Kind::Composite(_) | Kind::Range(_))
}

/// The literal for an object given for composite or range type `ty`; `None` when `ty` is
/// neither.
pub fn object_literal(ty: &Type, json: &str, n: usize) -> Option<Result<String, Error>> {
    if !is_record(ty) {
        return None;
    }
    let ty = base_type(ty);
    Some(
        serde_json::from_str::<Json>(json)
            .map_err(|e| Error::Parameter(format!("${n} ({}): not a JSON object: {e}", label(ty))))
            .and_then(|v| literal(ty, &v, n)),
    )
}

fn literal(ty: &Type, v: &Json, n: usize) -> Result<String, Error> {
    let ty = base_type(ty);
    match (ty.kind(), v) {
        (Kind::Composite(fields), Json::Object(_)) => composite(ty, fields, v, n),
        (Kind::Range(sub), Json::Object(_)) => range(ty, sub, v, n),
        (Kind::Array(elem), Json::Array(items)) => {
            let parts: Result<Vec<String>, Error> = items
                .iter()
                .map(|item| match item {
                    Json::Null => Ok("NULL".to_string()),
                    other => literal(elem, other, n).map(|s| quote(&s)),
                })
                .collect();
            Ok(format!("{{{}}}", parts?.join(",")))
        }
        // A Buffer inside an object reaches here as JSON.stringify writes it.
        (_, Json::Object(o))
            if *ty == Type::BYTEA && o.get("type") == Some(&Json::from("Buffer")) =>
        {
            let bytes = o
                .get("data")
                .and_then(Json::as_array)
                .ok_or_else(|| Error::Parameter(format!("${n}: a Buffer without its data")))?;
            let mut hex = String::with_capacity(2 + bytes.len() * 2);
            hex.push_str("\\x");
            for b in bytes {
                let b = b.as_u64().filter(|b| *b < 256).ok_or_else(|| {
                    Error::Parameter(format!("${n}: a Buffer holds {b}, not a byte"))
                })?;
                hex.push_str(&format!("{b:02x}"));
            }
            Ok(hex)
        }
        // json/jsonb fields take any JSON value as it is (a string stays a JSON string).
        (_, other) if matches!(*ty, Type::JSON | Type::JSONB) => Ok(other.to_string()),
        (_, Json::String(s)) => Ok(s.clone()),
        (_, Json::Bool(b)) => Ok(if *b { "t" } else { "f" }.to_string()),
        (_, Json::Number(x)) => Ok(x.to_string()),
        (_, other) => Err(Error::Parameter(format!(
            "${n}: {} cannot hold {other}",
            label(ty)
        ))),
    }
}

fn composite(ty: &Type, fields: &[Field], v: &Json, n: usize) -> Result<String, Error> {
    let obj = v.as_object().expect("checked by the caller");
    if let Some(unknown) = obj
        .keys()
        .find(|k| !fields.iter().any(|f| f.name() == k.as_str()))
    {
        return Err(Error::Parameter(format!(
            "${n} ({}): no field {unknown:?}; its fields are {}",
            label(ty),
            fields
                .iter()
                .map(|f| f.name())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let mut parts = Vec::with_capacity(fields.len());
    for f in fields {
        parts.push(match obj.get(f.name()) {
            None | Some(Json::Null) => String::new(),
            Some(value) => quote(&literal(f.type_(), value, n)?),
        });
    }
    Ok(format!("({})", parts.join(",")))
}

fn range(ty: &Type, sub: &Type, v: &Json, n: usize) -> Result<String, Error> {
    let obj = v.as_object().expect("checked by the caller");
    const KEYS: [&str; 5] = [
        "lower",
        "upper",
        "lowerInclusive",
        "upperInclusive",
        "empty",
    ];
    if let Some(unknown) = obj.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(Error::Parameter(format!(
            "${n} ({}): no range key {unknown:?}; a range has {}",
            label(ty),
            KEYS.join(", ")
        )));
    }
    // A flag is true, false, or absent: anything else would silently mean its default.
    for key in ["empty", "lowerInclusive", "upperInclusive"] {
        match obj.get(key) {
            None | Some(Json::Null) | Some(Json::Bool(_)) => {}
            Some(other) => {
                return Err(Error::Parameter(format!(
                    "${n} ({}): {key} must be true or false, not {other}",
                    label(ty)
                )))
            }
        }
    }
    if obj.get("empty").and_then(Json::as_bool) == Some(true) {
        return Ok("empty".into());
    }
    let flag = |key: &str, default: bool| obj.get(key).and_then(Json::as_bool).unwrap_or(default);
    let bound = |key: &str| -> Result<String, Error> {
        match obj.get(key) {
            None | Some(Json::Null) => Ok(String::new()),
            Some(value) => literal(sub, value, n).map(|s| quote(&s)),
        }
    };
    // PostgreSQL's canonical form, [lower, upper), unless the object says otherwise.
    Ok(format!(
        "{}{},{}{}",
        if flag("lowerInclusive", true) {
            '['
        } else {
            '('
        },
        bound("lower")?,
        bound("upper")?,
        if flag("upperInclusive", false) {
            ']'
        } else {
            ')'
        },
    ))
}

/// A quoted element of a record, range or array literal: backslashes and quotes escaped.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_and_ranges() {
        assert_eq!(quote(r#"a "b" \c"#), r#""a \"b\" \\c""#);
        let int4range = Type::INT4_RANGE;
        let lit = |s: &str| object_literal(&int4range, s, 1).unwrap();
        assert_eq!(lit(r#"{"lower":1,"upper":5}"#).unwrap(), r#"["1","5")"#);
        assert_eq!(
            lit(r#"{"lower":null,"upper":5,"upperInclusive":true}"#).unwrap(),
            r#"[,"5"]"#
        );
        assert_eq!(lit(r#"{"empty":true}"#).unwrap(), "empty");
        assert!(lit(r#"{"lo":1}"#)
            .unwrap_err()
            .to_string()
            .contains("no range key \"lo\""));
        assert!(object_literal(&Type::INT4, "{}", 1).is_none());
        assert!(lit(r#"{"empty":"yes"}"#)
            .unwrap_err()
            .to_string()
            .contains("empty must be true or false"));
        assert!(lit(r#"{"lower":1,"upperInclusive":1}"#).is_err());
    }
}
