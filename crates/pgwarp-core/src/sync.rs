//! The one locking rule of the crate, below every module that takes a lock.

use std::sync::{Mutex, MutexGuard};

/// A poisoned lock only means another query panicked mid-update of a cache or counter; the data
/// is still consistent enough to use, and refusing would turn one bug into a dead pool.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
