//! Opening a session: the hosts in order (or shuffled, `load_balance_hosts=random`), TLS as
//! `sslmode` says (with libpq's fallbacks for `allow` and `prefer`), the startup itself
//! ([`super::auth`]), then `target_session_attrs`.

use std::future::Future;
use std::io;
use std::time::Instant;

use bytes::BytesMut;

use super::auth::Handshake;
use super::conn::Client;
use super::hosts::Role;
use super::negotiate::{negotiate, Negotiated};
use super::settings::{host_name, Settings, TargetSessionAttrs};
use super::socket::{self, Host};
use super::tls::SslMode;
use crate::error::Error;

/// Opens a session with the first host that accepts one and fits `target_session_attrs`,
/// trying the hosts known to be down last ([`super::hosts`]), and tells each host's entry what
/// it learnt (up or down, its role).
pub async fn connect(settings: &Settings) -> Result<Client, Error> {
    let entries: Vec<_> = (0..settings.hosts.len())
        .map(|i| settings.host_entry(i))
        .collect();
    let mut order: Vec<usize> = (0..settings.hosts.len()).collect();
    if settings.load_balance {
        shuffle(&mut order);
    }
    // `host_recheck` 0: no host is ever put last.
    if !settings.host_recheck.is_zero() {
        order = super::hosts::order(&entries, order, Instant::now());
    }
    let mut last = None;
    let mut unfit = Vec::new();
    let passes = if settings.target == TargetSessionAttrs::PreferStandby {
        2
    } else {
        1
    };
    // With `max_replica_lag`, a standby that lags is skipped; when every standby was skipped
    // for that, `standby` takes a primary in a last pass (better than no reads at all).
    let mut lagging = false;
    for pass in 0..passes + 1 {
        let want = match (settings.target, pass) {
            (TargetSessionAttrs::PreferStandby, 0) => TargetSessionAttrs::Standby,
            (TargetSessionAttrs::PreferStandby, 1) => TargetSessionAttrs::Any,
            (TargetSessionAttrs::Standby, 1) if lagging => TargetSessionAttrs::Any,
            (t, p) if p < passes => t,
            _ => break,
        };
        for &i in &order {
            let (host, port, entry) = (&settings.hosts[i], settings.port(i), &entries[i]);
            let turn = match entry.take_turn().await {
                Ok(turn) => turn,
                Err(reason) => {
                    last = Some(Error::Connection {
                        message: format!(
                            "{} is down (another attempt just failed): {reason}",
                            entry.name
                        ),
                        code: "EHOSTDOWN",
                        server: None,
                    });
                    continue;
                }
            };
            let attempt = with_timeout(settings, connect_one(settings, host, port)).await;
            match &attempt {
                Ok(_) => entry.up(),
                Err(e) if e.is_outage() => entry.down(settings.host_recheck, &e.to_string()),
                Err(_) => {}
            }
            // Those waiting for this attempt see its outcome.
            drop(turn);
            let mut client = match attempt {
                Ok(client) => client,
                Err(e) => {
                    last = Some(e);
                    continue;
                }
            };
            let role = match super::target::role(&client, want, settings.behind_pooler).await {
                Ok(role) => role,
                Err(e) => {
                    last = Some(e);
                    continue;
                }
            };
            if let Some(role) = role {
                entry.learn_role(role);
            }
            if !role.is_none_or(|r| super::target::role_fits(want, r)) {
                unfit.push(format!("{}:{port}", host_name(host)));
                continue;
            }
            if let (Some(max), Some(Role::Standby)) = (settings.max_replica_lag, role) {
                match super::role_check::check(&client).await {
                    Ok(c) => {
                        entry.learn_check(c.role, c.lag);
                        if c.lag.is_some_and(|l| l > max) {
                            lagging = true;
                            unfit.push(format!(
                                "{}:{port} (replay lag {} ms)",
                                host_name(host),
                                c.lag.unwrap_or_default().as_millis()
                            ));
                            continue;
                        }
                    }
                    Err(e) => {
                        last = Some(e);
                        continue;
                    }
                }
            }
            client.set_host(entry.clone(), settings.host_recheck, i);
            if want != settings.target && settings.target == TargetSessionAttrs::Standby {
                client.set_fallback();
            }
            return Ok(client);
        }
    }
    if !unfit.is_empty() && settings.target != TargetSessionAttrs::Any {
        return Err(Error::Connection {
            message: format!(
                "could not connect: no server fits target_session_attrs={:?} (tried {})",
                settings.target,
                unfit.join(", ")
            ),
            code: "ETARGET",
            server: None,
        });
    }
    Err(last.unwrap_or_else(|| Error::Parameter("no host to connect to".into())))
}

