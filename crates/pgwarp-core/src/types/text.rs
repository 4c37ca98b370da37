//! Binary values written as PostgreSQL's own text output, for the types JavaScript receives as
//! strings (numeric, uuid, date, time, interval, inet, money, ranges, records...).

use std::fmt::Write;

use postgres_protocol::types as wire;
use postgres_types::{Kind, Type};

use super::{base_type, datetime, geometry, numeric, search, ConvertError};
use crate::bytes::Reader;

/// Writes the text PostgreSQL would print for this value.
pub fn write_text(ty: &Type, raw: &[u8], out: &mut String) -> Result<(), ConvertError> {
    let ty = base_type(ty);
    match *ty {
        Type::BOOL => out.push(if wire::bool_from_sql(raw)? { 't' } else { 'f' }),
        Type::INT2 => write!(out, "{}", wire::int2_from_sql(raw)?)?,
        Type::INT4 => write!(out, "{}", wire::int4_from_sql(raw)?)?,
        Type::INT8 => write!(out, "{}", wire::int8_from_sql(raw)?)?,
        Type::OID | Type::XID | Type::CID | Type::REGPROC | Type::REGCLASS | Type::REGTYPE => {
            write!(out, "{}", wire::oid_from_sql(raw)?)?
        }
        Type::FLOAT4 => write_float4(wire::float4_from_sql(raw)?, out),
        Type::FLOAT8 => write_float(wire::float8_from_sql(raw)?, out),
        Type::NUMERIC => numeric::write_numeric(raw, out)?,
        Type::BYTEA => write_hex(raw, out),
        Type::UUID => write_uuid(wire::uuid_from_sql(raw)?, out),
        Type::JSONB => out.push_str(std::str::from_utf8(raw.get(1..).unwrap_or_default())?),
        Type::DATE => write_date(wire::date_from_sql(raw)?, out),
        Type::TIME => datetime::write_time(wire::time_from_sql(raw)?, out),
        Type::TIMETZ => {
            if raw.len() != 12 {
                return Err("timetz value has a wrong length".into());
            }
            datetime::write_time(i64::from_be_bytes(raw[..8].try_into()?), out);
            datetime::write_zone(i32::from_be_bytes(raw[8..].try_into()?), out);
        }
        Type::TIMESTAMP => datetime::write_timestamp(wire::timestamp_from_sql(raw)?, false, out),
        Type::TIMESTAMPTZ => datetime::write_timestamp(wire::timestamp_from_sql(raw)?, true, out),
        Type::INTERVAL => {
            if raw.len() != 16 {
                return Err("interval value has a wrong length".into());
            }
            datetime::write_interval(
                i64::from_be_bytes(raw[..8].try_into()?),
                i32::from_be_bytes(raw[8..12].try_into()?),
                i32::from_be_bytes(raw[12..].try_into()?),
                out,
            );
        }
        Type::INET | Type::CIDR => {
            let inet = wire::inet_from_sql(raw)?;
            let full = if inet.addr().is_ipv4() { 32 } else { 128 };
            write_ip(inet.addr(), out)?;
            if *ty == Type::CIDR || inet.netmask() != full {
                write!(out, "/{}", inet.netmask())?;
            }
        }
        Type::MACADDR | Type::MACADDR8 => {
            for (i, b) in raw.iter().enumerate() {
                if i > 0 {
                    out.push(':');
                }
                write!(out, "{b:02x}")?;
            }
        }
        Type::MONEY => write_money(wire::int8_from_sql(raw)?, out),
        Type::BIT | Type::VARBIT => {
            let bits = wire::varbit_from_sql(raw)?;
            for i in 0..bits.len() {
                let byte = bits.bytes()[i / 8];
                out.push(if byte & (0x80 >> (i % 8)) != 0 {
                    '1'
                } else {
                    '0'
                });
            }
        }
        Type::RECORD => write_record(None, raw, out)?,
        Type::RECORD_ARRAY => write_array(&Type::RECORD, raw, out)?,
        Type::PG_LSN => {
            let lsn = wire::int8_from_sql(raw)? as u64;
            write!(out, "{:X}/{:X}", lsn >> 32, lsn & 0xFFFF_FFFF)?
        }
        Type::POINT
        | Type::LSEG
        | Type::BOX
        | Type::LINE
        | Type::CIRCLE
        | Type::PATH
        | Type::POLYGON => geometry::write_geometry(ty, raw, out)?,
        Type::TS_VECTOR => search::write_tsvector(raw, out)?,
        _ if ty.name() == "hstore" => search::write_hstore(raw, out)?,
        _ => match ty.kind() {
            Kind::Array(elem) => write_array(elem, raw, out)?,
            Kind::Composite(fields) => {
                let types: Vec<Type> = fields.iter().map(|f| f.type_().clone()).collect();
                write_record(Some(&types), raw, out)?
            }
            Kind::Range(elem) => write_range(elem, raw, out)?,
            // Text-like types (text, varchar, name, xml, enums, citext...) send their text.
            _ => match std::str::from_utf8(raw) {
                Ok(s) => out.push_str(s),
                Err(_) => write_hex(raw, out),
            },
        },
    }
    Ok(())
}

