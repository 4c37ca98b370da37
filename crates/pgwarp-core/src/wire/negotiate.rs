//! Getting TLS onto a fresh socket: the SSLRequest dance (`S` or `N` from the server) or, with
//! `sslnegotiation=direct`, a TLS handshake from the first byte (ALPN `postgresql`). Used for
//! sessions and for CancelRequests, which must travel the way their session did.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::socket::Socket;
use super::tls::Tls;
use crate::error::Error;

/// What came of asking for TLS.
pub enum Negotiated {
    /// TLS is up; the server certificate's channel-binding hash comes with it.
    Tls(Socket, Option<Vec<u8>>),
    /// The server has no TLS (`N`); the socket is still good for plaintext.
    Refused(Socket),
}

/// Why TLS failed, with the sslmode in force.
fn failure(tls: &Tls, host: &str, e: std::io::Error) -> Error {
    Error::Connection {
        message: format!("could not connect: {}", tls.explain(host, &e)),
        code: "ETLS",
        server: None,
    }
}

/// Asks for TLS on `socket` (a TCP connection to `host`) and shakes hands.
pub async fn negotiate(socket: Socket, host: &str, tls: &Tls) -> Result<Negotiated, Error> {
    let Socket::Tcp(mut tcp) = socket else {
        return Ok(Negotiated::Refused(socket));
    };
    if !tls.direct {
        let mut request = bytes::BytesMut::new();
        postgres_protocol::message::frontend::ssl_request(&mut request);
        tcp.write_all(&request)
            .await
            .map_err(super::startup::io_error)?;
        let mut answer = [0u8; 1];
        tcp.read_exact(&mut answer)
            .await
            .map_err(super::startup::io_error)?;
        match answer[0] {
            b'S' => {}
            b'N' => return Ok(Negotiated::Refused(Socket::Tcp(tcp))),
            other => {
                // Closing with the rest of its answer unread would reset the connection (RST),
                // which the peer may take badly: read what is there, then close.
                let mut rest = [0u8; 4096];
                while matches!(tcp.try_read(&mut rest), Ok(n) if n > 0) {}
                let _ = tcp.shutdown().await;
                return Err(Error::Connection {
                    message: format!(
                        "could not connect: received invalid response to the SSL request: {:?} (0x{other:02x}), not S or N (is it PostgreSQL?)",
                        other as char
                    ),
                    code: "EPROTO",
                    server: None,
                });
            }
        }
    }
    let connector = tokio_rustls::TlsConnector::from(tls.config());
    let stream = connector
        .connect(tls.server_name(host)?, tcp)
        .await
        .map_err(|e| failure(tls, host, e))?;
    let binding = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| super::tls::server_end_point(c));
    Ok(Negotiated::Tls(Socket::Tls(Box::new(stream)), binding))
}
