//! Entry points for fuzzing: each takes arbitrary bytes and must return, with a value or an
//! error, never panic. `fuzz/` runs them under libFuzzer (`npm run fuzz`); the tests below
//! run a seeded, bounded share of the same inputs on every `cargo test`.
//!
//! What they cover is what the engine reads from outside: values the server sends for every
//! type ([`decode_value`]), messages it sends ([`server_messages`]), the parameter buffer
//! JavaScript writes ([`parameters`]), the rows `copyRows` encodes ([`copy_rows`]) and the
//! connection settings users write ([`settings`]).

use bytes::{BufMut, BytesMut};
use postgres_protocol::message::backend::Message;
use postgres_types::{Field, Kind, Type};

use crate::config::ConnectOptions;
use crate::params::{self, copy::RowEncoder};
use crate::result::{ResultEncoder, ResultFormat};
use crate::wire::{self, Column, RawColumns, ServerError};

/// Types the server can send, built in and user-made (enum, domain, composite, arrays).
fn types() -> &'static [Type] {
    static TYPES: std::sync::OnceLock<Vec<Type>> = std::sync::OnceLock::new();
    TYPES.get_or_init(make_types)
}

fn make_types() -> Vec<Type> {
    let mut out: Vec<Type> = (0..20000)
        .filter_map(Type::from_oid)
        .filter(|t| !matches!(t.kind(), Kind::Pseudo))
        .collect();
    let domain = Type::new(
        "d".into(),
        900001,
        Kind::Domain(Type::INT4),
        "public".into(),
    );
    let enumerated = Type::new("e".into(), 900002, Kind::Enum(vec![]), "public".into());
    let composite = Type::new(
        "c".into(),
        900003,
        Kind::Composite(vec![
            Field::new("a".into(), Type::INT4),
            Field::new("b".into(), Type::TEXT),
            Field::new("c".into(), Type::NUMERIC_ARRAY),
        ]),
        "public".into(),
    );
    let composite_array = Type::new(
        "_c".into(),
        900004,
        Kind::Array(composite.clone()),
        "public".into(),
    );
    let unknown = Type::new("x".into(), 900005, Kind::Simple, "public".into());
    out.extend([domain, enumerated, composite, composite_array, unknown]);
    out
}

fn column(ty: Type) -> Column {
    Column {
        name: "v".into(),
        type_: ty,
        table_oid: 0,
        column_id: 0,
        type_modifier: -1,
        type_size: -1,
    }
}

/// A DataRow message with the given cells (`None`: NULL), as the server sends it.
pub(crate) fn data_row(cells: &[Option<&[u8]>]) -> Option<Message> {
    let mut body = BytesMut::new();
    body.put_u16(cells.len() as u16);
    for c in cells {
        match c {
            Some(b) => {
                body.put_i32(b.len() as i32);
                body.put_slice(b);
            }
            None => body.put_i32(-1),
        }
    }
    let mut msg = BytesMut::new();
    msg.put_u8(b'D');
    msg.put_i32(body.len() as i32 + 4);
    msg.put_slice(&body);
    Message::parse(&mut msg).ok().flatten()
}

/// The first byte picks a type, the rest is that type's binary value as the server sent it.
pub fn decode_value(data: &[u8]) {
    let all = types();
    let Some((&pick, value)) = data.split_first() else {
        return;
    };
    let ty = all[pick as usize * 7 % all.len()].clone();
    let columns = [column(ty.clone()), column(Type::TEXT)];
    let Some(Message::DataRow(row)) = data_row(&[Some(value), None]) else {
        return;
    };
    // node-postgres' shapes without a text mask, on the unnamed path, convert binary values
    // through plans `Binary` does not use for the same type (a domain's rendering).
    for (format, named) in [
        (ResultFormat::Binary { exact_json: false }, true),
        (ResultFormat::Binary { exact_json: true }, true),
        (ResultFormat::Pg { server_text: 0 }, false),
    ] {
        let mut encoder = ResultEncoder::new(&columns, format, named);
        let _ = encoder.push(&row);
        let _ = encoder.finish(1, "SELECT 1");
    }
}