/// PostgreSQL's spelling of a float8: shortest round-trip digits, in exponent form when the
/// decimal exponent is below -4 or at least 15 (`1e-05`, `1e+15`), `NaN`, `Infinity`.
pub fn write_float(v: f64, out: &mut String) {
    write_shortest(v, format!("{v:e}"), format!("{v}"), 15, out)
}

/// The same for a float4, whose digits are those of the f32 and which switches to exponent
/// form from 10^6 (`1.234567e+06`).
pub fn write_float4(v: f32, out: &mut String) {
    write_shortest(v as f64, format!("{v:e}"), format!("{v}"), 6, out)
}

fn write_shortest(v: f64, sci: String, plain: String, max_exp: i32, out: &mut String) {
    if v.is_nan() {
        return out.push_str("NaN");
    }
    if v.is_infinite() {
        return out.push_str(if v > 0.0 { "Infinity" } else { "-Infinity" });
    }
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if v != 0.0 && (exp < -4 || exp >= max_exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        let _ = write!(out, "{mantissa}e{sign}{:02}", exp.abs());
    } else {
        out.push_str(&plain);
    }
}

/// IP addresses as PostgreSQL prints them: like Rust, except that an IPv4-compatible IPv6
/// address keeps its dotted tail (`::1.2.3.4`).
fn write_ip(addr: std::net::IpAddr, out: &mut String) -> std::fmt::Result {
    if let std::net::IpAddr::V6(v6) = addr {
        let seg = v6.segments();
        if seg[..6].iter().all(|s| *s == 0) && seg[6] != 0 {
            let [a, b] = seg[6].to_be_bytes();
            let [c, d] = seg[7].to_be_bytes();
            return write!(out, "::{a}.{b}.{c}.{d}");
        }
    }
    write!(out, "{addr}")
}

/// `\x`-hex, PostgreSQL's default bytea output.
pub fn write_hex(raw: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(2 + raw.len() * 2);
    out.push_str("\\x");
    for b in raw {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 15) as usize] as char);
    }
}

fn write_uuid(bytes: [u8; 16], out: &mut String) {
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        let _ = write!(out, "{b:02x}");
    }
}

/// `YYYY-MM-DD` (with ` BC`), or the infinities.
pub fn write_date(days_since_2000: i32, out: &mut String) {
    match days_since_2000 {
        i32::MAX => out.push_str("infinity"),
        i32::MIN => out.push_str("-infinity"),
        d => {
            if datetime::write_date(d as i64 + datetime::PG_EPOCH_DAYS, out) {
                out.push_str(" BC");
            }
        }
    }
}

