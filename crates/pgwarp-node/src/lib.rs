//! The N-API surface of pgwarp: moves strings and buffers between JavaScript and
//! `pgwarp-core`, and nothing else. The signatures here are the source of the generated
//! `native/index.d.ts`.

#![deny(clippy::all)]

mod pool;
mod runtime;

pub use pool::{NativePool, NativePoolOptions};

/// mimalloc, not the system allocator: the engine allocates and frees a few buffers per query
/// on its own thread and frees the JS thread's (and the JS thread frees its pages). With
/// glibc's malloc a third of the engine thread's time at 64 queries in flight went to
/// malloc, free and arena consolidation; mimalloc cut client CPU per query by ~17 %
/// (docs/design.md has the numbers). Only Rust's allocations use it, and every buffer handed
/// to JavaScript is freed by Rust's finalizer, so no memory crosses allocators.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
