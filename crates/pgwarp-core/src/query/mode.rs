//! A query request's mode number (`src/engine/requests.ts` writes it), read once when the request
//! is parsed: the low bits are what the caller does with the rows ([`Mode`]), the bits above
//! say how the statement is sent and how its results are encoded ([`QueryMode`]).

use crate::error::Error;
use crate::result::ResultFormat;

/// The bits of a request's mode that are the [`Mode`].
const MODE_BITS: u32 = 0x1f;
/// Gives a query on a reserved connection the shared path's rules ([`QueryMode::autocommit`]).
const AUTOCOMMIT: u32 = 0x20;
/// Asks for text results ([`ResultFormat::Text`]).
const TEXT_RESULTS: u32 = 0x40;
/// Asks for node-postgres' value shapes ([`ResultFormat::Pg`]); the mode's bits from 8 up
/// are then the `server_text` mask.
const PG_VALUES: u32 = 0x80;
/// Asks for json documents with long integers to be set aside for JavaScript's exact parser
/// (`jsonNumbers: 'exact'`, see `result::exact`). Only without `PG_VALUES`, whose mask bit 8
/// is otherwise; node-postgres' shapes never ask for it.
const EXACT_JSON: u32 = 0x100;
/// Run this statement unnamed, not through the statement cache: for texts whose shape varies
/// with their values (a tagged template's multi-row insert), which would fill the cache with
/// one statement each. Read only without `PG_VALUES`, whose mask uses the bits above 8.
const UNNAMED: u32 = 0x200;

/// What the caller will do with the rows, so the engine encodes no more than needed.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Every row.
    All = 0,
    /// The first row only; the rest are read off the socket and dropped.
    First = 1,
    /// The first row, and a count of all rows (for `one()`'s "exactly one" check).
    One = 2,
    /// No rows, only the count (INSERT/UPDATE/DELETE, DDL).
    Execute = 3,
    /// Every row, in pages of at most the request's batch size, on a connection held alone
    /// so that stopping early can cancel on the server; no size limits.
    Stream = 4,
    /// `COPY ... TO STDOUT`: the data in pages, held like `Stream`.
    CopyOut = 5,
    /// `COPY ... FROM STDIN`: starts a copy that data requests then feed.
    CopyIn = 6,
    /// Records-level copy into a table: like `CopyIn`, with rows encoded by the engine.
    CopyRows = 7,
}

impl Mode {
    /// The mode for a number from JavaScript.
    fn from_u32(n: u32) -> Result<Mode, Error> {
        Ok(match n {
            0 => Mode::All,
            1 => Mode::First,
            2 => Mode::One,
            3 => Mode::Execute,
            4 => Mode::Stream,
            5 => Mode::CopyOut,
            6 => Mode::CopyIn,
            7 => Mode::CopyRows,
            _ => return Err(Error::Internal(format!("unknown result mode {n}"))),
        })
    }
}

/// Everything a query request's mode number says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryMode {
    /// What the caller does with the rows.
    pub mode: Mode,
    /// How results are asked for and encoded.
    pub format: ResultFormat,
    /// On a reserved connection: the shared path's rules (see `query::Run::autocommit`).
    pub autocommit: bool,
    /// Run with the unnamed statement, not through the statement cache.
    pub unnamed: bool,
    /// Strings go to the server as the text they are (node-postgres' way, see
    /// `query::Run::verbatim`).
    pub verbatim: bool,
}

impl QueryMode {
    /// Reads a request's mode number; an unknown [`Mode`] is an error.
    pub fn parse(bits: u32) -> Result<QueryMode, Error> {
        let pg = bits & PG_VALUES != 0;
        Ok(QueryMode {
            mode: Mode::from_u32(bits & MODE_BITS)?,
            format: format_of(bits),
            autocommit: bits & AUTOCOMMIT != 0,
            unnamed: !pg && bits & UNNAMED != 0,
            verbatim: pg,
        })
    }
}

/// The result format the bits ask for. `TEXT_RESULTS` wins over `PG_VALUES`: every column
/// as the server's text satisfies any parser.
fn format_of(bits: u32) -> ResultFormat {
    if bits & TEXT_RESULTS != 0 {
        ResultFormat::Text
    } else if bits & PG_VALUES != 0 {
        ResultFormat::Pg {
            server_text: bits >> 8,
        }
    } else {
        ResultFormat::Binary {
            exact_json: bits & EXACT_JSON != 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_bits_pick_the_format() {
        assert_eq!(format_of(0x01), ResultFormat::Binary { exact_json: false });
        assert_eq!(
            format_of(0x100 | 0x20 | 4),
            ResultFormat::Binary { exact_json: true }
        );
        // Bit 8 under PG_VALUES is the mask's, not exact JSON.
        assert_eq!(format_of(0x80 | 0x100), ResultFormat::Pg { server_text: 1 });
        assert_eq!(format_of(0x40 | 0x20), ResultFormat::Text);
        assert_eq!(
            format_of(0x80 | (0b100 << 8) | 3),
            ResultFormat::Pg { server_text: 4 }
        );
        assert_eq!(
            format_of(0x80 | 0xff_ffff << 8),
            ResultFormat::Pg {
                server_text: 0xff_ffff
            }
        );
        assert_eq!(format_of(0x40 | 0x80), ResultFormat::Text);
    }

    #[test]
    fn the_other_bits_are_read_once() {
        let m = QueryMode::parse(3 | AUTOCOMMIT | UNNAMED).unwrap();
        assert_eq!(m.mode, Mode::Execute);
        assert!(m.autocommit && m.unnamed && !m.verbatim);
        // Under PG_VALUES bit 9 belongs to the mask.
        let m = QueryMode::parse(PG_VALUES | UNNAMED).unwrap();
        assert!(!m.unnamed && m.verbatim);
        assert!(QueryMode::parse(8).is_err());
    }
}
