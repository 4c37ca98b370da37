//! Geometric types (point, lseg, box, line, path, polygon, circle) from binary to
//! PostgreSQL's text.

use postgres_types::Type;

use super::text::write_float;
use super::ConvertError;
use crate::bytes::Reader;

fn point(r: &mut Reader, out: &mut String) -> Result<(), ConvertError> {
    out.push('(');
    write_float(r.f64_be()?, out);
    out.push(',');
    write_float(r.f64_be()?, out);
    out.push(')');
    Ok(())
}

fn points(r: &mut Reader, n: usize, out: &mut String) -> Result<(), ConvertError> {
    for i in 0..n {
        if i > 0 {
            out.push(',');
        }
        point(r, out)?;
    }
    Ok(())
}

/// Writes a geometric value as PostgreSQL prints it.
pub fn write_geometry(ty: &Type, raw: &[u8], out: &mut String) -> Result<(), ConvertError> {
    let mut f = Reader::new(raw);
    match *ty {
        Type::POINT => point(&mut f, out)?,
        Type::LSEG => {
            out.push('[');
            points(&mut f, 2, out)?;
            out.push(']');
        }
        Type::BOX => points(&mut f, 2, out)?,
        Type::LINE => {
            out.push('{');
            write_float(f.f64_be()?, out);
            out.push(',');
            write_float(f.f64_be()?, out);
            out.push(',');
            write_float(f.f64_be()?, out);
            out.push('}');
        }
        Type::CIRCLE => {
            out.push('<');
            point(&mut f, out)?;
            out.push(',');
            write_float(f.f64_be()?, out);
            out.push('>');
        }
        Type::PATH => {
            let closed = f.u8()? != 0;
            let n = f.u32_be()? as usize;
            out.push(if closed { '(' } else { '[' });
            points(&mut f, n, out)?;
            out.push(if closed { ')' } else { ']' });
        }
        Type::POLYGON => {
            let n = f.u32_be()? as usize;
            out.push('(');
            points(&mut f, n, out)?;
            out.push(')');
        }
        _ => return Err(format!("{} is not a geometric type", ty.name()).into()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn floats(v: &[f64]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_be_bytes()).collect()
    }

    #[test]
    fn shapes() {
        let mut s = String::new();
        write_geometry(&Type::POINT, &floats(&[1.5, 2.0]), &mut s).unwrap();
        assert_eq!(s, "(1.5,2)");
        s.clear();
        write_geometry(&Type::CIRCLE, &floats(&[0.0, 0.0, 3.0]), &mut s).unwrap();
        assert_eq!(s, "<(0,0),3>");
        s.clear();
        let mut path = vec![0u8, 0, 0, 0, 2];
        path.extend(floats(&[1.0, 2.0, 3.0, 4.0]));
        write_geometry(&Type::PATH, &path, &mut s).unwrap();
        assert_eq!(s, "[(1,2),(3,4)]");
    }
}
