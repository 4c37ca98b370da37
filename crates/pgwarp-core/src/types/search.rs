//! `tsvector` and `hstore` from binary to PostgreSQL's text.

use std::fmt::Write;

use super::ConvertError;

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ConvertError> {
        if self.0.len() < n {
            return Err("value is truncated".into());
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn i32(&mut self) -> Result<i32, ConvertError> {
        Ok(i32::from_be_bytes(self.take(4)?.try_into()?))
    }

    fn u16(&mut self) -> Result<u16, ConvertError> {
        Ok(u16::from_be_bytes(self.take(2)?.try_into()?))
    }

    fn cstr(&mut self) -> Result<&'a str, ConvertError> {
        let end = self
            .0
            .iter()
            .position(|b| *b == 0)
            .ok_or("unterminated string")?;
        let s = std::str::from_utf8(&self.0[..end])?;
        self.0 = &self.0[end + 1..];
        Ok(s)
    }
}

/// `'fat':2,4A 'cat':3` from tsvector's binary form (lexemes with weighted positions).
pub fn write_tsvector(raw: &[u8], out: &mut String) -> Result<(), ConvertError> {
    let mut r = Reader(raw);
    let count = r.i32()?;
    for i in 0..count.max(0) {
        if i > 0 {
            out.push(' ');
        }
        out.push('\'');
        for c in r.cstr()?.chars() {
            if c == '\'' || c == '\\' {
                out.push(c);
            }
            out.push(c);
        }
        out.push('\'');
        let positions = r.u16()?;
        for p in 0..positions {
            let word = r.u16()?;
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

fn push_quoted(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// `"a"=>"1", "b"=>NULL` from hstore's binary form.
pub fn write_hstore(raw: &[u8], out: &mut String) -> Result<(), ConvertError> {
    let mut r = Reader(raw);
    let count = r.i32()?;
    for i in 0..count.max(0) {
        if i > 0 {
            out.push_str(", ");
        }
        let key_len = r.i32()?;
        push_quoted(std::str::from_utf8(r.take(key_len.max(0) as usize)?)?, out);
        out.push_str("=>");
        let value_len = r.i32()?;
        if value_len < 0 {
            out.push_str("NULL");
        } else {
            push_quoted(std::str::from_utf8(r.take(value_len as usize)?)?, out);
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
