//! pgwarp's engine: everything between a JavaScript call and the PostgreSQL socket that does not
//! need N-API. The binding crate only moves bytes in and out of this crate.
//!
//! A query's path: [`Pool::query`] decodes the parameter buffer ([`params::wire`]), leases the
//! least busy connection ([`pool`]), prepares through the connection's bounded statement cache
//! ([`connection`]), encodes parameters for the statement's types ([`params::encode`]), runs it
//! ([`query`]), and encodes the rows into one buffer ([`result`]) for JavaScript to decode.

pub mod config;
pub mod connection;
pub mod error;
pub mod params;
pub mod pool;
pub mod query;
pub mod result;
pub mod types;

pub use config::{ConnectOptions, PoolOptions};
pub use error::Error;
pub use pool::{Pool, PoolStats};
