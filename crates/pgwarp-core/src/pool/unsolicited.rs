//! What servers send on their own (notices, notifications), knowing when a connection that
//! LISTENs is lost (so JavaScript can LISTEN again elsewhere), and cancelling what a reserved
//! connection runs.

use std::sync::Arc;

use super::{ConnSink, Pool};
use crate::connection::{lock, Connection};
use crate::error::Error;
use crate::wire::conn::Ending;

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

    /// Sends a CancelRequest for what reserved connection `id` runs (a caller's `signal` or
    /// `timeout`); whether the server confirmed it. Only its holder has statements on it, so
    /// the cancel cannot reach anyone else's.
    pub async fn interrupt(&self, id: u32) -> bool {
        let conn = lock(&self.inner.state).reserved.get(&id).cloned();
        match conn {
            Some(conn) => conn.cancel_running().await,
            None => false,
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