/// Bytes as a stream of server messages, read as the engine reads them.
pub fn server_messages(data: &[u8]) {
    use fallible_iterator::FallibleIterator;
    let mut buf = BytesMut::from(data);
    loop {
        // As the engine does (wire::task): a declared length past the limit is an error
        // before anything is allocated for it.
        match postgres_protocol::message::backend::Header::parse(&buf) {
            Ok(Some(h)) if (h.len() as usize) < wire::MAX_MESSAGE => {}
            _ => return,
        }
        let Ok(Some(message)) = Message::parse(&mut buf) else {
            return;
        };
        match message {
            Message::RowDescription(body) => {
                if let Ok(raw) = RawColumns::parse(&body) {
                    let _ = raw.oids();
                }
            }
            Message::ErrorResponse(body) => {
                if let Ok(e) = ServerError::parse(body.fields()) {
                    let _ = (e.code(), e.severity(), e.message(), e.to_string());
                }
            }
            Message::NoticeResponse(body) => {
                let _ = ServerError::parse(body.fields());
            }
            Message::CommandComplete(body) => {
                if let Ok(tag) = body.tag() {
                    let _ = (wire::rows_of_tag(tag), wire::command_of_tag(tag));
                }
            }
            Message::DataRow(body) => {
                let mut ranges = body.ranges();
                while let Ok(Some(r)) = ranges.next() {
                    if let Some(r) = r {
                        let _ = body.buffer().get(r);
                    }
                }
            }
            Message::ParameterDescription(body) => {
                let _ = body.parameters().collect::<Vec<u32>>();
            }
            _ => {}
        }
    }
}

/// The parameter buffer JavaScript writes, encoded for a few parameter types each.
pub fn parameters(data: &[u8]) {
    let Ok(values) = params::decode(data) else {
        return;
    };
    let all = types();
    for (i, v) in values.iter().enumerate() {
        for k in 0..4 {
            let ty = &all[(i * 31 + k * 97 + data.len()) % all.len()];
            let _ = params::encode::encode(v, ty, i + 1);
        }
    }
    let _ = params::encode_untyped(&values);
}

/// A batch of `copyRows` values, for a table whose column types the first bytes pick.
pub fn copy_rows(data: &[u8]) {
    if data.len() < 3 {
        return;
    }
    let all = types();
    let count = 1 + data[0] as usize % 4;
    let columns: Vec<Type> = (0..count)
        .map(|i| all[data[1 + i % 2] as usize * (i + 3) % all.len()].clone())
        .collect();
    let names = (0..count).map(|i| format!("c{i}")).collect();
    let encoder = RowEncoder::new(columns, names);
    let _ = encoder.encode(&data[3..], 0);
}

/// A connection URL as a user might write it.
pub fn settings(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = crate::config::url::parse(&text);
    let options = ConnectOptions {
        url: Some(format!("postgres://{text}")),
        user: Some("u".into()),
        ..Default::default()
    };
    let _ = options.to_settings();
    let _ = crate::guard::refuse_shared(&text);
    let _ = crate::guard::check_text(&text);
}

#[cfg(test)]
mod tests {
    //! A seeded share of each target, so `npm test` runs them every time: random bytes, and
    //! valid encodings with random bytes flipped, which reach deeper than noise alone.

    use super::*;

    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn bytes(&mut self, max: usize) -> Vec<u8> {
            let n = (self.next() % (max as u64 + 1)) as usize;
            (0..n).map(|_| self.next() as u8).collect()
        }

