//! What each column of a result becomes: the format the server is asked to send it in, and
//! how the encoder writes it ([`Plan`]). Chosen once per statement execution, never per row.
//!
//! Three result formats ([`ResultFormat`], from bits of the request's mode, see `query::mode`):
//!
//! - `Binary`: every column binary, converted by the engine (numbers, dates, JSON...);
//!   with `EXACT_JSON`, json documents with long integers are set aside (`result::exact`).
//! - `Text`: every column in the server's text format, as sent.
//! - `Pg`: the value shapes node-postgres' default type parsers give, made by the engine
//!   from binary where it can. node-postgres keys its parsers by the column's own type OID,
//!   so the choice is made by that OID, not by the type a domain stands for: a domain over
//!   int4 arrives as text, as it does in pg. Columns whose type has a user parser in
//!   JavaScript (a bit of the `server_text` mask) must get the server's exact text.

use postgres_types::{Kind, Type};

use super::layout::JsKind;
use crate::types::json::{self, ElemFix};
use crate::types::{base_type, shaped};

/// The types node-postgres parses by default, in the order of the bits of
/// [`ResultFormat::Pg`]'s `server_text` mask: bool, int2, int4, oid, int8, float4, float8,
/// timestamp, timestamptz, bytea, json, jsonb, text, varchar, bpchar, name, numeric, uuid,
/// int4[], text[], int8[], varchar[], float8[], bool[].
pub const FAST: [u32; 24] = [
    16, 21, 23, 26, 20, 700, 701, 1114, 1184, 17, 114, 3802, 25, 1043, 1042, 19, 1700, 2950, 1007,
    1009, 1016, 1015, 1022, 1000,
];

/// OIDs below this are built into PostgreSQL; those from here on were made by extensions or
/// users (`FirstNormalObjectId`).
const FIRST_USER_OID: u32 = 16384;

/// How a statement's results are asked for and encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResultFormat {
    /// Binary, converted by the engine.
    Binary {
        /// json documents whose integers `JSON.parse` would round are set aside for
        /// JavaScript's exact parser.
        exact_json: bool,
    },
    /// Every column in the server's text format, as sent (for callers that parse it).
    Text,
    /// node-postgres' value shapes. Bit `i` of `server_text` set: the column type
    /// `FAST[i]` has a user parser, so it comes as the server's text.
    Pg {
        /// A 24-bit mask over [`FAST`].
        server_text: u32,
    },
}

impl ResultFormat {
    /// Bind's result format codes for the unnamed statement, whose columns are not known
    /// before Bind: one code for all of them.
    pub fn unnamed_codes(self) -> &'static [i16] {
        match self {
            ResultFormat::Text => TEXT_CODE,
            ResultFormat::Binary { .. } | ResultFormat::Pg { .. } => BINARY_CODE,
        }
    }
}

/// One result format code for every column: binary.
pub(super) const BINARY_CODE: &[i16] = &[1];
/// One result format code for every column: text.
pub(super) const TEXT_CODE: &[i16] = &[0];

/// How the encoder writes one column.
#[derive(Clone, Debug, PartialEq)]
pub enum Plan {
    /// f64 0 or 1.
    Bool,
    /// f64.
    Int2,
    /// f64.
    Int4,
    /// f64 (oid, xid, cid, reg* types).
    Oid,
    /// i64.
    Int8,
    /// f64, the nearest to the float4's shortest decimal.
    Float4,
    /// f64.
    Float8,
    /// f64 of Unix milliseconds.
    Timestamp,
    /// A slice of the bytes region.
    Bytea,
    /// UTF-8 as sent (text, varchar, name, enums, and any column asked for in text).
    RawText,
    /// PostgreSQL's text output, produced here (numeric, uuid, date, interval, inet...).
    Rendered,
    /// json/jsonb documents, one JSON array per column.
    Json,
    /// Arrays as JSON, one JSON array per column.
    Array(Type),
    /// Composites and ranges as JSON objects, one JSON array per column that starts with
    /// their shape (`types::shaped`).
    Shaped(Type),
}

