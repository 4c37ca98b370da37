use napi::bindgen_prelude::{Buffer, Error, Result};
use napi_derive::napi;
use pgwarp_core::{ConnectOptions, Pool, PoolOptions};

/// Settings as resolved by the TypeScript layer (URL, explicit fields, environment).
#[napi(object)]
pub struct NativePoolOptions {
    pub url: Option<String>,
    pub host: Option<String>,
    pub port: Option<u32>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub database: Option<String>,
    pub application_name: Option<String>,
    pub options: Option<String>,
    pub connect_timeout_ms: Option<u32>,
    pub statement_timeout_ms: Option<u32>,
    pub ssl_mode: Option<String>,
    pub max: Option<u32>,
    pub statement_cache_size: Option<u32>,
}

/// The engine's pool. Every method resolves to a result buffer; errors are data in it.
#[napi]
pub struct NativePool {
    pool: Pool,
}

#[napi]
impl NativePool {
    /// Validates the settings; connections open on first use.
    #[napi(constructor)]
    pub fn new(o: NativePoolOptions) -> Result<Self> {
        let port = o
            .port
            .map(u16::try_from)
            .transpose()
            .map_err(|_| Error::from_reason("port must be between 0 and 65535"))?;
        let defaults = PoolOptions::default();
        let options = PoolOptions {
            connect: ConnectOptions {
                url: o.url,
                host: o.host,
                port,
                user: o.user,
                password: o.password,
                database: o.database,
                application_name: o.application_name,
                options: o.options,
                connect_timeout_ms: o.connect_timeout_ms,
                statement_timeout_ms: o.statement_timeout_ms,
                ssl_mode: o.ssl_mode,
            },
            max: o.max.map_or(defaults.max, |m| m as usize),
            statement_cache_size: o
                .statement_cache_size
                .map_or(defaults.statement_cache_size, |n| n as usize),
        };
        let pool = Pool::new(options).map_err(|e| Error::from_reason(e.to_string()))?;
        Ok(NativePool { pool })
    }

    /// Runs one query; `mode` says what to materialise (0 all, 1 first, 2 one, 3 execute).
    #[napi]
    pub async fn query(&self, sql: String, params: Buffer, mode: u32) -> Buffer {
        Buffer::from(self.pool.query(&sql, &params, mode).await)
    }

    /// The next page of a paged `all()` result (cursor id from the previous page's header).
    #[napi]
    pub async fn next_page(&self, cursor: u32) -> Buffer {
        Buffer::from(self.pool.next_page(cursor).await)
    }

    /// Abandons a paged result; the rest of its rows are discarded.
    #[napi]
    pub fn cancel(&self, cursor: u32) {
        self.pool.cancel(cursor)
    }

    /// Waits for running queries, then closes every connection.
    #[napi]
    pub async fn close(&self) {
        self.pool.close().await
    }

    /// Open connections and running queries, for tests and monitoring.
    #[napi]
    pub fn stats(&self) -> Vec<u32> {
        let s = self.pool.stats();
        vec![s.connections as u32, s.in_flight as u32]
    }
}
