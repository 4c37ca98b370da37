//! `postgres://` URLs, read as libpq reads them: percent-encoded parts, several
//! `host:port` pairs, IPv6 addresses in brackets, a host that is a socket directory, and
//! connection keys as query parameters.

use crate::error::Error;

/// The parts of a connection URL, still as text.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct UrlParts {
    /// `host` (or `[v6]`) of each `host:port` pair, decoded; may be empty.
    pub hosts: Vec<String>,
    /// The port of each pair, as written (may be empty).
    pub ports: Vec<String>,
    /// The user, decoded.
    pub user: Option<String>,
    /// The password, decoded.
    pub password: Option<String>,
    /// The database, decoded.
    pub dbname: Option<String>,
    /// Query parameters in order, decoded.
    pub params: Vec<(String, String)>,
}

/// Splits a URL into its parts.
pub fn parse(url: &str) -> Result<UrlParts, Error> {
    let rest = url
        .strip_prefix("postgresql://")
        .or_else(|| url.strip_prefix("postgres://"))
        .ok_or_else(|| {
            Error::Parameter("connection URL must start with postgres:// or postgresql://".into())
        })?;
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = match rest.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (rest, None),
    };
    let mut parts = UrlParts::default();
    let hostlist = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => {
            let (user, password) = match userinfo.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (userinfo, None),
            };
            if !user.is_empty() {
                parts.user = Some(decode(user, "user")?);
            }
            parts.password = password.map(|p| decode(p, "password")).transpose()?;
            hosts
        }
        None => authority,
    };
    if !hostlist.is_empty() {
        for pair in hostlist.split(',') {
            let (host, port) = split_host_port(pair)?;
            parts.hosts.push(decode(host, "host")?);
            parts.ports.push(port.to_string());
        }
    }
    if let Some(path) = path.filter(|p| !p.is_empty()) {
        parts.dbname = Some(decode(path, "database name")?);
    }
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').ok_or_else(|| {
            Error::Parameter(format!(
                "invalid connection URL: query parameter {pair:?} has no value"
            ))
        })?;
        parts
            .params
            .push((decode(key, "parameter name")?, decode(value, key)?));
    }
    Ok(parts)
}

fn split_host_port(pair: &str) -> Result<(&str, &str), Error> {
    if let Some(v6) = pair.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(|| {
            Error::Parameter(format!(
                "invalid connection URL: unterminated IPv6 address in {pair:?}"
            ))
        })?;
        return Ok((host, after.strip_prefix(':').unwrap_or(after)));
    }
    Ok(pair.rsplit_once(':').unwrap_or((pair, "")))
}

fn decode(s: &str, what: &str) -> Result<String, Error> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| {
                    Error::Parameter(format!(
                        "invalid connection URL: bad percent-encoding in the {what}"
                    ))
                })?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| {
        Error::Parameter(format!(
            "invalid connection URL: the {what} is not UTF-8 once decoded"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_parts() {
        let p = parse("postgresql://al%40ice:p%3Ass@db.example:6543,[::1]:7/my%20db?application_name=app&options=-c%20x%3D1").unwrap();
        assert_eq!(p.user.as_deref(), Some("al@ice"));
        assert_eq!(p.password.as_deref(), Some("p:ss"));
        assert_eq!(p.hosts, ["db.example", "::1"]);
        assert_eq!(p.ports, ["6543", "7"]);
        assert_eq!(p.dbname.as_deref(), Some("my db"));
        assert_eq!(p.params[1], ("options".into(), "-c x=1".into()));
    }

    #[test]
    fn socket_directory_and_bare() {
        let p = parse("postgres://u@%2Ftmp%2Fpg/db").unwrap();
        assert_eq!(p.hosts, ["/tmp/pg"]);
        assert_eq!(parse("postgres://").unwrap(), UrlParts::default());
        assert!(parse("mysql://x").is_err());
        assert!(parse("postgres://h/db?x").is_err());
    }
}
