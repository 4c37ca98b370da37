//! The parameter buffer JavaScript sends with a query: a count, then per value a tag byte and
//! its payload (little-endian). Values borrow from the buffer.

use crate::bytes::Reader;
use crate::error::Error;

/// Tags of the parameter buffer; `src/params/params.ts` writes the same numbers.
pub mod tag {
    /// `null` or `undefined`.
    pub const NULL: u8 = 0;
    /// `true`.
    pub const TRUE: u8 = 1;
    /// `false`.
    pub const FALSE: u8 = 2;
    /// A number: f64.
    pub const NUMBER: u8 = 3;
    /// A bigint: u32 length, then its decimal digits.
    pub const BIGINT: u8 = 4;
    /// A string: u32 length, then UTF-8.
    pub const STRING: u8 = 5;
    /// A Buffer or Uint8Array: u32 length, then the bytes.
    pub const BYTES: u8 = 6;
    /// A Date: f64 milliseconds since the Unix epoch.
    pub const DATE: u8 = 7;
    /// Any other object, already `JSON.stringify`-ed: u32 length, then UTF-8.
    pub const JSON: u8 = 8;
    /// An array: u32 element count, then the elements.
    pub const ARRAY: u8 = 9;
}

/// One JavaScript parameter value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// SQL NULL.
    Null,
    /// A boolean.
    Bool(bool),
    /// A JavaScript number.
    Number(f64),
    /// A bigint, as decimal digits.
    BigInt(&'a str),
    /// A string.
    String(&'a str),
    /// Bytes.
    Bytes(&'a [u8]),
    /// A Date, as milliseconds since the Unix epoch.
    Date(f64),
    /// JSON text of an object.
    Json(&'a str),
    /// An array of values (possibly nested).
    Array(Vec<Value<'a>>),
}

impl Value<'_> {
    /// How the value is named in error messages.
    pub fn describe(&self) -> String {
        match self {
            Value::Null => "null".into(),
            Value::Bool(b) => format!("boolean {b}"),
            Value::Number(n) => format!("number {n}"),
            Value::BigInt(s) => format!("bigint {s}n"),
            Value::String(s) if s.chars().count() > 40 => {
                format!("string {:?}...", s.chars().take(40).collect::<String>())
            }
            Value::String(s) => format!("string {s:?}"),
            Value::Bytes(b) => format!("Buffer of {} bytes", b.len()),
            Value::Date(_) => "Date".into(),
            Value::Json(_) => "object".into(),
            Value::Array(_) => "array".into(),
        }
    }
}

/// Parameters are read with the shared reader, plus the parameter-specific strings.
struct Params<'a>(Reader<'a>);

impl<'a> Params<'a> {
    fn str(&mut self) -> Result<&'a str, Error> {
        let n = self.0.u32_le()? as usize;
        std::str::from_utf8(self.0.take(n)?)
            .map_err(|_| Error::Internal("parameter text is not UTF-8".into()))
    }

    fn value(&mut self, depth: usize) -> Result<Value<'a>, Error> {
        if depth > 64 {
            return Err(Error::Parameter(
                "arrays nested deeper than 64 levels".into(),
            ));
        }
        Ok(match self.0.u8()? {
            tag::NULL => Value::Null,
            tag::TRUE => Value::Bool(true),
            tag::FALSE => Value::Bool(false),
            tag::NUMBER => Value::Number(self.0.f64_le()?),
            tag::BIGINT => Value::BigInt(self.str()?),
            tag::STRING => Value::String(self.str()?),
            tag::BYTES => {
                let n = self.0.u32_le()? as usize;
                Value::Bytes(self.0.take(n)?)
            }
            tag::DATE => Value::Date(self.0.f64_le()?),
            tag::JSON => Value::Json(self.str()?),
            tag::ARRAY => {
                let n = self.0.u32_le()? as usize;
                let mut items = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    items.push(self.value(depth + 1)?);
                }
                Value::Array(items)
            }
            other => return Err(Error::Internal(format!("unknown parameter tag {other}"))),
        })
    }
}

/// Reads every parameter from the buffer.
pub fn decode(buf: &[u8]) -> Result<Vec<Value<'_>>, Error> {
    if buf.is_empty() {
        return Ok(Vec::new());
    }
    let mut r = Params(Reader::new(buf));
    let n = r.0.u32_le()? as usize;
    let mut values = Vec::with_capacity(n.min(buf.len()));
    for _ in 0..n {
        values.push(r.value(0)?);
    }
    if !r.0.is_done() {
        // JavaScript declares every count before the values; bytes left over mean a value
        // said less than it wrote, and the values after it would be misread.
        return Err(Error::Internal(
            "malformed parameters: bytes left over after the last value".into(),
        ));
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_nested_values() {
        let mut b = 3u32.to_le_bytes().to_vec();
        b.push(tag::NUMBER);
        b.extend_from_slice(&1.5f64.to_le_bytes());
        b.push(tag::ARRAY);
        b.extend_from_slice(&2u32.to_le_bytes());
        b.push(tag::NULL);
        b.push(tag::STRING);
        b.extend_from_slice(&2u32.to_le_bytes());
        b.extend_from_slice(b"hi");
        b.push(tag::TRUE);
        assert_eq!(
            decode(&b).unwrap(),
            vec![
                Value::Number(1.5),
                Value::Array(vec![Value::Null, Value::String("hi")]),
                Value::Bool(true)
            ]
        );
    }

    #[test]
    fn truncated_buffers_are_errors_not_panics() {
        let mut b = 1u32.to_le_bytes().to_vec();
        b.push(tag::STRING);
        b.extend_from_slice(&100u32.to_le_bytes());
        assert!(decode(&b).is_err());
        assert!(decode(&[1, 0, 0, 0, 99]).is_err());
        assert!(decode(&[5]).is_err());
        // An array that declared one element but wrote two.
        let mut b = 1u32.to_le_bytes().to_vec();
        b.push(tag::ARRAY);
        b.extend_from_slice(&1u32.to_le_bytes());
        b.push(tag::NULL);
        b.push(tag::NULL);
        assert!(decode(&b).unwrap_err().to_string().contains("left over"));
    }
}
