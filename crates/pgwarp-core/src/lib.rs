//! pgwarp's engine: everything between a JavaScript call and the PostgreSQL socket that does not
//! need N-API. The binding crate only moves bytes in and out of this crate.
//!
//! A query's path: [`Engine::submit`] takes the batch of requests JavaScript made in one tick
//! and routes each to a shard ([`engine`]); the shard's [`Pool::query`] decodes the parameters
//! ([`params::wire`]), leases the least busy connection ([`pool`]), prepares through the
//! connection's bounded statement cache ([`connection`]), encodes parameters for the
//! statement's types ([`params::encode`]), runs it ([`query`]), encodes the rows into one
//! buffer per page ([`result`]), and appends it to the completion batch JavaScript drains.

pub mod bytes;
pub mod config;
pub mod connection;
pub mod copy_in;
pub mod copy_out;
pub mod engine;
pub mod error;
#[doc(hidden)]
pub mod fuzz_targets;
pub mod guard;
pub mod params;
pub mod pool;
pub mod query;
pub mod result;
pub mod server_error;
pub mod session;
pub mod statement_cache;
mod sync;
pub mod types;
pub mod wire;

pub use config::{ConnectOptions, PoolOptions};
pub use engine::Engine;
pub use error::Error;
pub use pool::{Counters, Pool, PoolStats};
