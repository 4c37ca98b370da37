//! The result buffer, as `src/result/decode.ts` reads it. Little-endian throughout.
//!
//! ```text
//! 0   u8   status: 0 rows follow, 1 an error follows (see `Error::encode`)
//! 1   u8   flags: bit 0 = the string region is pure ASCII (JS may decode it as latin1);
//!          bit 1 = more pages follow (ask for them with the cursor id at 44);
//!          bits 2-3 = the connection's transaction status after the statement, on a
//!          reserved connection (see [`stamp_status`]); bits 4-7 = the host that answered
//!          (see [`stamp_host`])
//! 2   u16  column count
//! 4   u32  rows encoded
//! 8   f64  rows the statement returned or affected
//! 16  u32  shape hash of the columns (names, types, kinds), for the JS decoder cache
//! 20  u32  offset of the cells (8-byte aligned): rows x columns x 8 bytes
//! 24  u32  offset of the null flags: rows x columns bytes
//! 28  u32  offset of the string region (UTF-8)
//! 32  u32  byte length of the string region
//! 36  u32  offset of the bytes region (bytea values)
//! 40  u32  length of the command word, which follows at 48
//! 44  u32  cursor id of the following pages, when bit 1 of the flags is set
//! 48  the command word (ASCII), then per column a 28-byte descriptor and the name:
//!     0  u32  type oid
//!     4  u8   kind (`JsKind`)
//!     5  u8   element fix (`types::json::ElemFix`); bit 7 (`FIX_EXACT`, this page only, not
//!             in the shape hash): the column's JSON array ends with the trailer of the
//!             documents set aside for JavaScript's exact parser (`result::exact`)
//!     6  u16  name length
//!     8  u32  JSON start, 12 u32 JSON end (UTF-16 units into the decoded string region)
//!     16 u32  table oid (0: computed)
//!     20 i32  type modifier (-1: none)
//!     24 i16  attribute number in that table (0: computed)
//!     26 i16  type size (`pg_type.typlen`, from the RowDescription: 4 for int4, -1 for
//!             variable length, -2 for C strings)
//!     28      the name (UTF-8)
//! ```
//!
//! A cell is an f64 (`BOOL`, `NUMBER`, `TIMESTAMP`), an i64 (`INT8`), or a pair of u32
//! `[start, end)` (`STRING` in UTF-16 units of the decoded string region; `BYTES` in bytes of
//! the bytes region). `JSON` columns have no cells: the whole column is one JSON array text in
//! the string region, parsed once by JavaScript.

/// Size of the fixed header.
pub const HEADER: usize = 48;
/// Size of a column descriptor without its name.
pub const COLUMN: usize = 28;
/// Status byte of a result.
pub const STATUS_OK: u8 = 0;
/// Status byte of an error.
pub const STATUS_ERROR: u8 = 1;
/// Flag: the string region holds only ASCII.
pub const FLAG_ASCII: u8 = 1;
/// Flag: more pages of this result follow.
pub const FLAG_MORE: u8 = 2;
/// Bit of a column's element fix: its JSON array ends with a trailer (`result::exact`).
pub const FIX_EXACT: u8 = 0x80;

/// How JavaScript reads a column.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsKind {
    /// f64 cell, 0 or 1.
    Bool = 1,
    /// f64 cell.
    Number = 2,
    /// i64 cell, converted per the `int8` option.
    Int8 = 3,
    /// String cell.
    String = 4,
    /// One JSON array per column.
    Json = 5,
    /// Bytes cell.
    Bytes = 6,
    /// f64 cell of Unix milliseconds; the infinities stand for `infinity`/`-infinity`.
    Timestamp = 7,
}

/// Marks a result with the host (of the pool's settings, counting from 1) that answered it,
/// in bits 4-7 of its flags, for tracing: beyond 15 hosts, or on an error, none is said.
pub fn stamp_host(buf: &mut [u8], index: u8) {
    if buf.len() > 1 && buf[0] == STATUS_OK && index <= 15 {
        buf[1] = (buf[1] & 0x0f) | index << HOST_SHIFT;
    }
}

const HOST_SHIFT: u8 = 4;

/// Where [`stamp_status`] puts the transaction status in an answer's flags.
const STATUS_SHIFT: u8 = 2;

