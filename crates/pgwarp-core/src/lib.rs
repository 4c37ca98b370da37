//! pgwarp's engine: everything between a JavaScript call and the PostgreSQL socket that does not
//! need N-API. The binding crate only moves bytes in and out of this crate.
//!
//! A query's path: [`Engine::submit`] takes the batch of requests JavaScript made in one tick
//! and routes each to a shard ([`engine`]); the shard's [`Pool::query`] decodes the parameters
//! ([`params::wire`]), leases the least busy connection ([`pool`]), prepares through the
//! connection's bounded statement cache ([`connection`]), encodes parameters for the
//! statement's types ([`params::encode`]), runs it ([`query`]), encodes the rows into one
//! buffer per page ([`result`]), and appends it to the completion batch JavaScript drains.

#![warn(missing_docs)]

pub(crate) mod bytes;
pub mod config;
pub(crate) mod connection;
pub(crate) mod copy;
pub mod engine;
pub mod error;
#[doc(hidden)]
pub mod fuzz_targets;
pub(crate) mod guard;
pub(crate) mod params;
pub(crate) mod pool;
pub(crate) mod query;
pub(crate) mod result;
pub(crate) mod server_error;
mod sync;
pub(crate) mod types;
pub(crate) mod wire;

pub use config::{ConnectOptions, PoolOptions};
pub use engine::Engine;
pub use error::Error;
pub use pool::{Counters, Pool, PoolStats};