async fn with_timeout(
    settings: &Settings,
    attempt: impl Future<Output = Result<Client, Error>>,
) -> Result<Client, Error> {
    match settings.connect_timeout {
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
    }
}

/// Fisher-Yates with a clock-seeded xorshift: spreading connections needs no better.
fn shuffle(order: &mut [usize]) {
    let mut x = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0x9E37)
        | 1;
    for i in (1..order.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        order.swap(i, (x % (i as u64 + 1)) as usize);
    }
}

/// How one attempt treats TLS.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Want {
    Plain,
    TlsIfOffered,
    Tls,
}

/// One host, with `sslmode`'s fallbacks: `allow` tries plaintext then TLS when the server
/// refuses; `prefer` tries TLS then plaintext when the handshake fails or the server refuses
/// the TLS session. Unix sockets are always plaintext.
async fn connect_one(settings: &Settings, host: &Host, port: u16) -> Result<Client, Error> {
    let mode = match (&settings.tls, host) {
        (Some(tls), Host::Tcp(_)) => tls.mode,
        _ => SslMode::Disable,
    };
    match mode {
        SslMode::Disable => attempt(settings, host, port, Want::Plain).await,
        SslMode::Allow => match attempt(settings, host, port, Want::Plain).await {
            Err(e) if refused_by_server(&e) => attempt(settings, host, port, Want::Tls).await,
            other => other,
        },
        SslMode::Prefer => match attempt(settings, host, port, Want::TlsIfOffered).await {
            Err(e) if refused_by_server(&e) || is_tls_failure(&e) => {
                attempt(settings, host, port, Want::Plain).await
            }
            other => other,
        },
        _ => attempt(settings, host, port, Want::Tls).await,
    }
}

fn refused_by_server(e: &Error) -> bool {
    matches!(
        e,
        Error::Connection {
            server: Some(_),
            ..
        }
    )
}

fn is_tls_failure(e: &Error) -> bool {
    e.is_connection("ETLS")
}

async fn attempt(settings: &Settings, host: &Host, port: u16, want: Want) -> Result<Client, Error> {
    let (socket, target) = socket::connect(host, port, &settings.tcp, settings.load_balance)
        .await
        .map_err(|e| reach_error(e, host, port))?;
    let name = host_name(host);
    let (socket, binding, used) = match (&settings.tls, want) {
        (Some(tls), Want::Tls | Want::TlsIfOffered) => match negotiate(socket, &name, tls).await? {
            Negotiated::Tls(socket, binding) => (socket, binding, Some((tls.clone(), name.clone()))),
            Negotiated::Refused(_) if want == Want::Tls => {
                return Err(Error::Connection {
                    message: format!(
                        "could not connect: the server does not support TLS, but sslmode={} requires it",
                        tls.mode.name()
                    ),
                    code: "ETLS_REFUSED",
                    server: None,
                })
            }
            Negotiated::Refused(socket) => (socket, None, None),
        },
        _ => (socket, None, None),
    };
    let mut hs = Handshake {
        socket,
        read: BytesMut::with_capacity(8192),
        binding,
        host: name,
        port,
    };
    let startup = hs.run(settings).await?;
    Ok(Client::start(hs.socket, hs.read, startup, target, used))
}

/// A failure to reach `host`, saying which host and port it was (as libpq does: with several
/// hosts, or a name that does not resolve, the bare system error says nothing of where).
fn reach_error(e: io::Error, host: &Host, port: u16) -> Error {
    let code = io_code(&e);
    let message = match host {
        Host::Tcp(name) if code == "ENOTFOUND" => {
            format!("could not connect: could not translate host name {name:?} to an address: {e}")
        }
        Host::Tcp(name) => format!("could not connect to {name}:{port}: {e}"),
        Host::Unix(dir) => format!(
            "could not connect to the server's socket {}: {e}",
            dir.join(format!(".s.PGSQL.{port}")).display()
        ),
    };
    Error::Connection {
        message,
        code,
        server: None,
    }
}

/// A socket-level failure, named the way Node names them.
pub fn io_error(e: io::Error) -> Error {
    Error::Connection {
        message: format!("could not connect: {e}"),
        code: io_code(&e),
        server: None,
    }
}

/// The code Node gives a socket-level failure.
fn io_code(e: &io::Error) -> &'static str {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "ECONNREFUSED",
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::UnexpectedEof
        | io::ErrorKind::BrokenPipe => "ECONNRESET",
        io::ErrorKind::TimedOut => "ETIMEDOUT",
        io::ErrorKind::NotFound => "ENOENT",
        io::ErrorKind::PermissionDenied => "EACCES",
        _ if e.to_string().contains("lookup") => "ENOTFOUND",
        _ => "EIO",
    }
}
