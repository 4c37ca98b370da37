//! Finished requests waiting for JavaScript. Shards append results to one batch; the first
//! append after a drain wakes JavaScript once; JavaScript takes the whole batch as one buffer.
//!
//! Layout of a drained batch (little-endian): the results, each starting 8-byte aligned (the
//! cells inside a result are 8-aligned relative to its start), then per result
//! `u32 request id, u32 offset, u32 length`, then `u32 count` as the last four bytes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::sync::lock;

/// The batch and the wake-up that announces it.
pub struct Completions {
    batch: Mutex<Batch>,
    scheduled: AtomicBool,
    wake: Box<dyn Fn() + Send + Sync>,
}

#[derive(Default)]
struct Batch {
    data: Vec<u8>,
    index: Vec<[u32; 3]>,
}

impl Completions {
    /// An empty batch; `wake` tells JavaScript to drain.
    pub fn new(wake: Box<dyn Fn() + Send + Sync>) -> Self {
        Completions {
            batch: Mutex::new(Batch::default()),
            scheduled: AtomicBool::new(false),
            wake,
        }
    }

    /// Adds the result of request `id`.
    pub fn push(&self, id: u32, result: &[u8]) {
        lock(&self.batch).append(id, result);
        self.announce();
    }

    /// Adds the result of request `id`, taking its buffer: into an empty batch it goes
    /// without a copy (a page of rows is most of what crosses to JavaScript).
    pub fn push_owned(&self, id: u32, result: Vec<u8>) {
        {
            let mut b = lock(&self.batch);
            if b.data.is_empty() && b.index.is_empty() {
                b.index.push([id, 0, result.len() as u32]);
                b.data = result;
            } else {
                b.append(id, &result);
            }
        }
        self.announce();
    }

    fn announce(&self) {
        if !self.scheduled.swap(true, Ordering::AcqRel) {
            (self.wake)();
        }
    }

    /// Takes everything pushed so far.
    pub fn drain(&self) -> Vec<u8> {
        // Cleared before taking, so a push racing with this drain schedules a new wake-up
        // rather than being left behind.
        self.scheduled.store(false, Ordering::Release);
        let Batch { mut data, index } = std::mem::take(&mut *lock(&self.batch));
        let at = data.len().next_multiple_of(4);
        data.resize(at, 0);
        for entry in &index {
            for v in entry {
                data.extend_from_slice(&v.to_le_bytes());
            }
        }
        data.extend_from_slice(&(index.len() as u32).to_le_bytes());
        data
    }
}

impl Batch {
    fn append(&mut self, id: u32, result: &[u8]) {
        let at = self.data.len().next_multiple_of(8);
        self.data.resize(at, 0);
        self.data.extend_from_slice(result);
        self.index.push([id, at as u32, result.len() as u32]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    #[test]
    fn batches_results_and_wakes_once() {
        let wakes = Arc::new(AtomicUsize::new(0));
        let w = wakes.clone();
        let c = Completions::new(Box::new(move || {
            w.fetch_add(1, Ordering::Relaxed);
        }));
        c.push(7, b"abc");
        c.push(9, b"defgh");
        assert_eq!(wakes.load(Ordering::Relaxed), 1);
        let d = c.drain();
        let n = u32::from_le_bytes(d[d.len() - 4..].try_into().unwrap()) as usize;
        assert_eq!(n, 2);
        let entry = |i: usize| {
            let at = d.len() - 4 - (n - i) * 12;
            let v =
                |k: usize| u32::from_le_bytes(d[at + 4 * k..at + 4 * k + 4].try_into().unwrap());
            (v(0), v(1) as usize, v(2) as usize)
        };
        let (id, off, len) = entry(1);
        assert_eq!((id, &d[off..off + len]), (9, &b"defgh"[..]));
        assert_eq!(off % 8, 0);
        c.push(1, b"x");
        assert_eq!(wakes.load(Ordering::Relaxed), 2);
        c.drain();
        // An adopted buffer and a copied one behind it, both found by their index entries.
        c.push_owned(3, b"page".to_vec());
        c.push(4, b"tail");
        let d = c.drain();
        assert_eq!(u32::from_le_bytes(d[d.len() - 4..].try_into().unwrap()), 2);
        let at = d.len() - 4 - 24;
        let v = |k: usize| u32::from_le_bytes(d[at + 4 * k..at + 4 * k + 4].try_into().unwrap());
        assert_eq!(
            (v(0), &d[v(1) as usize..(v(1) + v(2)) as usize]),
            (3, &b"page"[..])
        );
        assert_eq!(
            (v(3), &d[v(4) as usize..(v(4) + v(5)) as usize]),
            (4, &b"tail"[..])
        );
    }
}