/// Marks an answer on a reserved connection with the transaction status the server last
/// reported there (`I`, `T` or `E`), so that JavaScript knows it with the answer, as pg's
/// Client does (`getTransactionStatus()`): in bits 2-3 of the flags of a result (1 idle,
/// 2 in a transaction, 3 in a failed one; 0 not known), and as the last byte of an error
/// (after the error's terminating 0; a 0 there means not known). Stamping again replaces
/// the status.
pub fn stamp_status(buf: &mut Vec<u8>, status: crate::wire::TxStatus) {
    let code = match status {
        crate::wire::TxStatus::Idle => 1,
        crate::wire::TxStatus::InTransaction => 2,
        crate::wire::TxStatus::Failed => 3,
    };
    match buf.first() {
        Some(&STATUS_OK) if buf.len() > 1 => {
            buf[1] = (buf[1] & !(3 << STATUS_SHIFT)) | code << STATUS_SHIFT
        }
        Some(&STATUS_ERROR) => {
            if buf.last().is_some_and(|b| *b != 0) {
                buf.pop();
            }
            buf.push(status.byte());
        }
        _ => {}
    }
}

/// An error result: the status byte, then the encoded error.
pub fn error_buffer(err: &crate::error::Error) -> Vec<u8> {
    let mut out = vec![STATUS_ERROR];
    err.encode(&mut out);
    out
}

/// A result that is one number: status 0, then a u32 at offset 4 (a reserved connection's or
/// a copy's id) and an f64 at offset 8 (a row count).
pub fn value_buffer(v: u32) -> Vec<u8> {
    count_buffer(v, 0)
}

/// A reservation's answer with its session: [`value_buffer`] of the connection's id, then
/// `i32 pid, u32 count`, and `count` pairs of `u32 length, name, u32 length, value` (the
/// parameters the server reported, by name).
pub fn session_buffer(conn: u32, pid: i32, parameters: &[(String, String)]) -> Vec<u8> {
    let mut out = value_buffer(conn);
    out.extend_from_slice(&pid.to_le_bytes());
    out.extend_from_slice(&(parameters.len() as u32).to_le_bytes());
    for (name, value) in parameters {
        for s in [name, value] {
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
    }
    out
}

/// [`value_buffer`] with a count.
pub fn count_buffer(v: u32, count: u64) -> Vec<u8> {
    let mut out = vec![STATUS_OK, 0, 0, 0];
    out.extend_from_slice(&v.to_le_bytes());
    out.extend_from_slice(&(count as f64).to_le_bytes());
    out
}

/// Spare capacity a page leaves after its end for the index that a completion drain appends
/// to a batch holding only this page (`engine::Completions::push_owned` adopts the buffer), so
/// the page is never copied into a bigger one.
pub const SPARE_TAIL: usize = 32;

/// Length of `s` in UTF-16 code units, the unit of JavaScript string indices.
pub fn utf16_len(s: &[u8]) -> usize {
    if s.is_ascii() {
        return s.len();
    }
    // Every non-continuation byte starts a character; 4-byte characters need two units.
    s.iter()
        .map(|&b| ((b & 0xC0) != 0x80) as usize + (b >= 0xF0) as usize)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_lengths() {
        assert_eq!(utf16_len(b"abc"), 3);
        assert_eq!(utf16_len("é".as_bytes()), 1);
        assert_eq!(utf16_len("€".as_bytes()), 1);
        assert_eq!(utf16_len("😀".as_bytes()), 2);
        assert_eq!(utf16_len("a😀é".as_bytes()), "a😀é".encode_utf16().count());
    }

    #[test]
    fn status_stamps() {
        let mut ok = value_buffer(3);
        stamp_status(&mut ok, crate::wire::TxStatus::InTransaction);
        assert_eq!(ok[1] >> STATUS_SHIFT & 3, 2);
        let mut err = error_buffer(&crate::Error::Parameter("x".into()));
        let len = err.len();
        stamp_status(&mut err, crate::wire::TxStatus::Failed);
        assert_eq!((err.len(), err[len]), (len + 1, b'E'));
        stamp_status(&mut err, crate::wire::TxStatus::Idle);
        assert_eq!((err.len(), err[len]), (len + 1, b'I'));
        stamp_status(&mut ok, crate::wire::TxStatus::Idle);
        assert_eq!(ok[1] >> STATUS_SHIFT & 3, 1);
    }

    #[test]
    fn session_answer_layout() {
        let params = [("TimeZone".to_string(), "UTC".to_string())];
        let buf = session_buffer(7, -2, &params);
        assert_eq!(&buf[..16], &value_buffer(7)[..]);
        assert_eq!(i32::from_le_bytes(buf[16..20].try_into().unwrap()), -2);
        assert_eq!(u32::from_le_bytes(buf[20..24].try_into().unwrap()), 1);
        assert_eq!(&buf[24..], b"\x08\0\0\0TimeZone\x03\0\0\0UTC");
        assert_eq!(session_buffer(7, 5, &[]).len(), 24);
    }
}
