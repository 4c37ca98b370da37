//! What servers send on their own (notices, notifications), knowing when a connection that
//! LISTENs is lost (so JavaScript can LISTEN again elsewhere), and cancelling what a reserved
//! connection runs.

use std::sync::Arc;

use super::{ConnSink, Pool};
use crate::connection::Connection;
use crate::error::Error;
use crate::sync::lock;
use crate::wire::conn::Ending;
use crate::wire::Cancelled;

impl Pool {
    /// Sets where every new connection's notices and notifications go.
    pub fn set_unsolicited(&self, sink: ConnSink) {
        *lock(&self.inner.unsolicited) = Some(sink);
    }

    pub(super) fn attach_sink(&self, conn: &Arc<Connection>) {
        if let Some(sink) = lock(&self.inner.unsolicited).clone() {
            let id = conn.id();
            conn.client()
                .set_unsolicited(Some(Arc::new(move |u| sink(id, u))));
        }
    }

    /// Cancels the statements of call `key` on reserved connection `id` (a caller's `signal`
    /// or `timeout`); whether a cancel was sent and confirmed. Only statements of that key
    /// can be hit, and nothing else is sent on the connection until the cancel is spent
    /// (`wire::cancel`), so it does not matter who holds the connection by then.
    pub async fn interrupt(&self, id: u32, key: u32) -> bool {
        let conn = lock(&self.inner.state).reserved.get(&id).cloned();
        match conn {
            Some(conn) if key != 0 => conn.cancel(key).await == Cancelled::Confirmed,
            _ => false,
        }
    }

    /// Tells when reserved connection `id` is gone (closed or lost), even after it was
    /// released: a listener waits on it to LISTEN again on a new connection.
    pub fn ending_of(&self, id: u32) -> Result<Ending, Error> {
        let st = lock(&self.inner.state);
        let conn = st
            .reserved
            .get(&id)
            .ok_or_else(|| Error::Internal(format!("connection {id} is not reserved")))?;
        Ok(conn.client().ending())
    }
}
