//! A connection's prepared statements, least recently used first out, bounded by count and by
//! the bytes of their texts: an ORM that generates a new text for every IN-list length must not
//! make a connection keep megabytes of SQL (and the server its plans). Texts longer than
//! [`MAX_CACHED_TEXT`] are not kept at all.

use std::num::NonZeroUsize;
use std::sync::Arc;

use lru::LruCache;

use crate::wire::Description;

/// A statement prepared on one connection, under a name of that connection's.
pub struct Prepared {
    /// The server-side name.
    pub name: String,
    /// Its parameter and column types.
    pub description: Description,
}

/// Longest text kept in the cache; longer ones are prepared for one use and closed.
pub const MAX_CACHED_TEXT: usize = 64 * 1024;
/// Bytes of text a connection's cache keeps at most.
const TEXT_BUDGET: usize = 4 * 1024 * 1024;

/// The cache; not thread-safe on its own (the connection locks it).
pub struct StatementCache {
    lru: LruCache<String, Arc<Prepared>>,
    bytes: usize,
}

impl StatementCache {
    /// A cache of at most `size` statements; `None` for a size of 0 (no cache).
    pub fn new(size: usize) -> Option<StatementCache> {
        NonZeroUsize::new(size).map(|n| StatementCache {
            lru: LruCache::new(n),
            bytes: 0,
        })
    }

    /// Whether `sql` has a statement here (without marking it used).
    pub fn contains(&self, sql: &str) -> bool {
        self.lru.contains(sql)
    }

    /// How many statements it keeps at most.
    pub fn capacity(&self) -> usize {
        self.lru.cap().get()
    }

    /// The statement for `sql`, marking it recently used.
    pub fn get(&mut self, sql: &str) -> Option<Arc<Prepared>> {
        self.lru.get(sql).cloned()
    }

    /// Keeps `prepared` for `sql` (unless the text is too long); returns the statements that
    /// had to go to make room, which the caller closes on the server.
    pub fn put(&mut self, sql: &str, prepared: Arc<Prepared>) -> Vec<Arc<Prepared>> {
        let mut evicted = Vec::new();
        if sql.len() > MAX_CACHED_TEXT {
            return evicted;
        }
        while self.bytes + sql.len() > TEXT_BUDGET {
            match self.lru.pop_lru() {
                Some((text, old)) => {
                    self.bytes -= text.len();
                    evicted.push(old);
                }
                None => break,
            }
        }
        self.bytes += sql.len();
        if let Some((text, old)) = self.lru.push(sql.to_string(), prepared) {
            self.bytes -= text.len();
            evicted.push(old);
        }
        evicted
    }

    /// Drops the statement for `sql`.
    pub fn pop(&mut self, sql: &str) -> Option<Arc<Prepared>> {
        let old = self.lru.pop(sql)?;
        self.bytes -= sql.len();
        Some(old)
    }

    /// Drops every statement; returns them.
    pub fn clear(&mut self) -> Vec<Arc<Prepared>> {
        self.bytes = 0;
        let mut out = Vec::with_capacity(self.lru.len());
        while let Some((_, p)) = self.lru.pop_lru() {
            out.push(p);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prepared(name: &str) -> Arc<Prepared> {
        Arc::new(Prepared {
            name: name.into(),
            description: Description {
                params: vec![],
                columns: vec![],
            },
        })
    }

    #[test]
    fn bounded_by_count_and_bytes_and_skips_long_texts() {
        let mut c = StatementCache::new(2).unwrap();
        assert!(c.put("a", prepared("1")).is_empty());
        assert!(c.put("b", prepared("2")).is_empty());
        assert_eq!(c.put("c", prepared("3"))[0].name, "1");
        let long = "x".repeat(MAX_CACHED_TEXT + 1);
        assert!(c.put(&long, prepared("4")).is_empty());
        assert!(c.get(&long).is_none());
        let mut big = StatementCache::new(1000).unwrap();
        let text = |i: usize| format!("{i}{}", " ".repeat(MAX_CACHED_TEXT - i.to_string().len()));
        for i in 0..70 {
            big.put(&text(i), prepared(&i.to_string()));
        }
        assert!(big.bytes <= TEXT_BUDGET);
        assert!(big.get(&text(0)).is_none());
        assert!(big.get(&text(69)).is_some());
        assert_eq!(big.clear().len(), TEXT_BUDGET / MAX_CACHED_TEXT);
    }
}
