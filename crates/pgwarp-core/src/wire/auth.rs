//! A session's startup on a connected socket: the StartupMessage, authentication (cleartext,
//! MD5, SCRAM-SHA-256 and, over TLS, SCRAM-SHA-256-PLUS with channel binding), then the
//! server's parameters and key data up to the first ReadyForQuery.

use std::collections::HashMap;
use std::io;

use bytes::BytesMut;
use postgres_protocol::authentication::{self, sasl};
use postgres_protocol::message::backend::{AuthenticationSaslBody, Header, Message};
use postgres_protocol::message::frontend;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::settings::{ChannelBinding, Settings};
use super::socket::Socket;
use super::startup::io_error;
use crate::error::Error;
use crate::server_error::ServerError;

/// The longest message expected during startup (authentication, parameters, errors).
const STARTUP_MESSAGE_LIMIT: usize = 1 << 20;

/// What the server said during startup.
pub(super) struct Startup {
    pub process_id: i32,
    pub secret_key: i32,
    pub parameters: HashMap<String, String>,
    pub status: u8,
}

/// A socket during startup, with what was read past the last message.
pub(super) struct Handshake {
    pub socket: Socket,
    pub read: BytesMut,
    /// The server certificate's hash when the socket is TLS (for channel binding).
    pub binding: Option<Vec<u8>>,
    /// The host and port, for the password file.
    pub host: String,
    pub port: u16,
}

impl Handshake {
    async fn send(&mut self, buf: &[u8]) -> Result<(), Error> {
        self.socket.write_all(buf).await.map_err(io_error)
    }

