//! Geometric types (point, lseg, box, line, path, polygon, circle) from binary to
//! PostgreSQL's text.

use tokio_postgres::types::Type;

use super::text::write_float;
use super::ConvertError;

struct Floats<'a>(&'a [u8]);

impl Floats<'_> {
    fn next(&mut self) -> Result<f64, ConvertError> {
        if self.0.len() < 8 {
            return Err("geometric value is truncated".into());
        }
        let (head, tail) = self.0.split_at(8);
        self.0 = tail;
        Ok(f64::from_be_bytes(head.try_into()?))
    }

    fn count(&mut self, size: usize) -> Result<usize, ConvertError> {
        if self.0.len() < size {
            return Err("geometric value is truncated".into());
        }
        let (head, tail) = self.0.split_at(size);
        self.0 = tail;
        Ok(head.iter().fold(0usize, |n, b| (n << 8) | *b as usize))
    }

    fn point(&mut self, out: &mut String) -> Result<(), ConvertError> {
        out.push('(');
        write_float(self.next()?, out);
        out.push(',');
        write_float(self.next()?, out);
        out.push(')');
        Ok(())
    }

    fn points(&mut self, n: usize, out: &mut String) -> Result<(), ConvertError> {
        for i in 0..n {
            if i > 0 {
                out.push(',');
            }
            self.point(out)?;
        }
        Ok(())
    }
}

/// Writes a geometric value as PostgreSQL prints it.
pub fn write_geometry(ty: &Type, raw: &[u8], out: &mut String) -> Result<(), ConvertError> {
    let mut f = Floats(raw);
    match *ty {
        Type::POINT => f.point(out)?,
        Type::LSEG => {
            out.push('[');
            f.points(2, out)?;
            out.push(']');
        }
        Type::BOX => f.points(2, out)?,
        Type::LINE => {
            out.push('{');
            write_float(f.next()?, out);
            out.push(',');
            write_float(f.next()?, out);
            out.push(',');
            write_float(f.next()?, out);
            out.push('}');
        }
        Type::CIRCLE => {
            out.push('<');
            f.point(out)?;
            out.push(',');
            write_float(f.next()?, out);
            out.push('>');
        }
        Type::PATH => {
            let closed = f.count(1)? != 0;
            let n = f.count(4)?;
            out.push(if closed { '(' } else { '[' });
            f.points(n, out)?;
            out.push(if closed { ')' } else { ']' });
        }
        Type::POLYGON => {
            let n = f.count(4)?;
            out.push('(');
            f.points(n, out)?;
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
