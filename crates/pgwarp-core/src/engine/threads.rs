//! How the engine's threads ask the operating system to schedule them.
//!
//! A shard is woken by the JavaScript thread (a request) and by its sockets (the server's
//! answer). Under Linux's default policy a thread that was sleeping preempts the thread that
//! woke it: the JavaScript thread stalls inside `submit()` while the shard runs on its core,
//! and on a machine with few cores the shard also preempts the server. `SCHED_BATCH` keeps
//! the thread's fair share but gives up that wake-up preemption, so the shard runs when a
//! core is free instead of in the middle of JavaScript's work. Measured in docs/design.md.

/// Puts the calling thread under `SCHED_BATCH` where the platform has it. Failure is not an
/// error: the thread keeps the default policy, which is only slower.
pub fn prefer_batch() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: pid 0 is the calling thread; `param` outlives the call.
        let _ = unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) };
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn the_calling_thread_gets_the_batch_policy() {
        std::thread::spawn(|| {
            super::prefer_batch();
            // SAFETY: querying the calling thread's policy.
            assert_eq!(unsafe { libc::sched_getscheduler(0) }, libc::SCHED_BATCH);
        })
        .join()
        .unwrap();
    }
}
