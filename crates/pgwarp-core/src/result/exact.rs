//! `jsonNumbers: 'exact'`: json/jsonb documents whose integers JavaScript's `JSON.parse` would
//! round are set aside for an exact parser, so the documents without such integers (nearly
//! all) cost JavaScript nothing more than before.
//!
//! With `EXACT_JSON` (see `query::mode`) in the request's mode, each document the encoder writes
//! into a json/jsonb column (or a json[]/jsonb[] value) is scanned here, on the engine's
//! threads, for an integer part of 16 digits or more (2^53 - 1 has 16 digits, so every integer
//! of 15 or fewer is exact as a double). A flagged document leaves the column's JSON array
//! (`null` takes its place) and goes, as the text the server sent, into the page's string
//! region, like a string cell. The column's array then ends with one more element, the
//! trailer `[row, start, end, ...]`: per flagged document its row in the page and its
//! `[start, end)` in UTF-16 units of the decoded string region. The column descriptor's
//! [`FIX_EXACT`] bit says, per page, that the trailer is there.
//!
//! The text is not put into the trailer as an escaped JSON string: JavaScript would pay for
//! escaping on one side and `JSON.parse` unescaping on the other, only to hand the same text
//! to the exact parser, which reads it in place here.

use postgres_types::Type;

use super::layout;
use super::plan::Plan;
use crate::types::base_type;

pub use layout::FIX_EXACT;

/// Digits in an integer part from which `JSON.parse` may round it.
const LONG: u32 = 16;

