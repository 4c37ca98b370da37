//! Rows for `COPY ... FROM STDIN`, encoded from the values JavaScript sends (the parameter
//! wire format, row after row): binary COPY when every column's type has a binary form here,
//! text COPY otherwise (the server then parses types such as numeric, interval or ranges, as
//! it does for text parameters). Both run on the engine's threads.

use postgres_types::{Kind, Type};

use super::encode::{encode, label};
use super::literal::scalar_text;
use super::wire::{self, Value};
use crate::error::Error;
use crate::types::base_type;

/// Start of a binary COPY stream: the signature, no flags, no header extension.
const BINARY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// End of a binary COPY stream: a field count of -1.
const BINARY_TRAILER: &[u8] = &[0xff, 0xff];

/// Encodes rows for one table's columns.
pub struct RowEncoder {
    types: Vec<Type>,
    names: Vec<String>,
    binary: bool,
}

/// Whether every value of `ty` can be written in its binary form: the types `encode` writes
/// in binary, and those whose binary form is their text (or close to it).
fn has_binary(ty: &Type) -> bool {
    let ty = base_type(ty);
    matches!(
        *ty,
        Type::INT2
            | Type::INT4
            | Type::INT8
            | Type::OID
            | Type::FLOAT4
            | Type::FLOAT8
            | Type::BOOL
            | Type::BYTEA
            | Type::TEXT
            | Type::VARCHAR
            | Type::BPCHAR
            | Type::NAME
            | Type::JSON
            | Type::JSONB
            | Type::UUID
    ) || matches!(ty.kind(), Kind::Enum(_))
}

impl RowEncoder {
    /// An encoder for columns of these types and names (for error messages).
    pub fn new(types: Vec<Type>, names: Vec<String>) -> RowEncoder {
        let binary = types.iter().all(has_binary);
        RowEncoder {
            types,
            names,
            binary,
        }
    }

    /// Whether the COPY must say `FORMAT binary`.
    pub fn binary(&self) -> bool {
        self.binary
    }

    /// What the stream starts with.
    pub fn header(&self) -> &'static [u8] {
        if self.binary {
            BINARY_HEADER
        } else {
            b""
        }
    }

    /// What the stream ends with.
    pub fn trailer(&self) -> &'static [u8] {
        if self.binary {
            BINARY_TRAILER
        } else {
            b""
        }
    }

    /// Encodes a batch of rows: `data` holds their values in the parameter wire format, row
    /// after row. `first_row` (0-based) numbers the rows in error messages. Returns the COPY
    /// data and the number of rows.
    pub fn encode(&self, data: &[u8], first_row: u64) -> Result<(Vec<u8>, u64), Error> {
        let values = wire::decode(data)?;
        let n = self.types.len();
        if n == 0 || values.len() % n != 0 {
            return Err(Error::Internal(format!(
                "a batch of {} values does not divide into rows of {n} columns",
                values.len()
            )));
        }
        let mut out = Vec::with_capacity(data.len() + data.len() / 4);
        for (r, row) in values.chunks(n).enumerate() {
            let row_no = first_row + r as u64;
            if self.binary {
                out.extend_from_slice(&(n as i16).to_be_bytes());
            }
            for (c, value) in row.iter().enumerate() {
                let field = if self.binary {
                    self.binary_field(value, c, &mut out)
                } else {
                    if c > 0 {
                        out.push(b'\t');
                    }
                    self.text_field(value, c, &mut out)
                };
                field.map_err(|e| self.locate(e, c, row_no))?;
            }
            if !self.binary {
                out.push(b'\n');
            }
        }
        Ok((out, (values.len() / n) as u64))
    }

    fn binary_field(&self, value: &Value, c: usize, out: &mut Vec<u8>) -> Result<(), Error> {
        let ty = &self.types[c];
        let encoded = encode(value, ty, c + 1)?;
        match encoded.parts() {
            (None, _) => out.extend_from_slice(&(-1i32).to_be_bytes()),
            (Some(bytes), true) => {
                out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
                out.extend_from_slice(bytes);
            }
            (Some(text), false) => {
                let at = out.len();
                out.extend_from_slice(&[0; 4]);
                binary_from_text(base_type(ty), text, c + 1, out)?;
                let len = (out.len() - at - 4) as i32;
                out[at..at + 4].copy_from_slice(&len.to_be_bytes());
            }
        }
        Ok(())
    }

    fn text_field(&self, value: &Value, c: usize, out: &mut Vec<u8>) -> Result<(), Error> {
        let ty = &self.types[c];
        if let Value::Bytes(_) = value {
            if *base_type(ty) != Type::BYTEA {
                return Err(super::encode::mismatch(c + 1, ty, value, "a string"));
            }
        }
        match scalar_text(value, ty, c + 1)? {
            None => out.extend_from_slice(b"\\N"),
            Some(text) => escape_text(text.as_bytes(), out),
        }
        Ok(())
    }

    /// Rewrites a value error's `$n` into the row and column it came from.
    fn locate(&self, err: Error, c: usize, row: u64) -> Error {
        match err {
            Error::Parameter(m) => {
                let rest = m.strip_prefix(&format!("${}", c + 1)).unwrap_or(&m);
                let rest = rest
                    .strip_prefix(&format!(" ({})", label(&self.types[c])))
                    .unwrap_or(rest);
                Error::Parameter(format!(
                    "copyRows row {row}, column \"{}\" ({}){rest}",
                    self.names[c],
                    label(&self.types[c])
                ))
            }
            other => other,
        }
    }
}

