//! Opening the byte stream to a server: TCP (every address a host name resolves to, with
//! keepalive and no Nagle delay) or a Unix socket.

use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
#[cfg(unix)]
use tokio::net::UnixStream;

/// Where a server listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Host {
    /// A host name or IP address.
    Tcp(String),
    /// A directory holding the server's socket (`.s.PGSQL.<port>`).
    Unix(PathBuf),
}

/// The address a connection actually reached, so a CancelRequest goes to the same server.
#[derive(Clone, Debug)]
pub enum Target {
    /// A TCP address.
    Tcp(std::net::SocketAddr),
    /// A Unix socket path.
    Unix(PathBuf),
}

/// A connected byte stream.
pub enum Socket {
    /// TCP.
    Tcp(TcpStream),
    /// TLS over TCP.
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    /// A Unix domain socket.
    #[cfg(unix)]
    Unix(UnixStream),
}

/// How a TCP connection notices a peer that went away without a word: libpq's `keepalives`,
/// `keepalives_idle`, `keepalives_interval`, `keepalives_count` and `tcp_user_timeout`
/// (`None`: the system's default, as in libpq).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpOptions {
    /// Send keepalive probes on an idle connection (libpq's default: yes).
    pub keepalives: bool,
    /// Idle time before the first probe.
    pub keepalives_idle: Option<std::time::Duration>,
    /// Time between probes.
    pub keepalives_interval: Option<std::time::Duration>,
    /// Probes without an answer before the connection is dropped.
    pub keepalives_count: Option<u32>,
    /// How long sent data may stay unacknowledged before the connection is dropped (Linux).
    pub tcp_user_timeout: Option<std::time::Duration>,
}

impl Default for TcpOptions {
    fn default() -> Self {
        TcpOptions {
            keepalives: true,
            keepalives_idle: None,
            keepalives_interval: None,
            keepalives_count: None,
            tcp_user_timeout: None,
        }
    }
}

fn apply(stream: &TcpStream, o: &TcpOptions) -> io::Result<()> {
    let sock = socket2::SockRef::from(stream);
    if o.keepalives {
        let mut k = socket2::TcpKeepalive::new();
        if let Some(t) = o.keepalives_idle {
            k = k.with_time(t);
        }
        #[cfg(any(
            target_os = "linux",
            target_os = "android",
            target_os = "macos",
            windows
        ))]
        if let Some(t) = o.keepalives_interval {
            k = k.with_interval(t);
        }
        #[cfg(any(target_os = "linux", target_os = "android", target_os = "macos"))]
        if let Some(n) = o.keepalives_count {
            k = k.with_retries(n);
        }
        sock.set_tcp_keepalive(&k)?;
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Some(t) = o.tcp_user_timeout {
        sock.set_tcp_user_timeout(Some(t))?;
    }
    Ok(())
}

/// Connects to `host` on `port`, trying each address the name resolves to in turn.
pub async fn connect(
    host: &Host,
    port: u16,
    tcp: &TcpOptions,
    shuffle: bool,
) -> io::Result<(Socket, Target)> {
    match host {
        Host::Tcp(name) => {
            let mut last = None;
            let mut addrs: Vec<_> = tokio::net::lookup_host((name.as_str(), port))
                .await?
                .collect();
            if shuffle && addrs.len() > 1 {
                let n = addrs.len();
                let k = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.subsec_nanos() as usize);
                addrs.rotate_left(k % n);
            }
            for addr in addrs {
                match TcpStream::connect(addr).await {
                    Ok(stream) => {
                        stream.set_nodelay(true)?;
                        apply(&stream, tcp)?;
                        return Ok((Socket::Tcp(stream), Target::Tcp(addr)));
                    }
                    Err(e) => last = Some(e),
                }
            }
            Err(last.unwrap_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("failed to lookup address information: {name} has no address"),
                )
            }))
        }
        Host::Unix(dir) => connect_unix(dir.join(format!(".s.PGSQL.{port}"))).await,
    }
}

/// Connects again to where an earlier connection went (for CancelRequest).
pub async fn reconnect(target: &Target) -> io::Result<Socket> {
    match target {
        Target::Tcp(addr) => {
            let stream = TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            Ok(Socket::Tcp(stream))
        }
        Target::Unix(path) => Ok(connect_unix(path.clone()).await?.0),
    }
}

#[cfg(unix)]
async fn connect_unix(path: PathBuf) -> io::Result<(Socket, Target)> {
    let stream = UnixStream::connect(&path).await?;
    Ok((Socket::Unix(stream), Target::Unix(path)))
}

#[cfg(not(unix))]
async fn connect_unix(path: PathBuf) -> io::Result<(Socket, Target)> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        format!("Unix sockets are not available on this platform ({path:?})"),
    ))
}

macro_rules! each {
    ($self:ident, $s:ident => $e:expr) => {
        match $self.get_mut() {
            Socket::Tcp($s) => $e,
            Socket::Tls($s) => $e,
            #[cfg(unix)]
            Socket::Unix($s) => $e,
        }
    };
}

impl AsyncRead for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        each!(self, s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        each!(self, s => Pin::new(s).poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, s => Pin::new(s).poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, s => Pin::new(s).poll_shutdown(cx))
    }
}