    async fn next(&mut self) -> Result<Message, Error> {
        loop {
            // Startup messages are small; a huge declared length is not a reason to allocate.
            if let Ok(Some(h)) = Header::parse(&self.read) {
                if h.len() as usize > STARTUP_MESSAGE_LIMIT {
                    return Err(unexpected("startup (a message too long to be one)"));
                }
            }
            match Message::parse(&mut self.read) {
                Ok(Some(Message::ErrorResponse(body))) => {
                    let e = ServerError::parse(body.fields()).map_err(io_error)?;
                    return Err(refused(e));
                }
                Ok(Some(m)) => return Ok(m),
                Ok(None) => {}
                Err(e) => return Err(io_error(e)),
            }
            let n = self
                .socket
                .read_buf(&mut self.read)
                .await
                .map_err(io_error)?;
            if n == 0 {
                return Err(io_error(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection during startup",
                )));
            }
        }
    }

    /// Runs the startup to the first ReadyForQuery.
    pub async fn run(&mut self, settings: &Settings) -> Result<Startup, Error> {
        let mut params = vec![
            ("client_encoding", "UTF8"),
            ("user", settings.user.as_str()),
        ];
        for (key, value) in [
            ("database", &settings.database),
            ("application_name", &settings.application_name),
            ("options", &settings.options),
        ] {
            if let Some(v) = value {
                params.push((key, v.as_str()));
            }
        }
        let mut buf = BytesMut::new();
        frontend::startup_message(params, &mut buf).map_err(io_error)?;
        self.send(&buf).await?;
        self.authenticate(settings).await?;
        let mut startup = Startup {
            process_id: 0,
            secret_key: 0,
            parameters: HashMap::new(),
            status: super::status::IDLE,
        };
        loop {
            match self.next().await? {
                Message::BackendKeyData(body) => {
                    startup.process_id = body.process_id();
                    startup.secret_key = body.secret_key();
                }
                Message::ParameterStatus(body) => {
                    let (name, value) = (body.name().map_err(io_error)?, body.value());
                    startup
                        .parameters
                        .insert(name.to_string(), value.map_err(io_error)?.to_string());
                }
                Message::ReadyForQuery(body) => {
                    startup.status = body.status();
                    return Ok(startup);
                }
                Message::NoticeResponse(_) => {}
                _ => return Err(unexpected("startup")),
            }
        }
    }

    /// The password: given, from the password function, or from the password file.
    async fn password(&self, settings: &Settings) -> Result<Vec<u8>, Error> {
        if let Some(p) = &settings.password {
            return Ok(p.clone());
        }
        if let Some(f) = &settings.password_fn {
            return (f.0)().await.map_err(|message| Error::Connection {
                message: format!("could not connect: the password function failed: {message}"),
                code: "EAUTH",
                server: None,
            });
        }
        if let Some(p) = super::passfile::lookup(settings, &self.host, self.port)? {
            return Ok(p.into_bytes());
        }
        Err(Error::Connection {
            message: "could not connect: the server asks for a password and none was given \
                      (set `password`, the URL's password, PGPASSWORD, or a password file)"
                .into(),
            code: "EAUTH",
            server: None,
        })
    }

    async fn authenticate(&mut self, settings: &Settings) -> Result<(), Error> {
        let required = settings.channel_binding == ChannelBinding::Require;
        let mut buf = BytesMut::new();
        match self.next().await? {
            Message::AuthenticationOk if required => {
                return Err(binding_refused(
                    "the server authenticated the client without channel binding",
                ))
            }
            Message::AuthenticationOk => return Ok(()),
            Message::AuthenticationCleartextPassword | Message::AuthenticationMd5Password(_)
                if required =>
            {
                return Err(binding_refused(
                    "the server asks for a password method without channel binding",
                ))
            }
            Message::AuthenticationCleartextPassword => {
                let password = self.password(settings).await?;
                frontend::password_message(&password, &mut buf).map_err(io_error)?;
            }
            Message::AuthenticationMd5Password(body) => {
                let password = self.password(settings).await?;
                let hash =
                    authentication::md5_hash(settings.user.as_bytes(), &password, body.salt());
                frontend::password_message(hash.as_bytes(), &mut buf).map_err(io_error)?;
            }
            Message::AuthenticationSasl(body) => {
                let password = self.password(settings).await?;
                return self.scram(body, &password, settings.channel_binding).await;
            }
            _ => {
                return Err(Error::Connection {
                    message: "could not connect: the server asks for an authentication method \
                              pgwarp does not support (only password, md5 and scram-sha-256)"
                        .into(),
                    code: "EAUTH",
                    server: None,
                })
            }
        }
        self.send(&buf).await?;
        match self.next().await? {
            Message::AuthenticationOk => Ok(()),
            _ => Err(unexpected("authentication")),
        }
    }

    async fn scram(
        &mut self,
        body: AuthenticationSaslBody,
        password: &[u8],
        binding: ChannelBinding,
    ) -> Result<(), Error> {
        use fallible_iterator::FallibleIterator;
        let (mut plain, mut plus) = (false, false);
        let mut mechanisms = body.mechanisms();
        while let Some(m) = mechanisms.next().map_err(io_error)? {
            plain |= m == sasl::SCRAM_SHA_256;
            plus |= m == sasl::SCRAM_SHA_256_PLUS;
        }
        let server_cert = self
            .binding
            .clone()
            .filter(|_| binding != ChannelBinding::Disable);
        // As libpq: PLUS when over TLS and offered; otherwise say whether the client could
        // have bound (`y`) or cannot (`n`), which lets the server detect a downgrade.
        let (mechanism, channel) = match (server_cert, plus) {
            (Some(hash), true) => (
                sasl::SCRAM_SHA_256_PLUS,
                sasl::ChannelBinding::tls_server_end_point(hash),
            ),
            _ if binding == ChannelBinding::Require => {
                return Err(binding_refused(if self.binding.is_none() {
                    "the connection is not TLS"
                } else {
                    "the server did not offer SCRAM-SHA-256-PLUS"
                }))
            }
            (Some(_), false) if plain => (sasl::SCRAM_SHA_256, sasl::ChannelBinding::unrequested()),
            _ if plain => (sasl::SCRAM_SHA_256, sasl::ChannelBinding::unsupported()),
            _ => {
                return Err(Error::Connection {
                    message: "could not connect: the server offers no SASL mechanism pgwarp \
                              supports (SCRAM-SHA-256)"
                        .into(),
                    code: "EAUTH",
                    server: None,
                })
            }
        };
        let mut scram = sasl::ScramSha256::new(password, channel);
        let mut buf = BytesMut::new();
        frontend::sasl_initial_response(mechanism, scram.message(), &mut buf).map_err(io_error)?;
        self.send(&buf).await?;
        let Message::AuthenticationSaslContinue(body) = self.next().await? else {
            return Err(unexpected("SCRAM authentication"));
        };
        scram.update(body.data()).map_err(scram_error)?;
        buf.clear();
        frontend::sasl_response(scram.message(), &mut buf).map_err(io_error)?;
        self.send(&buf).await?;
        let Message::AuthenticationSaslFinal(body) = self.next().await? else {
            return Err(unexpected("SCRAM authentication"));
        };
        scram.finish(body.data()).map_err(scram_error)?;
        match self.next().await? {
            Message::AuthenticationOk => Ok(()),
            _ => Err(unexpected("SCRAM authentication")),
        }
    }
}

fn binding_refused(why: &str) -> Error {
    Error::Connection {
        message: format!("could not connect: channel_binding=require, but {why}"),
        code: "EAUTH",
        server: None,
    }
}

/// The server refused the session (authentication, unknown database, pg_hba).
pub(super) fn refused(e: ServerError) -> Error {
    let code = if e.code().starts_with("28") {
        "EAUTH"
    } else {
        "ESERVER"
    };
    Error::Connection {
        message: format!("could not connect: {}", e.message()),
        code,
        server: Some(Box::new(e)),
    }
}

fn scram_error(e: io::Error) -> Error {
    Error::Connection {
        message: format!("could not connect: SCRAM authentication failed: {e}"),
        code: "EAUTH",
        server: None,
    }
}

fn unexpected(during: &str) -> Error {
    Error::Connection {
        message: format!(
            "could not connect: received invalid response (an unexpected message) during {during}"
        ),
        code: "EPROTO",
        server: None,
    }
}
