//! `numeric` from its binary form (base-10000 digits) to exact decimal text.

use super::ConvertError;

const NEGATIVE: u16 = 0x4000;
const NAN: u16 = 0xC000;
const POS_INFINITY: u16 = 0xD000;
const NEG_INFINITY: u16 = 0xF000;

/// Writes the value exactly as PostgreSQL's `numeric_out` does, honouring the display scale.
pub fn write_numeric(raw: &[u8], out: &mut String) -> Result<(), ConvertError> {
    if raw.len() < 8 {
        return Err("numeric value too short".into());
    }
    let read = |at: usize| u16::from_be_bytes([raw[at], raw[at + 1]]);
    let ndigits = read(0) as i16 as i32;
    let weight = read(2) as i16 as i32;
    let sign = read(4);
    let dscale = read(6) as i32;
    if ndigits < 0 || raw.len() != 8 + 2 * ndigits as usize {
        return Err("numeric value has a wrong length".into());
    }
    let special = match sign {
        NAN => "NaN",
        POS_INFINITY => "Infinity",
        NEG_INFINITY => "-Infinity",
        0 | NEGATIVE => "",
        _ => return Err("numeric value has an unknown sign".into()),
    };
    if !special.is_empty() {
        out.push_str(special);
        return Ok(());
    }
    let digit = |i: i32| -> u16 {
        if (0..ndigits).contains(&i) {
            read(8 + 2 * i as usize)
        } else {
            0
        }
    };
    if sign == NEGATIVE {
        out.push('-');
    }
    if weight < 0 {
        out.push('0');
    } else {
        out.push_str(&digit(0).to_string());
        for i in 1..=weight {
            out.push_str(&format!("{:04}", digit(i)));
        }
    }
    if dscale > 0 {
        out.push('.');
        let mut left = dscale;
        let mut i = weight + 1;
        while left > 0 {
            let group = format!("{:04}", digit(i));
            let take = left.min(4) as usize;
            out.push_str(&group[..take]);
            left -= take as i32;
            i += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(weight: i16, sign: u16, dscale: u16, digits: &[u16]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&(digits.len() as i16).to_be_bytes());
        v.extend_from_slice(&weight.to_be_bytes());
        v.extend_from_slice(&sign.to_be_bytes());
        v.extend_from_slice(&dscale.to_be_bytes());
        for d in digits {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v
    }

    fn text(raw: &[u8]) -> String {
        let mut s = String::new();
        write_numeric(raw, &mut s).unwrap();
        s
    }

    #[test]
    fn renders_exactly() {
        // 12345678.90 = 1234 5678 . 9000, dscale 2
        assert_eq!(text(&numeric(1, 0, 2, &[1234, 5678, 9000])), "12345678.90");
        // -0.0001
        assert_eq!(text(&numeric(-1, NEGATIVE, 4, &[1])), "-0.0001");
        // 0 with scale 3
        assert_eq!(text(&numeric(0, 0, 3, &[])), "0.000");
        // 10000 (weight 1, trailing group stripped on the wire)
        assert_eq!(text(&numeric(1, 0, 0, &[1])), "10000");
        assert_eq!(text(&numeric(0, NAN, 0, &[])), "NaN");
        assert_eq!(text(&numeric(0, NEG_INFINITY, 0, &[])), "-Infinity");
    }

    #[test]
    fn refuses_malformed_input() {
        let mut s = String::new();
        assert!(write_numeric(&[0, 1], &mut s).is_err());
        assert!(write_numeric(&numeric(0, 0, 0, &[1])[..9], &mut s).is_err());
    }
}
