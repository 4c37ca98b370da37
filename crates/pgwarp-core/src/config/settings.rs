//! Turning a pool's connection options into the connection layer's [`Settings`]: every libpq
//! key from the URL first, then the fields given explicitly, which replace the URL's value of
//! the same key (all of its hosts, say); then TLS as `sslmode` and the certificate keys say.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::{url, ConnectOptions};
use crate::error::Error;
use crate::wire::{ChannelBinding, Host, Settings, SslMode, TargetSessionAttrs, Tls, TlsFiles};

/// The libpq keys pgwarp takes, from URLs and (under these names) from fields.
const KEYS: &[&str] = &[
    "host",
    "port",
    "user",
    "password",
    "dbname",
    "application_name",
    "fallback_application_name",
    "options",
    "connect_timeout",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "sslpassword",
    "sslnegotiation",
    "sslsni",
    "channel_binding",
    "target_session_attrs",
    "load_balance_hosts",
    "passfile",
    "client_encoding",
];

impl ConnectOptions {
    /// Builds the connection settings, refusing settings this build cannot honour.
    pub fn to_settings(&self) -> Result<Settings, Error> {
        let mut keys: BTreeMap<&'static str, String> = BTreeMap::new();
        // libpq's order: the environment, then the URL, then what is given explicitly.
        for (key, value) in &self.defaults {
            if let Some(known) = KEYS.iter().find(|k| **k == key) {
                keys.insert(known, value.clone());
            }
        }
        let parts = match &self.url {
            Some(u) => url::parse(u)?,
            None => url::UrlParts::default(),
        };
        if !parts.hosts.is_empty() {
            keys.insert("host", parts.hosts.join(","));
            if parts.ports.iter().any(|p| !p.is_empty()) {
                keys.insert("port", parts.ports.join(","));
            } else {
                keys.remove("port");
            }
        }
        for (k, v) in [
            ("user", parts.user),
            ("password", parts.password),
            ("dbname", parts.dbname),
        ] {
            if let Some(v) = v {
                keys.insert(k, v);
            }
        }
        for (key, value) in parts.params {
            // The pool's keys (pgx's): read by `pool_url`.
            if super::pool_url::POOL_KEYS.contains(&key.as_str()) {
                continue;
            }
            let Some(known) = KEYS.iter().find(|k| **k == key) else {
                return Err(Error::Parameter(format!(
                    "invalid connection URL: unknown or unsupported parameter {key:?}"
                )));
            };
            keys.insert(known, value);
        }
        self.apply_fields(&mut keys);
        build(&keys, self)
    }

    fn apply_fields(&self, keys: &mut BTreeMap<&'static str, String>) {
        if let Some(h) = &self.host {
            keys.insert("host", h.clone());
            // A host given explicitly takes its port from the fields (or the default),
            // never from the URL's other hosts.
            if self.port.is_none() {
                keys.remove("port");
            }
        }
        let ms = |v: Option<u64>| v.map(|n| n.to_string());
        for (key, value) in [
            ("port", self.port.clone()),
            ("user", self.user.clone()),
            ("password", self.password.clone()),
            ("dbname", self.database.clone()),
            ("application_name", self.application_name.clone()),
            ("options", self.options.clone()),
            ("sslmode", self.ssl_mode.clone()),
            (
                "keepalives",
                self.keepalives
                    .map(|b| if b { "1" } else { "0" }.to_string()),
            ),
            ("sslrootcert", self.ssl_root_cert.clone()),
            ("sslcert", self.ssl_cert.clone()),
            ("sslkey", self.ssl_key.clone()),
            ("sslpassword", self.ssl_password.clone()),
            ("sslnegotiation", self.ssl_negotiation.clone()),
            ("channel_binding", self.channel_binding.clone()),
            ("target_session_attrs", self.target_session_attrs.clone()),
            ("load_balance_hosts", self.load_balance_hosts.clone()),
            ("passfile", self.passfile.clone()),
            (
                "keepalives_count",
                self.keepalives_count.map(|n| n.to_string()),
            ),
            ("tcp_user_timeout", ms(self.tcp_user_timeout_ms)),
        ] {
            if let Some(v) = value {
                keys.insert(key, v);
            }
        }
    }
}