        fn mutate(&mut self, seed: &[u8]) -> Vec<u8> {
            let mut b = seed.to_vec();
            for _ in 0..1 + self.next() % 4 {
                if b.is_empty() {
                    break;
                }
                let i = (self.next() % b.len() as u64) as usize;
                match self.next() % 3 {
                    0 => b[i] = self.next() as u8,
                    1 => {
                        b.truncate(i);
                    }
                    _ => b.insert(i, self.next() as u8),
                }
            }
            b
        }
    }

    /// Inputs per target in `cargo test`; `npm run fuzz` runs libFuzzer for longer.
    const RUNS: usize = 4000;

    fn run(seeds: &[Vec<u8>], target: fn(&[u8])) {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for s in seeds {
            target(s);
        }
        for i in 0..RUNS {
            let input = if i % 2 == 0 || seeds.is_empty() {
                rng.bytes(64)
            } else {
                let s = &seeds[i % seeds.len()];
                rng.mutate(s)
            };
            target(&input);
        }
    }

    fn values_for_every_type() -> Vec<Vec<u8>> {
        let samples: [&[u8]; 8] = [
            &[0, 0, 0, 1],
            &[0, 0, 0, 0, 0, 0, 0, 2],
            b"\x01{\"a\":1}",
            &[
                0, 1, 0, 0, 0, 0, 0, 0x17, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 5,
            ],
            &[0, 2, 0, 1, 0, 0, 0, 0, 0, 0x0a],
            b"hello",
            &[1],
            &[],
        ];
        let mut out = Vec::new();
        for pick in 0..=255u8 {
            for s in samples {
                let mut b = vec![pick];
                b.extend_from_slice(s);
                out.push(b);
            }
        }
        out
    }

    #[test]
    fn decoding_server_values_never_panics() {
        run(&values_for_every_type(), decode_value);
    }

    #[test]
    fn reading_server_messages_never_panics() {
        let mut seeds = Vec::new();
        for (tag, body) in [
            (
                b'T',
                &[
                    0u8, 1, b'a', 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 23, 0, 4, 255, 255, 255, 255, 0, 1,
                ][..],
            ),
            (b'E', b"SERROR\0C22012\0Mdivision by zero\0\0"),
            (b'C', b"INSERT 0 1\0"),
            (b'D', &[0, 1, 0, 0, 0, 1, b'x']),
            (b't', &[0, 1, 0, 0, 0, 23]),
        ] {
            let mut m = vec![tag];
            m.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
            m.extend_from_slice(body);
            seeds.push(m);
        }
        // Found by libFuzzer: a declared length of 4 GB was an allocation of 4 GB.
        seeds.push(vec![0xfd, 0xff, 0xff, 0xff, 0xff]);
        seeds.push(vec![b'D', 0x7f, 0xff, 0xff, 0xff, 0]);
        run(&seeds, server_messages);
    }

    #[test]
    fn decoding_and_encoding_parameters_never_panics() {
        let seeds = vec![
            [
                &2u32.to_le_bytes()[..],
                &[3],
                &1.5f64.to_le_bytes(),
                &[9, 2, 0, 0, 0, 0, 5, 1, 0, 0, 0, b'x'],
            ]
            .concat(),
            [&1u32.to_le_bytes()[..], &[8, 2, 0, 0, 0], b"{}"].concat(),
            [&1u32.to_le_bytes()[..], &[4, 3, 0, 0, 0], b"-99"].concat(),
            [&1u32.to_le_bytes()[..], &[7], &1e300f64.to_le_bytes()].concat(),
            // Found by libFuzzer: a Date far past JavaScript's range overflowed the
            // conversion to PostgreSQL microseconds.
            vec![
                9, 0, 0, 0, 0, 0, 2, 2, 7, 6, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 2, 2, 2, 1,
            ],
        ];
        run(&seeds, parameters);
    }

    #[test]
    fn encoding_copy_rows_never_panics() {
        let row = [
            &1u32.to_le_bytes()[..],
            &[9, 2, 0, 0, 0, 3],
            &7f64.to_le_bytes(),
            &[5, 1, 0, 0, 0, b'a'],
        ]
        .concat();
        let seeds: Vec<Vec<u8>> = (0..=255u8)
            .step_by(5)
            .map(|t| [&[1, t, t.wrapping_add(1)][..], &row].concat())
            .collect();
        run(&seeds, copy_rows);
    }

    #[test]
    fn parsing_settings_never_panics() {
        let seeds: Vec<Vec<u8>> = [
            "al%40ice:p%3A@h1:5432,[::1]:7/db?sslmode=prefer&keepalives_idle=3",
            "u@%2Ftmp/db?options=-c%20x%3D1&connect_timeout=-1",
            "x@h:99999/db?port=1,2,3",
            "/* c */ begin",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
        run(&seeds, settings);
    }
}
