//! The N-API surface of pgwarp: moves strings and buffers between JavaScript and
//! `pgwarp-core`, and nothing else. The signatures here are the source of the generated
//! `native/index.d.ts`.

#![deny(clippy::all)]

mod pool;
mod runtime;

pub use pool::{NativePool, NativePoolOptions};
