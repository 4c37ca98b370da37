//! CancelRequest: a new connection to the same server carrying the session's key, which asks
//! the server to cancel whatever that session runs at the moment it arrives. It travels the
//! way its session did: over TLS (same settings, same negotiation) when the session is TLS.

use bytes::BytesMut;
use postgres_protocol::message::frontend;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::conn::Client;
use super::negotiate::{negotiate, Negotiated};
use super::socket::{self, Socket, Target};
use super::tls::Tls;

/// What is needed to cancel a session's statement, detached from its connection.
#[derive(Clone, Debug)]
pub struct CancelToken {
    target: Target,
    process_id: i32,
    secret_key: i32,
    tls: Option<(Tls, String)>,
}

impl Client {
    /// A token that cancels this session's running statement.
    pub fn cancel_token(&self) -> CancelToken {
        CancelToken {
            target: self.target.clone(),
            process_id: self.key.0,
            secret_key: self.key.1,
            tls: self.tls.clone(),
        }
    }
}

impl CancelToken {
    /// Sends the CancelRequest and waits for the server to close that connection, which it
    /// does once it has signalled the backend. After that the cancel can only hit what the
    /// backend runs at that moment: a backend idle between statements ignores it. Whether
    /// anything was cancelled is not reported, as in libpq.
    pub async fn cancel(&self) -> std::io::Result<()> {
        let mut socket = socket::reconnect(&self.target).await?;
        if let Some((tls, host)) = &self.tls {
            socket = match negotiate(socket, host, tls).await {
                Ok(Negotiated::Tls(s, _)) => s,
                Ok(Negotiated::Refused(_)) => {
                    return Err(std::io::Error::other(
                        "the server refused TLS for the cancel",
                    ))
                }
                Err(e) => return Err(std::io::Error::other(e.to_string())),
            };
        }
        send(socket, self.process_id, self.secret_key).await
    }
}

async fn send(mut socket: Socket, process_id: i32, secret_key: i32) -> std::io::Result<()> {
    let mut buf = BytesMut::new();
    frontend::cancel_request(process_id, secret_key, &mut buf);
    socket.write_all(&buf).await?;
    socket.flush().await?;
    let mut end = [0u8; 1];
    match socket.read(&mut end).await {
        Ok(0) => Ok(()),
        // Over TLS the server may close without close_notify: that is the end too.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(()),
        Ok(_) => Err(std::io::Error::other("the server answered a CancelRequest")),
        Err(e) => Err(e),
    }
}