impl Plan {
    /// The plan of a binary column in [`ResultFormat::Binary`].
    pub fn of(ty: &Type) -> Plan {
        let ty = base_type(ty);
        match *ty {
            Type::BOOL => Plan::Bool,
            Type::INT2 => Plan::Int2,
            Type::INT4 => Plan::Int4,
            Type::OID | Type::XID | Type::CID | Type::REGPROC | Type::REGCLASS | Type::REGTYPE => {
                Plan::Oid
            }
            Type::INT8 => Plan::Int8,
            Type::FLOAT4 => Plan::Float4,
            Type::FLOAT8 => Plan::Float8,
            Type::TIMESTAMP | Type::TIMESTAMPTZ => Plan::Timestamp,
            Type::BYTEA => Plan::Bytea,
            Type::JSON | Type::JSONB => Plan::Json,
            // tokio-postgres files record[] as a pseudo-type, not as an array of record.
            Type::RECORD_ARRAY => Plan::Array(Type::RECORD),
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN | Type::XML => {
                Plan::RawText
            }
            _ => match ty.kind() {
                Kind::Composite(_) | Kind::Range(_) => Plan::Shaped(ty.clone()),
                Kind::Array(elem) => Plan::Array(elem.clone()),
                Kind::Enum(_) => Plan::RawText,
                _ => Plan::Rendered,
            },
        }
    }

    /// The plan of a column of type `ty` in `format`, and whether the server is asked to
    /// send that column in text. `named`: the statement's columns are known before Bind, so
    /// Bind can ask for text column by column; otherwise every column comes binary and a
    /// column that would want the server's text gets the engine's rendering of it.
    pub fn choose(ty: &Type, format: ResultFormat, named: bool) -> (Plan, bool) {
        match format {
            ResultFormat::Binary { .. } => (Plan::of(ty), false),
            ResultFormat::Text => (Plan::RawText, true),
            ResultFormat::Pg { server_text } => pg_plan(ty, server_text, named),
        }
    }

    /// How JavaScript reads the column.
    pub fn kind(&self) -> JsKind {
        match self {
            Plan::Bool => JsKind::Bool,
            Plan::Int2 | Plan::Int4 | Plan::Oid | Plan::Float4 | Plan::Float8 => JsKind::Number,
            Plan::Int8 => JsKind::Int8,
            Plan::Timestamp => JsKind::Timestamp,
            Plan::Bytea => JsKind::Bytes,
            Plan::RawText | Plan::Rendered => JsKind::String,
            Plan::Json | Plan::Array(_) | Plan::Shaped(_) => JsKind::Json,
        }
    }

    /// What JavaScript does to each JSON value of the column.
    pub fn fix(&self) -> ElemFix {
        match self {
            Plan::Array(elem) if shaped::is_shaped(elem) => ElemFix::Shape,
            Plan::Array(elem) => json::elem_fix(elem),
            Plan::Shaped(_) => ElemFix::Shape,
            _ => ElemFix::None,
        }
    }

    /// The start of the column's JSON array: `[`, then the shape for shaped values.
    pub fn json_start(&self, ty: &Type, out: &mut Vec<u8>) {
        out.push(b'[');
        if self.fix() == ElemFix::Shape {
            shaped::shape(ty, out);
        }
    }
}

/// Built-in types whose text the engine cannot write from binary: catalog references print
/// names (`'pg_class'::regclass` is `pg_class`, not its OID), and timestamptz[], timetz and
/// money print in the session's TimeZone and lc_monetary.
const SERVER_TEXT: [u32; 16] = [
    24, 2202, 2203, 2204, 2205, 2206, 3734, 3769, 4089, 4096, 4191, 1185, 1266, 1270, 790, 791,
];