/// Money in the C locale's format (`$1,234.56`); the server's `lc_monetary` may print it
/// differently, but the binary value carries no currency.
fn write_money(cents: i64, out: &mut String) {
    if cents < 0 {
        out.push('-');
    }
    let a = cents.unsigned_abs();
    let units = (a / 100).to_string();
    out.push('$');
    for (i, c) in units.chars().enumerate() {
        if i > 0 && (units.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    let _ = write!(out, ".{:02}", a % 100);
}

/// Whether PostgreSQL quotes an element: empty, a special character, or C-locale `isspace`
/// (not Unicode whitespace: a no-break space stays bare).
fn needs_quotes(s: &str, specials: &[char]) -> bool {
    s.is_empty()
        || s.chars().any(|c| {
            matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c') || specials.contains(&c)
        })
}

/// `s` in double quotes, with `"` and `\\` escaped by doubling (records) or by a backslash
/// (arrays, ranges, hstore).
pub(crate) fn push_quoted(s: &str, doubled: bool, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push(if doubled { c } else { '\\' });
        }
        out.push(c);
    }
    out.push('"');
}

/// A record (`(1,"a b",)`), with field types from the composite type or from the wire.
fn write_record(types: Option<&[Type]>, raw: &[u8], out: &mut String) -> Result<(), ConvertError> {
    let mut r = Reader::new(raw);
    let count = r.i32_be()?;
    out.push('(');
    let mut field = String::new();
    for i in 0..count.max(0) as usize {
        if i > 0 {
            out.push(',');
        }
        let oid = r.u32_be()?;
        let len = r.i32_be()?;
        if len < 0 {
            continue;
        }
        let value = r.take(len as usize)?;
        let ty = types
            .and_then(|t| t.get(i).cloned())
            .or_else(|| Type::from_oid(oid))
            .unwrap_or(Type::TEXT);
        field.clear();
        write_text(&ty, value, &mut field)?;
        if needs_quotes(&field, &['(', ')', ',', '"', '\\']) {
            push_quoted(&field, true, out);
        } else {
            out.push_str(&field);
        }
    }
    out.push(')');
    Ok(())
}

/// An array in PostgreSQL's literal syntax (`{1,NULL,"a b"}`), used where an array sits inside
/// a record or range; top-level arrays reach JavaScript as JSON instead.
fn write_array(elem: &Type, raw: &[u8], out: &mut String) -> Result<(), ConvertError> {
    use fallible_iterator::FallibleIterator;
    let array = wire::array_from_sql(raw)?;
    let dims: Vec<usize> = array
        .dimensions()
        .map(|d| Ok(d.len.max(0) as usize))
        .collect()?;
    let values: Vec<Option<&[u8]>> = array.values().collect()?;
    if dims.is_empty() {
        out.push_str("{}");
        return Ok(());
    }
    let mut next = values.into_iter();
    write_array_level(elem, &dims, &mut next, out)
}

fn write_array_level<'a>(
    elem: &Type,
    dims: &[usize],
    values: &mut impl Iterator<Item = Option<&'a [u8]>>,
    out: &mut String,
) -> Result<(), ConvertError> {
    out.push('{');
    let mut item = String::new();
    for i in 0..dims[0] {
        if i > 0 {
            out.push(',');
        }
        if dims.len() > 1 {
            write_array_level(elem, &dims[1..], values, out)?;
            continue;
        }
        match values
            .next()
            .ok_or("array has fewer values than dimensions")?
        {
            None => out.push_str("NULL"),
            Some(v) => {
                item.clear();
                write_text(elem, v, &mut item)?;
                if item.eq_ignore_ascii_case("NULL")
                    || needs_quotes(&item, &['{', '}', ',', '"', '\\'])
                {
                    push_quoted(&item, false, out);
                } else {
                    out.push_str(&item);
                }
            }
        }
    }
    out.push('}');
    Ok(())
}

