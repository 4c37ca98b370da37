//! Opening a session: the socket, the StartupMessage, authentication (cleartext, MD5,
//! SCRAM-SHA-256), then the server's parameters and key data up to the first ReadyForQuery.

use std::collections::HashMap;
use std::io;
use std::time::Duration;

use bytes::BytesMut;
use postgres_protocol::authentication::{self, sasl};
use postgres_protocol::message::backend::{AuthenticationSaslBody, Message};
use postgres_protocol::message::frontend;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::conn::Client;
use super::server_error::ServerError;
use super::socket::{self, Host, Socket};
use crate::error::Error;

/// Where and how to connect, as libpq's connection settings say it.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// Hosts to try in order.
    pub hosts: Vec<Host>,
    /// One port for every host, or one per host.
    pub ports: Vec<u16>,
    /// Role to log in as.
    pub user: String,
    /// Password, for the methods that need one.
    pub password: Option<Vec<u8>>,
    /// Database; the server defaults it to the user's name.
    pub database: Option<String>,
    /// `application_name`.
    pub application_name: Option<String>,
    /// Startup options (`-c name=value ...`).
    pub options: Option<String>,
    /// Bound on each host's whole attempt (socket and handshake).
    pub connect_timeout: Option<Duration>,
    /// Keepalive and user timeout of TCP connections.
    pub tcp: super::socket::TcpOptions,
}

/// The longest message expected during startup (authentication, parameters, errors).
const STARTUP_MESSAGE_LIMIT: usize = 1 << 20;

/// What the server said during startup.
pub(super) struct Startup {
    pub process_id: i32,
    pub secret_key: i32,
    pub parameters: HashMap<String, String>,
    pub status: u8,
}

/// Opens a session with the first host that accepts one.
pub async fn connect(settings: &Settings) -> Result<Client, Error> {
    let mut last = None;
    for (i, host) in settings.hosts.iter().enumerate() {
        let port = *settings
            .ports
            .get(i)
            .or(settings.ports.first())
            .unwrap_or(&5432);
        let attempt = connect_one(settings, host, port);
        let outcome = match settings.connect_timeout {
            Some(limit) => tokio::time::timeout(limit, attempt)
                .await
                .unwrap_or_else(|_| {
                    Err(Error::Connection {
                        message: format!(
                            "could not connect: no answer from the server within {} ms",
                            limit.as_millis()
                        ),
                        code: "ETIMEDOUT",
                        server: None,
                    })
                }),
            None => attempt.await,
        };
        match outcome {
            Ok(client) => return Ok(client),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| Error::Parameter("no host to connect to".into())))
}

async fn connect_one(settings: &Settings, host: &Host, port: u16) -> Result<Client, Error> {
    let (socket, target) = socket::connect(host, port, &settings.tcp)
        .await
        .map_err(io_error)?;
    let mut hs = Handshake {
        socket,
        read: BytesMut::with_capacity(8192),
    };
    let startup = hs.run(settings).await?;
    Ok(Client::start(hs.socket, hs.read, startup, target))
}

struct Handshake {
    socket: Socket,
    read: BytesMut,
}

impl Handshake {
    async fn send(&mut self, buf: &[u8]) -> Result<(), Error> {
        self.socket.write_all(buf).await.map_err(io_error)
    }

    async fn next(&mut self) -> Result<Message, Error> {
        loop {
            // Startup messages are small; a huge declared length is not a reason to allocate.
            if let Ok(Some(h)) = postgres_protocol::message::backend::Header::parse(&self.read) {
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

    async fn run(&mut self, settings: &Settings) -> Result<Startup, Error> {
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
            status: super::conn::IDLE,
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

    async fn authenticate(&mut self, settings: &Settings) -> Result<(), Error> {
        let password = || {
            settings
                .password
                .as_deref()
                .ok_or_else(|| Error::Connection {
                    message:
                        "could not connect: the server asks for a password and none was given \
                          (set `password`, the URL's password, or PGPASSWORD)"
                            .into(),
                    code: "EAUTH",
                    server: None,
                })
        };
        let mut buf = BytesMut::new();
        match self.next().await? {
            Message::AuthenticationOk => return Ok(()),
            Message::AuthenticationCleartextPassword => {
                frontend::password_message(password()?, &mut buf).map_err(io_error)?;
            }
            Message::AuthenticationMd5Password(body) => {
                let hash =
                    authentication::md5_hash(settings.user.as_bytes(), password()?, body.salt());
                frontend::password_message(hash.as_bytes(), &mut buf).map_err(io_error)?;
            }
            Message::AuthenticationSasl(body) => return self.scram(body, password()?).await,
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

    async fn scram(&mut self, body: AuthenticationSaslBody, password: &[u8]) -> Result<(), Error> {
        use fallible_iterator::FallibleIterator;
        let mut offered = false;
        let mut mechanisms = body.mechanisms();
        while let Some(m) = mechanisms.next().map_err(io_error)? {
            offered |= m == sasl::SCRAM_SHA_256;
        }
        if !offered {
            return Err(Error::Connection {
                message: "could not connect: the server offers no SASL mechanism pgwarp supports \
                          (SCRAM-SHA-256)"
                    .into(),
                code: "EAUTH",
                server: None,
            });
        }
        // Without TLS there is no channel to bind to.
        let mut scram = sasl::ScramSha256::new(password, sasl::ChannelBinding::unsupported());
        let mut buf = BytesMut::new();
        frontend::sasl_initial_response(sasl::SCRAM_SHA_256, scram.message(), &mut buf)
            .map_err(io_error)?;
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

fn refused(e: ServerError) -> Error {
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
        message: format!("could not connect: unexpected message from the server during {during}"),
        code: "EPROTO",
        server: None,
    }
}

/// A socket-level failure, named the way Node names them.
pub fn io_error(e: io::Error) -> Error {
    let code = match e.kind() {
        io::ErrorKind::ConnectionRefused => "ECONNREFUSED",
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::UnexpectedEof
        | io::ErrorKind::BrokenPipe => "ECONNRESET",
        io::ErrorKind::TimedOut => "ETIMEDOUT",
        io::ErrorKind::NotFound => "ENOENT",
        io::ErrorKind::PermissionDenied => "EACCES",
        _ if e.to_string().contains("lookup") => "ENOTFOUND",
        _ => "EIO",
    };
    Error::Connection {
        message: format!("could not connect: {e}"),
        code,
        server: None,
    }
}
