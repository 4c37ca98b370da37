//! Types the server names by OID that are not built in (enums, domains, composites, ranges,
//! extension types and arrays of them), looked up in the catalog once per connection.
//!
//! The lookups use the simple protocol, so they work behind PgBouncer in transaction mode,
//! and all OIDs of a statement are resolved in one round trip per level of nesting.

use std::collections::{HashMap, HashSet};
use std::fmt::Write;
use std::sync::Mutex;

use postgres_types::{Field, Kind, Type};

use super::conn::Client;
use crate::error::Error;
use crate::sync::lock;

/// Types this connection has looked up.
#[derive(Default)]
pub struct TypeCache {
    types: Mutex<HashMap<u32, Type>>,
}

/// One row of the type lookup.
struct Info {
    name: String,
    schema: String,
    typtype: u8,
    elem: u32,
    len: i16,
    base: u32,
    relid: u32,
    range_sub: u32,
    multirange_of: u32,
}

/// Deeper nesting than this (a domain over an array of a composite of ...) is refused.
const MAX_DEPTH: usize = 16;

impl TypeCache {
    /// The type for `oid` if it is built in or already known.
    pub fn known(&self, oid: u32) -> Option<Type> {
        Type::from_oid(oid).or_else(|| lock(&self.types).get(&oid).cloned())
    }

    /// Forgets every looked-up type (after `DISCARD ALL` or a schema change).
    pub fn clear(&self) {
        lock(&self.types).clear();
    }

    /// The types for `oids`, looking up the unknown ones on `client`.
    pub async fn resolve(&self, client: &Client, oids: &[u32]) -> Result<Vec<Type>, Error> {
        let missing: Vec<u32> = oids
            .iter()
            .copied()
            .filter(|o| self.known(*o).is_none())
            .collect();
        if !missing.is_empty() {
            self.look_up(client, missing).await?;
        }
        Ok(oids
            .iter()
            .map(|o| self.known(*o).unwrap_or_else(|| unknown(*o)))
            .collect())
    }

    async fn look_up(&self, client: &Client, mut todo: Vec<u32>) -> Result<(), Error> {
        // Multiranges (and pg_range.rngmultitypid) exist from PostgreSQL 14 on; the server
        // reports its version as `18.4` or `9.6.24`.
        let multiranges = client
            .parameter("server_version")
            .and_then(|v| v.split('.').next()?.parse::<u32>().ok())
            .is_none_or(|major| major >= 14);
        let mut infos: HashMap<u32, Info> = HashMap::new();
        let mut fields: HashMap<u32, Vec<(String, u32)>> = HashMap::new();
        for _ in 0..MAX_DEPTH {
            todo.retain(|o| !infos.contains_key(o) && self.known(*o).is_none());
            todo.sort_unstable();
            todo.dedup();
            if todo.is_empty() {
                break;
            }
            let script = client.batch(&lookup_sql(&todo, multiranges)).await?;
            let mut next = Vec::new();
            for row in &script.rows {
                let cell = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
                let num = |i: usize| cell(i).parse::<u32>().unwrap_or(0);
                if row.len() == 3 {
                    // An attribute of a composite: relid, name, type.
                    fields.entry(num(0)).or_default().push((cell(1), num(2)));
                    next.push(num(2));
                    continue;
                }
                let info = Info {
                    name: cell(1),
                    schema: cell(2),
                    typtype: cell(3).bytes().next().unwrap_or(b'b'),
                    elem: num(4),
                    len: cell(5).parse().unwrap_or(0),
                    base: num(6),
                    relid: num(7),
                    range_sub: num(8),
                    multirange_of: num(9),
                };
                next.extend([info.elem, info.base, info.range_sub, info.multirange_of]);
                infos.insert(num(0), info);
            }
            next.retain(|o| *o != 0);
            todo = next;
        }
        let mut building = HashSet::new();
        let oids: Vec<u32> = infos.keys().copied().collect();
        for oid in oids {
            self.build(oid, &infos, &fields, &mut building);
        }
        Ok(())
    }

    fn build(
        &self,
        oid: u32,
        infos: &HashMap<u32, Info>,
        fields: &HashMap<u32, Vec<(String, u32)>>,
        building: &mut HashSet<u32>,
    ) -> Type {
        if let Some(t) = self.known(oid) {
            return t;
        }
        let Some(info) = infos.get(&oid) else {
            return unknown(oid);
        };
        if !building.insert(oid) {
            // A cycle can only come from a catalog changing under us; stop it here.
            return unknown(oid);
        }
        let mut sub = |o: u32| self.build(o, infos, fields, building);
        let kind = match info.typtype {
            b'e' => Kind::Enum(Vec::new()),
            b'p' => Kind::Pseudo,
            b'd' => Kind::Domain(sub(info.base)),
            b'r' => Kind::Range(sub(info.range_sub)),
            b'm' => Kind::Multirange(sub(info.multirange_of)),
            b'c' => Kind::Composite(
                fields
                    .get(&info.relid)
                    .map(|fs| {
                        fs.iter()
                            .map(|(name, t)| Field::new(name.clone(), sub(*t)))
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            _ if info.elem != 0 && info.len == -1 => Kind::Array(sub(info.elem)),
            _ => Kind::Simple,
        };
        let ty = Type::new(info.name.clone(), oid, kind, info.schema.clone());
        lock(&self.types).insert(oid, ty.clone());
        ty
    }
}

/// A type the catalog does not know (dropped meanwhile): its values are passed on as raw text.
fn unknown(oid: u32) -> Type {
    Type::new(format!("oid {oid}"), oid, Kind::Simple, String::new())
}

fn lookup_sql(oids: &[u32], multiranges: bool) -> String {
    let mut list = String::new();
    for (i, o) in oids.iter().enumerate() {
        if i > 0 {
            list.push(',');
        }
        let _ = write!(list, "{o}");
    }
    let (multi_col, multi_join) = if multiranges {
        (
            "coalesce(m.rngtypid, 0)",
            "LEFT JOIN pg_catalog.pg_range m ON m.rngmultitypid = t.oid",
        )
    } else {
        ("0", "")
    };
    // OIDs are integers written here by the engine, never text from a caller.
    format!(
        "SELECT t.oid, t.typname, n.nspname, t.typtype, t.typelem, t.typlen, t.typbasetype, \
         t.typrelid, coalesce(r.rngsubtype, 0), {multi_col} \
         FROM pg_catalog.pg_type t \
         JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
         LEFT JOIN pg_catalog.pg_range r ON r.rngtypid = t.oid {multi_join} \
         WHERE t.oid IN ({list}); \
         SELECT a.attrelid, a.attname, a.atttypid FROM pg_catalog.pg_attribute a \
         JOIN pg_catalog.pg_type t ON t.typrelid = a.attrelid \
         WHERE t.oid IN ({list}) AND t.typtype = 'c' AND a.attnum > 0 AND NOT a.attisdropped \
         ORDER BY a.attrelid, a.attnum"
    )
}