fn write_range(elem: &Type, raw: &[u8], out: &mut String) -> Result<(), ConvertError> {
    match wire::range_from_sql(raw)? {
        wire::Range::Empty => out.push_str("empty"),
        wire::Range::Nonempty(lower, upper) => {
            let bound = |b: wire::RangeBound<Option<&[u8]>>,
                         open: char,
                         closed: char,
                         lower: bool,
                         out: &mut String|
             -> Result<(), ConvertError> {
                let (value, inclusive) = match b {
                    wire::RangeBound::Inclusive(v) => (v, true),
                    wire::RangeBound::Exclusive(v) => (v, false),
                    wire::RangeBound::Unbounded => (None, false),
                };
                let mut text = String::new();
                if let Some(v) = value {
                    write_text(elem, v, &mut text)?;
                }
                let quoted =
                    value.is_some() && needs_quotes(&text, &['(', ')', '[', ']', ',', '"', '\\']);
                if lower {
                    out.push(if inclusive { closed } else { open });
                }
                if quoted {
                    push_quoted(&text, false, out);
                } else {
                    out.push_str(&text);
                }
                if !lower {
                    out.push(if inclusive { closed } else { open });
                }
                Ok(())
            };
            bound(lower, '(', '[', true, out)?;
            out.push(',');
            bound(upper, ')', ']', false, out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(ty: &Type, raw: &[u8]) -> String {
        let mut s = String::new();
        write_text(ty, raw, &mut s).unwrap();
        s
    }

    #[test]
    fn scalars() {
        assert_eq!(
            text(&Type::UUID, &[0xab; 16]),
            "abababab-abab-abab-abab-abababababab"
        );
        assert_eq!(text(&Type::BYTEA, &[0, 255]), "\\x00ff");
        assert_eq!(
            text(&Type::MONEY, &(-123_456_789i64).to_be_bytes()),
            "-$1,234,567.89"
        );
        assert_eq!(text(&Type::DATE, &0i32.to_be_bytes()), "2000-01-01");
        assert_eq!(text(&Type::DATE, &i32::MAX.to_be_bytes()), "infinity");
        assert_eq!(text(&Type::FLOAT8, &1e300f64.to_be_bytes()), "1e+300");
        assert_eq!(text(&Type::FLOAT8, &1e-5f64.to_be_bytes()), "1e-05");
        assert_eq!(text(&Type::FLOAT8, &1e15f64.to_be_bytes()), "1e+15");
        assert_eq!(text(&Type::FLOAT4, &0.1f32.to_be_bytes()), "0.1");
        assert_eq!(
            text(&Type::FLOAT4, &1234567f32.to_be_bytes()),
            "1.234567e+06"
        );
        assert_eq!(
            text(
                &Type::INET,
                &[3, 128, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]
            ),
            "::1.2.3.4"
        );
        assert_eq!(text(&Type::FLOAT8, &0.5f64.to_be_bytes()), "0.5");
        assert_eq!(text(&Type::INET, &[2, 32, 0, 4, 10, 0, 0, 1]), "10.0.0.1");
        assert_eq!(text(&Type::CIDR, &[2, 8, 1, 4, 10, 0, 0, 0]), "10.0.0.0/8");
    }

    #[test]
    fn records_quote_like_postgres() {
        let mut raw = 3i32.to_be_bytes().to_vec();
        raw.extend_from_slice(&Type::INT4.oid().to_be_bytes());
        raw.extend_from_slice(&4i32.to_be_bytes());
        raw.extend_from_slice(&7i32.to_be_bytes());
        raw.extend_from_slice(&Type::TEXT.oid().to_be_bytes());
        raw.extend_from_slice(&5i32.to_be_bytes());
        raw.extend_from_slice(b"a \"b\"");
        raw.extend_from_slice(&Type::TEXT.oid().to_be_bytes());
        raw.extend_from_slice(&(-1i32).to_be_bytes());
        assert_eq!(text(&Type::RECORD, &raw), "(7,\"a \"\"b\"\"\",)");
    }
}
