//! The parameter types the server infers for a statement, for JavaScript's type codecs
//! (`types: { ... serialize }`), which must know a parameter's type before sending it.
//!
//! Answer: `u8 0, u32 count`, then a `u32` type OID per parameter.

use super::acquire::Want;
use super::Pool;
use crate::error::Error;

impl Pool {
    /// Describes `sql` (the unnamed statement; nothing runs) on reserved connection `conn`,
    /// where the query will run (its transaction's locks, temporary tables and search_path
    /// are what count), or on a pooled one when `conn` is 0.
    pub async fn describe_params(&self, conn: u32, sql: &str) -> Result<Vec<u8>, Error> {
        crate::guard::check_text(sql)?;
        let lease = if conn == 0 {
            self.acquire(Want::Shared).await?
        } else {
            self.lease_reserved(conn)?
        };
        let description = {
            let _turn = lease.conn.turn().await;
            lease.conn.describe_unnamed(sql).await?
        };
        let mut out = vec![0];
        out.extend_from_slice(&(description.params.len() as u32).to_le_bytes());
        for ty in &description.params {
            out.extend_from_slice(&ty.oid().to_le_bytes());
        }
        Ok(out)
    }
}