fn build(keys: &BTreeMap<&'static str, String>, o: &ConnectOptions) -> Result<Settings, Error> {
    let get = |k: &str| keys.get(k).map(String::as_str);
    let mut s = Settings::default();
    let hosts: Vec<String> = get("host")
        .map(|h| h.split(',').map(|x| x.trim().to_string()).collect())
        .filter(|h: &Vec<String>| h.iter().any(|x| !x.is_empty()))
        .unwrap_or_else(|| vec!["localhost".into()]);
    s.hosts = hosts
        .into_iter()
        .map(|h| match h {
            h if h.is_empty() => Host::Tcp("localhost".into()),
            h if h.starts_with('/') => Host::Unix(PathBuf::from(h)),
            h => Host::Tcp(h),
        })
        .collect();
    let ports: Vec<String> = get("port")
        .map(|p| p.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    s.ports = ports_of(&ports, s.hosts.len())?;
    s.user = get("user").map(str::to_string).ok_or_else(|| {
        Error::Parameter("no user given: set `user`, the URL's user, or PGUSER".into())
    })?;
    s.password = get("password").map(|p| p.as_bytes().to_vec());
    s.password_fn = o.password_fn.clone();
    s.database = get("dbname").map(str::to_string);
    s.application_name = get("application_name")
        .or(get("fallback_application_name"))
        .map(str::to_string);
    let mut options = get("options").unwrap_or("").to_string();
    for (name, ms) in [
        ("statement_timeout", o.statement_timeout_ms),
        ("lock_timeout", o.lock_timeout_ms),
        (
            "idle_in_transaction_session_timeout",
            o.idle_in_transaction_timeout_ms,
        ),
    ] {
        let Some(ms) = ms else { continue };
        if !options.is_empty() {
            options.push(' ');
        }
        options.push_str(&format!("-c {name}={ms}"));
    }
    s.options = Some(options).filter(|o| !o.is_empty());
    s.connect_timeout = match o.connect_timeout_ms {
        Some(ms) => (ms > 0).then(|| Duration::from_millis(ms)),
        None => get("connect_timeout")
            .map(connect_timeout)
            .transpose()?
            .flatten(),
    };
    if let Some(v) = get("client_encoding") {
        if !v.eq_ignore_ascii_case("utf8") {
            return Err(Error::Parameter(format!(
                "client_encoding={v:?}: pgwarp speaks UTF8 only"
            )));
        }
    }
    s.tcp.keepalives = get("keepalives").is_none_or(|v| v.trim() != "0");
    s.tcp.keepalives_idle = match o.keepalives_idle_ms {
        Some(ms) => Some(Duration::from_millis(ms)).filter(|d| !d.is_zero()),
        None => get("keepalives_idle")
            .map(|v| seconds("keepalives_idle", v))
            .transpose()?
            .flatten(),
    };
    s.tcp.keepalives_interval = match o.keepalives_interval_ms {
        Some(ms) => Some(Duration::from_millis(ms)).filter(|d| !d.is_zero()),
        None => get("keepalives_interval")
            .map(|v| seconds("keepalives_interval", v))
            .transpose()?
            .flatten(),
    };
    s.tcp.keepalives_count = get("keepalives_count")
        .map(|v| number("keepalives_count", v))
        .transpose()?
        .map(|n| n as u32)
        .filter(|n| *n > 0);
    s.tcp.tcp_user_timeout = get("tcp_user_timeout")
        .map(|v| number("tcp_user_timeout", v))
        .transpose()?
        .map(Duration::from_millis)
        .filter(|d| !d.is_zero());
    s.channel_binding = match get("channel_binding") {
        None | Some("prefer") => ChannelBinding::Prefer,
        Some("disable") => ChannelBinding::Disable,
        Some("require") => ChannelBinding::Require,
        Some(other) => {
            return Err(Error::Parameter(format!(
                "unknown channel_binding {other:?}: expected disable, prefer or require"
            )))
        }
    };
    s.target = get("target_session_attrs")
        .map(TargetSessionAttrs::parse)
        .transpose()?
        .unwrap_or_default();
    s.load_balance = match get("load_balance_hosts") {
        None | Some("disable") => false,
        Some("random") => true,
        Some(other) => {
            return Err(Error::Parameter(format!(
                "unknown load_balance_hosts {other:?}: expected disable or random"
            )))
        }
    };
    s.passfile = get("passfile").map(PathBuf::from);
    s.host_recheck = o.host_recheck.unwrap_or(Duration::from_secs(10));
    s.max_replica_lag = o.max_replica_lag;
    s.behind_pooler = o.behind_pooler;
    s.tls = tls(keys, o)?;
    if s.channel_binding == ChannelBinding::Require && s.tls.is_none() {
        return Err(Error::Parameter(
            "channel_binding=require needs TLS, but sslmode=disable".into(),
        ));
    }
    Ok(s)
}

/// The TLS settings; `None` for `sslmode=disable`. libpq's default mode is `prefer`.
fn tls(keys: &BTreeMap<&'static str, String>, o: &ConnectOptions) -> Result<Option<Tls>, Error> {
    let get = |k: &str| keys.get(k).map(String::as_str);
    let root = get("sslrootcert");
    // libpq: the system's store makes verify-full the default; weaker modes are refused later.
    let default = if root == Some("system") {
        "verify-full"
    } else {
        "prefer"
    };
    let mode = SslMode::parse(get("sslmode").unwrap_or(default))?;
    if mode == SslMode::Disable {
        return Ok(None);
    }
    let direct = match get("sslnegotiation") {
        None | Some("postgres") => false,
        Some("direct") => true,
        Some(other) => {
            return Err(Error::Parameter(format!(
                "unknown sslnegotiation {other:?}: expected postgres or direct"
            )))
        }
    };
    let files = TlsFiles {
        root_system: root == Some("system"),
        root_file: root.filter(|r| *r != "system").map(PathBuf::from),
        root_pem: o.ssl_root_cert_pem.as_ref().map(|p| p.as_bytes().to_vec()),
        cert_file: get("sslcert").map(PathBuf::from),
        cert_pem: o.ssl_cert_pem.as_ref().map(|p| p.as_bytes().to_vec()),
        key_file: get("sslkey").map(PathBuf::from),
        key_pem: o.ssl_key_pem.as_ref().map(|p| p.as_bytes().to_vec()),
        password: get("sslpassword").map(str::to_string),
        servername: o.ssl_servername.clone(),
    };
    Tls::new(mode, direct, &files).map(Some)
}

fn ports_of(ports: &[String], hosts: usize) -> Result<Vec<u16>, Error> {
    let parsed = ports
        .iter()
        .map(|p| {
            if p.is_empty() {
                return Ok(5432);
            }
            p.parse::<u16>().map_err(|_| {
                Error::Parameter(format!("invalid port {p:?}: expected a number up to 65535"))
            })
        })
        .collect::<Result<Vec<u16>, Error>>()?;
    match parsed.len() {
        0 => Ok(vec![5432]),
        1 => Ok(parsed),
        n if n == hosts => Ok(parsed),
        n => Err(Error::Parameter(format!(
            "{n} ports for {hosts} hosts: give one port, or one per host"
        ))),
    }
}

/// A whole number for key `key`.
fn number(key: &str, value: &str) -> Result<u64, Error> {
    value
        .trim()
        .parse()
        .map_err(|_| Error::Parameter(format!("invalid {key} {value:?}: expected a whole number")))
}

/// libpq's keepalive times: seconds, 0 for the system's default.
fn seconds(key: &str, value: &str) -> Result<Option<Duration>, Error> {
    Ok(Some(Duration::from_secs(number(key, value)?)).filter(|d| !d.is_zero()))
}

/// libpq's `connect_timeout`: seconds, 0 (or negative) for none, and at least 2.
fn connect_timeout(value: &str) -> Result<Option<Duration>, Error> {
    let secs: i64 = value.trim().parse().map_err(|_| {
        Error::Parameter(format!(
            "invalid connect_timeout {value:?}: expected a number of seconds"
        ))
    })?;
    Ok((secs > 0).then(|| Duration::from_secs(secs.max(2) as u64)))
}

#[cfg(test)]
#[path = "settings_tests.rs"]
mod tests;
