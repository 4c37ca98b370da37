//! `tsvector` and `hstore` from binary to PostgreSQL's text.

use std::fmt::Write;

use super::text::push_quoted;
use super::ConvertError;
use crate::bytes::Reader;

/// `'fat':2,4A 'cat':3` from tsvector's binary form (lexemes with weighted positions).
pub fn write_tsvector(raw: &[u8], out: &mut String) -> Result<(), ConvertError> {
    let mut r = Reader::new(raw);
    let count = r.i32_be()?;
    for i in 0..count.max(0) {
        if i > 0 {
            out.push(' ');
        }
        out.push('\'');
        for c in std::str::from_utf8(r.cstr()?)?.chars() {
            if c == '\'' || c == '\\' {
                out.push(c);
            }
            out.push(c);
        }
        out.push('\'');
        let positions = r.u16_be()?;
        for p in 0..positions {
            let word = r.u16_be()?;
            out.push(if p == 0 { ':' } else { ',' });
            write!(out, "{}", word & 0x3FFF)?;
            match word >> 14 {
                3 => out.push('A'),
                2 => out.push('B'),
                1 => out.push('C'),
                _ => {}
            }
        }
    }
    Ok(())
}

/// `"a"=>"1", "b"=>NULL` from hstore's binary form.
pub fn write_hstore(raw: &[u8], out: &mut String) -> Result<(), ConvertError> {
    let mut r = Reader::new(raw);
    let count = r.i32_be()?;
    for i in 0..count.max(0) {
        if i > 0 {
            out.push_str(", ");
        }
        let key_len = r.i32_be()?;
        push_quoted(
            std::str::from_utf8(r.take(key_len.max(0) as usize)?)?,
            false,
            out,
        );
        out.push_str("=>");
        let value_len = r.i32_be()?;
        if value_len < 0 {
            out.push_str("NULL");
        } else {
            push_quoted(
                std::str::from_utf8(r.take(value_len as usize)?)?,
                false,
                out,
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsvector() {
        let mut raw = 2i32.to_be_bytes().to_vec();
        raw.extend_from_slice(b"cat\0");
        raw.extend_from_slice(&1u16.to_be_bytes());
        raw.extend_from_slice(&3u16.to_be_bytes());
        raw.extend_from_slice(b"it's\0");
        raw.extend_from_slice(&2u16.to_be_bytes());
        raw.extend_from_slice(&2u16.to_be_bytes());
        raw.extend_from_slice(&(4u16 | 0xC000).to_be_bytes());
        let mut s = String::new();
        write_tsvector(&raw, &mut s).unwrap();
        assert_eq!(s, "'cat':3 'it''s':2,4A");
    }

    #[test]
    fn hstore() {
        let mut raw = 2i32.to_be_bytes().to_vec();
        for (k, v) in [("a", Some("1\"")), ("b", None)] {
            raw.extend_from_slice(&(k.len() as i32).to_be_bytes());
            raw.extend_from_slice(k.as_bytes());
            match v {
                Some(v) => {
                    raw.extend_from_slice(&(v.len() as i32).to_be_bytes());
                    raw.extend_from_slice(v.as_bytes());
                }
                None => raw.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
        let mut s = String::new();
        write_hstore(&raw, &mut s).unwrap();
        assert_eq!(s, r#""a"=>"1\"", "b"=>NULL"#);
    }
}
