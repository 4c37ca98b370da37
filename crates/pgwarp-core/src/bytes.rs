//! A bounds-checked reader over bytes, for every format the engine parses: the parameter and
//! request batches from JavaScript (little-endian) and binary values from the server
//! (big-endian). Running past the end is an error, never a panic.

use std::fmt;

/// The input ended before a value was complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncated;

impl fmt::Display for Truncated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("value is truncated")
    }
}

impl std::error::Error for Truncated {}

impl From<Truncated> for crate::error::Error {
    fn from(_: Truncated) -> Self {
        crate::error::Error::Internal("a buffer from JavaScript is truncated".into())
    }
}

/// Reads values one after another from a slice.
pub struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, at: 0 }
    }

    /// Whether everything has been read.
    pub fn is_done(&self) -> bool {
        self.at >= self.buf.len()
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], Truncated> {
        let end = self
            .at
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or(Truncated)?;
        let s = &self.buf[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Truncated> {
        self.take(N)?.try_into().map_err(|_| Truncated)
    }

    /// One byte.
    pub fn u8(&mut self) -> Result<u8, Truncated> {
        Ok(self.array::<1>()?[0])
    }

    /// A little-endian u32 (JavaScript's batches).
    pub fn u32_le(&mut self) -> Result<u32, Truncated> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    /// A little-endian f64 (JavaScript's batches).
    pub fn f64_le(&mut self) -> Result<f64, Truncated> {
        Ok(f64::from_le_bytes(self.array()?))
    }

    /// A big-endian u16 (the server's binary values).
    pub fn u16_be(&mut self) -> Result<u16, Truncated> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// A big-endian i32.
    pub fn i32_be(&mut self) -> Result<i32, Truncated> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    /// A big-endian u32.
    pub fn u32_be(&mut self) -> Result<u32, Truncated> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// A big-endian f64.
    pub fn f64_be(&mut self) -> Result<f64, Truncated> {
        Ok(f64::from_be_bytes(self.array()?))
    }

    /// The bytes up to the next NUL, which is consumed too.
    pub fn cstr(&mut self) -> Result<&'a [u8], Truncated> {
        let rest = &self.buf[self.at.min(self.buf.len())..];
        let end = rest.iter().position(|b| *b == 0).ok_or(Truncated)?;
        self.at += end + 1;
        Ok(&rest[..end])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_refuses_to_overrun() {
        let mut r = Reader::new(&[1, 0, 0, 0, b'h', b'i', 0, 0, 7]);
        assert_eq!(r.u32_le(), Ok(1));
        assert_eq!(r.cstr(), Ok(&b"hi"[..]));
        assert_eq!(r.u16_be(), Ok(7));
        assert!(r.is_done());
        assert_eq!(r.u8(), Err(Truncated));
        assert_eq!(Reader::new(&[0; 3]).u32_be(), Err(Truncated));
        assert_eq!(Reader::new(&[1, 2]).cstr(), Err(Truncated));
    }
}