/// Whether a JSON text has a number whose integer part has [`LONG`] digits or more. Digits
/// inside strings (keys included) and in fractions or exponents do not count: a jsonb
/// document full of doubles such as `0.30000000000000004` is not flagged, because every one
/// of them parses the same either way.
pub fn has_long_integer(doc: &[u8]) -> bool {
    // Candidates first: any run of LONG digits covers one whole 8-byte block of the document,
    // found 8 bytes a step without following strings. Only a run that could be an integer
    // part (long enough, not after `.`, `e` or `e-`) costs the full scan, which knows what is
    // inside a string; doubles such as 142.42857142857142 are ruled out where they stand.
    let mut at = 0;
    while let Some(block) = digit_block(doc, at) {
        let start = block
            - doc[..block]
                .iter()
                .rev()
                .take_while(|b| b.is_ascii_digit())
                .count();
        let end = block
            + 8
            + doc[block + 8..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
        if end - start >= LONG as usize && !in_tail(doc, start) {
            return scan(doc);
        }
        // The next run starts after this one, so its block is at or after `end`'s.
        at = end.next_multiple_of(8);
    }
    false
}

/// The first all-digit block of `doc`'s 8-byte blocks from `from` on (a multiple of 8).
fn digit_block(doc: &[u8], from: usize) -> Option<usize> {
    const HIGH: u64 = 0xf0f0_f0f0_f0f0_f0f0;
    let all_digits = |c: &[u8]| {
        let x = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        // Digits are 0x30 to 0x39: high nibble 3, and a low nibble that 6 more does not carry.
        x & HIGH == 0x3030_3030_3030_3030 && ((x & !HIGH) + 0x0606_0606_0606_0606) & HIGH == 0
    };
    let rest = doc.get(from..)?;
    rest.chunks_exact(8)
        .position(all_digits)
        .map(|k| from + k * 8)
}

/// Whether digits from `start` are a fraction's or an exponent's.
fn in_tail(doc: &[u8], start: usize) -> bool {
    match start.checked_sub(1).map(|i| doc[i]) {
        Some(b'.' | b'e' | b'E') => true,
        Some(b'+' | b'-') => start >= 2 && matches!(doc[start - 2], b'e' | b'E'),
        _ => false,
    }
}

fn scan(doc: &[u8]) -> bool {
    let mut run = 0;
    // In a fraction or an exponent, until the number ends.
    let mut tail = false;
    let mut i = 0;
    while i < doc.len() {
        match doc[i] {
            b'0'..=b'9' => {
                if !tail {
                    run += 1;
                    if run >= LONG {
                        return true;
                    }
                }
            }
            b'.' | b'e' | b'E' => {
                run = 0;
                tail = true;
            }
            // A sign: of the number (`tail` was reset before it) or of its exponent.
            b'+' | b'-' => run = 0,
            b'"' => {
                run = 0;
                tail = false;
                i += 1;
                while i < doc.len() {
                    match doc[i] {
                        b'\\' => i += 2,
                        b'"' => break,
                        _ => i += 1,
                    }
                }
            }
            _ => {
                run = 0;
                tail = false;
            }
        }
        i += 1;
    }
    false
}

/// Whether a column of this plan holds json documents that exact mode scans.
fn scans(plan: &Plan) -> bool {
    match plan {
        Plan::Json => true,
        Plan::Array(elem) => matches!(*base_type(elem), Type::JSON | Type::JSONB),
        _ => false,
    }
}

/// Per column of the page being encoded, the documents set aside.
pub struct Exact {
    /// Per column: whether its documents are scanned (exact mode, and a json column).
    scanned: Vec<bool>,
    /// Per column: `row, start, end` of each document set aside on this page.
    flagged: Vec<Vec<u32>>,
}

impl Exact {
    /// For columns of these plans; `on`: the request asked for exact JSON numbers.
    pub fn new(plans: &[Plan], on: bool) -> Exact {
        Exact {
            scanned: plans.iter().map(|p| on && scans(p)).collect(),
            flagged: vec![Vec::new(); plans.len()],
        }
    }

    /// Called after row `row`'s value of column `i` was written to `json` from `at` on: a
    /// flagged value moves to the string region (`strings`, of `units` UTF-16 units so far)
    /// and `null` stands in its place.
    pub fn set_aside(
        &mut self,
        i: usize,
        row: u32,
        json: &mut Vec<u8>,
        at: usize,
        strings: &mut Vec<u8>,
        units: &mut usize,
    ) {
        if !self.scanned[i] || !has_long_integer(&json[at..]) {
            return;
        }
        let start = *units;
        *units += layout::utf16_len(&json[at..]);
        strings.extend_from_slice(&json[at..]);
        json.truncate(at);
        json.extend_from_slice(b"null");
        self.flagged[i].extend_from_slice(&[row, start as u32, *units as u32]);
    }

    /// Appends column `i`'s trailer to its JSON array (still open), if it has one.
    pub fn close(&self, i: usize, json: &mut Vec<u8>) {
        let flagged = &self.flagged[i];
        if flagged.is_empty() {
            return;
        }
        // Flagged documents come from rows, so the array has an element before the trailer.
        json.extend_from_slice(b",[");
        for (k, n) in flagged.iter().enumerate() {
            if k > 0 {
                json.push(b',');
            }
            json.extend_from_slice(n.to_string().as_bytes());
        }
        json.push(b']');
    }

    /// The bits column `i`'s descriptor adds to its element fix on this page.
    pub fn mark(&self, i: usize) -> u8 {
        if self.flagged[i].is_empty() {
            0
        } else {
            FIX_EXACT
        }
    }

    /// Forgets this page's documents.
    pub fn clear(&mut self) {
        self.flagged.iter_mut().for_each(Vec::clear);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_integers_are_found_outside_strings_only() {
        let flagged = |s: &str| has_long_integer(s.as_bytes());
        assert!(flagged("9007199254740993"));
        assert!(flagged("[1,-9223372036854775808]"));
        assert!(flagged(r#"{"a": {"b": [1180591620717411303424]}}"#));
        assert!(
            flagged("9007199254740991"),
            "16 digits are checked by the parser"
        );
        assert!(flagged("1234567890123456.5"));
        assert!(!flagged("900719925474099"), "15 digits are always exact");
        assert!(!flagged(
            r#"{"12345678901234567890": "12345678901234567890"}"#
        ));
        // Escaped quotes and backslashes do not end a string early.
        assert!(!flagged(
            r#"["a\"12345678901234567890\"", "\\\"12345678901234567890"]"#
        ));
        assert!(!flagged(
            r#"["\\", "x\\\\", "\u0022 12345678901234567890"]"#
        ));
        assert!(flagged(r#"["\\", 12345678901234567890]"#));
        assert!(flagged(r#"["a\"b", 12345678901234567890]"#));
        // Fractions and exponents round the same in JSON.parse and in an exact parser.
        assert!(!flagged("[0.30000000000000004, 0.8444218515250481]"));
        assert!(!flagged(
            "[1e1234567890123456, 1E-1234567890123456, 2.5e+1234567890123456]"
        ));
        assert!(!flagged("[true, false, null, -0, 1.5e300]"));
        assert!(flagged("[1.5, true,12345678901234567]"));
        assert!(flagged("[1e5,-12345678901234567]"));
        assert!(!flagged(r#"["unterminated 12345678901234567890"#));
    }

    #[test]
    fn every_run_of_sixteen_digits_is_seen_wherever_it_starts() {
        for pad in 0..17 {
            let at = |s: &str| format!("[{}{s}]", " ".repeat(pad));
            assert!(has_long_integer(at("1234567890123456").as_bytes()), "{pad}");
            assert!(!has_long_integer(at("123456789012345").as_bytes()), "{pad}");
            assert!(
                !has_long_integer(at("\"1234567890123456\"").as_bytes()),
                "{pad}"
            );
            // Not digits: ':' and '/' are 0x3a and 0x2f; U+00B9 (0xc2 0xb9) shares a low nibble.
            for odd in [
                "1234567:90123456",
                "12345678/0123456",
                "1234567\u{b9}0123456",
            ] {
                assert!(!has_long_integer(at(odd).as_bytes()), "{pad} {odd}");
            }
        }
        assert!(has_long_integer(b"1234567890123456"));
        assert!(has_long_integer(b"-1234567890123456"));
    }

    #[test]
    fn the_candidates_never_hide_what_the_scan_finds() {
        let parts = [
            "\"",
            "\\",
            "\\\"",
            " ",
            ",",
            "[",
            "{",
            ":",
            ".",
            "e",
            "E",
            "-",
            "+",
            "1",
            "0",
            "12345678",
            "1234567",
            "123456789012345",
            "1234567890123456",
            "x",
            "é",
        ];
        let mut seed: u64 = 7;
        let mut next = |n: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize % n
        };
        for _ in 0..20000 {
            let doc: String = (0..next(12)).map(|_| parts[next(parts.len())]).collect();
            assert_eq!(
                has_long_integer(doc.as_bytes()),
                scan(doc.as_bytes()),
                "{doc}"
            );
        }
    }

    #[test]
    fn flagged_documents_leave_the_array_for_the_trailer() {
        let plans = [Plan::Json, Plan::Int4, Plan::Array(Type::JSONB)];
        let mut exact = Exact::new(&plans, true);
        let (mut strings, mut units) = ("é".as_bytes().to_vec(), 1);
        let mut json = b"[1,".to_vec();
        exact.set_aside(0, 1, &mut json, 3, &mut strings, &mut units);
        assert_eq!(json, b"[1,");
        json.extend_from_slice(b"{\"n\":12345678901234567890}");
        exact.set_aside(0, 1, &mut json, 3, &mut strings, &mut units);
        assert_eq!(json, b"[1,null");
        assert_eq!(strings, "é{\"n\":12345678901234567890}".as_bytes());
        assert_eq!((exact.mark(0), exact.mark(2)), (FIX_EXACT, 0));
        exact.close(0, &mut json);
        assert_eq!(json, b"[1,null,[1,1,27]");
        exact.clear();
        assert_eq!(exact.mark(0), 0);
        // Off, or a column that holds no documents: never scanned.
        let mut off = Exact::new(&plans, false);
        let mut doc = b"[12345678901234567890".to_vec();
        off.set_aside(0, 0, &mut doc, 1, &mut strings, &mut units);
        exact.set_aside(1, 0, &mut doc, 1, &mut strings, &mut units);
        assert_eq!(doc, b"[12345678901234567890");
        assert!(Exact::new(&[Plan::Array(Type::INT8)], true).scanned == [false]);
    }
}