/// The binary form of a value `encode` wrote as text, for the types [`has_binary`] admits.
fn binary_from_text(ty: &Type, text: &[u8], n: usize, out: &mut Vec<u8>) -> Result<(), Error> {
    let refuse = |expected: &str| {
        Error::Parameter(format!(
            "${n} ({}): expected {expected}, got {:?}",
            label(ty),
            String::from_utf8_lossy(text)
        ))
    };
    match *ty {
        Type::JSONB => {
            out.push(1);
            out.extend_from_slice(text);
        }
        Type::BOOL => {
            let t = String::from_utf8_lossy(text).trim().to_ascii_lowercase();
            let v = match t.as_str() {
                "t" | "true" | "y" | "yes" | "on" | "1" => 1,
                "f" | "false" | "n" | "no" | "off" | "0" => 0,
                _ => return Err(refuse("a boolean")),
            };
            out.push(v);
        }
        Type::UUID => {
            let hex: Vec<u8> = text
                .iter()
                .copied()
                .filter(|b| !matches!(b, b'-' | b'{' | b'}'))
                .collect();
            if hex.len() != 32 {
                return Err(refuse("a UUID"));
            }
            decode_hex(&hex, out).ok_or_else(|| refuse("a UUID"))?;
        }
        Type::BYTEA => {
            let hex = text
                .strip_prefix(b"\\x")
                .ok_or_else(|| refuse("a Buffer or '\\x...' hex text"))?;
            decode_hex(hex, out).ok_or_else(|| refuse("a Buffer or '\\x...' hex text"))?;
        }
        // Text types, json and enums: the binary form is the UTF-8 text itself.
        _ => out.extend_from_slice(text),
    }
    Ok(())
}

fn decode_hex(hex: &[u8], out: &mut Vec<u8>) -> Option<()> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    let digit = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    for pair in hex.chunks(2) {
        out.push(digit(pair[0])? << 4 | digit(pair[1])?);
    }
    Some(())
}

/// COPY's text format: backslash escapes for the characters that delimit fields and rows.
fn escape_text(text: &[u8], out: &mut Vec<u8>) {
    for &b in text {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => out.push(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(values: &[(u8, &[u8])]) -> Vec<u8> {
        let mut b = (values.len() as u32).to_le_bytes().to_vec();
        for (tag, payload) in values {
            b.push(*tag);
            b.extend_from_slice(payload);
        }
        b
    }

    fn string(s: &str) -> Vec<u8> {
        let mut b = (s.len() as u32).to_le_bytes().to_vec();
        b.extend_from_slice(s.as_bytes());
        b
    }

    #[test]
    fn binary_rows() {
        let e = RowEncoder::new(vec![Type::INT4, Type::TEXT], vec!["a".into(), "b".into()]);
        assert!(e.binary());
        let data = batch(&[
            (wire::tag::NUMBER, &7f64.to_le_bytes()),
            (wire::tag::STRING, &string("hi")),
            (wire::tag::NULL, b""),
            (wire::tag::STRING, &string("")),
        ]);
        let (out, _) = e.encode(&data, 0).unwrap();
        let mut want = vec![0, 2, 0, 0, 0, 4, 0, 0, 0, 7, 0, 0, 0, 2, b'h', b'i'];
        want.extend_from_slice(&[0, 2, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
        assert_eq!(out, want);
    }

    #[test]
    fn text_rows_escape_delimiters() {
        let e = RowEncoder::new(
            vec![Type::NUMERIC, Type::TEXT],
            vec!["a".into(), "b".into()],
        );
        assert!(!e.binary());
        let data = batch(&[
            (wire::tag::STRING, &string("1.50")),
            (wire::tag::STRING, &string("a\tb\nc\\")),
            (wire::tag::NULL, b""),
            (wire::tag::NULL, b""),
        ]);
        let (out, _) = e.encode(&data, 0).unwrap();
        assert_eq!(out, b"1.50\ta\\tb\\nc\\\\\n\\N\t\\N\n");
    }

    #[test]
    fn errors_name_row_and_column() {
        let e = RowEncoder::new(vec![Type::INT4], vec!["qty".into()]);
        let data = batch(&[
            (wire::tag::NUMBER, &1f64.to_le_bytes()),
            (wire::tag::STRING, &string("x")),
        ]);
        let err = e.encode(&data, 10).unwrap_err().to_string();
        assert_eq!(
            err,
            "copyRows row 11, column \"qty\" (int4): expected an integer, got string \"x\""
        );
    }

    #[test]
    fn uuid_and_bool_text_become_binary() {
        let e = RowEncoder::new(vec![Type::UUID, Type::BOOL], vec!["u".into(), "b".into()]);
        let data = batch(&[
            (
                wire::tag::STRING,
                &string("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
            ),
            (wire::tag::STRING, &string("yes")),
        ]);
        let (out, _) = e.encode(&data, 0).unwrap();
        assert_eq!(&out[2..6], &16i32.to_be_bytes());
        assert_eq!(out[6], 0xa0);
        assert_eq!(&out[22..], &[0, 0, 0, 1, 1]);
    }
}