/// [`ResultFormat::Pg`]'s choice for one column (see [`Plan::choose`]).
pub fn pg_plan(ty: &Type, server_text: u32, named: bool) -> (Plan, bool) {
    // The server's text, or on the unnamed path the engine's rendering of it.
    let text = if named {
        (Plan::RawText, true)
    } else {
        (Plan::Rendered, false)
    };
    let oid = ty.oid();
    if let Some(i) = FAST.iter().position(|&f| f == oid) {
        return if server_text & (1 << i) != 0 {
            text
        } else {
            (Plan::of(ty), false)
        };
    }
    if SERVER_TEXT.contains(&oid) {
        return text;
    }
    match ty.kind() {
        // A binary enum is its label, which is what the server's text says too.
        Kind::Enum(_) => (Plan::RawText, false),
        // Extension types (citext, hstore, PostGIS...): only their own output function
        // knows their text.
        Kind::Simple | Kind::Pseudo if oid >= FIRST_USER_OID => text,
        // pg leaves these as the server's text; the engine writes the same from binary.
        _ => (Plan::Rendered, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, oid: u32, kind: Kind) -> Type {
        Type::new(name.into(), oid, kind, "public".into())
    }

    #[test]
    fn the_fast_table_follows_the_mask() {
        for named in [true, false] {
            assert_eq!(pg_plan(&Type::INT4, 0, named), (Plan::Int4, false));
            assert_eq!(
                pg_plan(&Type::TIMESTAMPTZ, 0, named),
                (Plan::Timestamp, false)
            );
            assert_eq!(pg_plan(&Type::NUMERIC, 0, named), (Plan::Rendered, false));
            assert_eq!(pg_plan(&Type::JSONB, 0, named), (Plan::Json, false));
            assert_eq!(
                pg_plan(&Type::INT4_ARRAY, 0, named),
                (Plan::Array(Type::INT4), false)
            );
            // Bit 2 is int4; int8 (bit 4) is unaffected.
            assert_eq!(pg_plan(&Type::INT8, 1 << 2, named), (Plan::Int8, false));
        }
        assert_eq!(pg_plan(&Type::INT4, 1 << 2, true), (Plan::RawText, true));
        assert_eq!(pg_plan(&Type::INT4, 1 << 2, false), (Plan::Rendered, false));
        assert_eq!(
            pg_plan(&Type::BOOL_ARRAY, 1 << 23, true),
            (Plan::RawText, true)
        );
        for (i, oid) in FAST.iter().enumerate() {
            let ty = Type::from_oid(*oid).expect("a built-in type");
            assert_eq!(pg_plan(&ty, 1 << i, true), (Plan::RawText, true), "{ty}");
            assert!(!pg_plan(&ty, !(1 << i) & 0xff_ffff, true).1, "{ty}");
        }
    }

    #[test]
    fn other_types_are_rendered_or_sent_as_text() {
        for named in [true, false] {
            for ty in [
                Type::DATE,
                Type::INTERVAL,
                Type::INET,
                Type::INT2_ARRAY,
                Type::INT4_RANGE,
                Type::RECORD,
                Type::VOID,
            ] {
                assert_eq!(pg_plan(&ty, 0, named), (Plan::Rendered, false), "{ty}");
            }
            // Keyed by the domain's own OID, as pg's parsers are.
            let domain = user("d", 90001, Kind::Domain(Type::INT4));
            assert_eq!(pg_plan(&domain, u32::MAX, named), (Plan::Rendered, false));
            let composite = user("c", 90002, Kind::Composite(vec![]));
            assert_eq!(pg_plan(&composite, 0, named), (Plan::Rendered, false));
            let enumerated = user("e", 90003, Kind::Enum(vec![]));
            assert_eq!(pg_plan(&enumerated, 0, named), (Plan::RawText, false));
        }
        let citext = user("citext", 90004, Kind::Simple);
        assert_eq!(pg_plan(&citext, 0, true), (Plan::RawText, true));
        assert_eq!(pg_plan(&citext, 0, false), (Plan::Rendered, false));
        let pseudo = user("p", 90005, Kind::Pseudo);
        assert_eq!(pg_plan(&pseudo, 0, true), (Plan::RawText, true));
    }

    #[test]
    fn binary_and_text_formats_are_uniform() {
        let citext = user("citext", 90004, Kind::Simple);
        for ty in [Type::INT4, Type::DATE, citext.clone()] {
            assert_eq!(
                Plan::choose(&ty, ResultFormat::Text, true),
                (Plan::RawText, true)
            );
            assert_eq!(
                Plan::choose(&ty, ResultFormat::Binary { exact_json: false }, true),
                (Plan::of(&ty), false)
            );
        }
        assert_eq!(ResultFormat::Text.unnamed_codes(), &[0]);
        assert_eq!(ResultFormat::Pg { server_text: 4 }.unnamed_codes(), &[1]);
    }
}
