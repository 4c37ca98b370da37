//! The password file, as libpq reads it (`passfile`, `PGPASSFILE`, else `~/.pgpass`): lines of
//! `hostname:port:database:username:password`, `*` matching anything, `\` escaping `:` and
//! `\`, the first matching line winning. A file readable by group or others is ignored, as
//! libpq ignores it (with a warning there, an error naming it here when it is the only source).

use std::path::Path;

use super::settings::Settings;
use super::socket::Host;
use crate::error::Error;

/// The password for this connection attempt, if the password file has one.
pub fn lookup(settings: &Settings, host: &str, port: u16) -> Result<Option<String>, Error> {
    let Some(path) = &settings.passfile else {
        return Ok(None);
    };
    if !path.is_file() {
        return Ok(None);
    }
    check_permissions(path)?;
    let text = std::fs::read_to_string(path).map_err(|e| Error::Connection {
        message: format!(
            "could not connect: the password file {:?} cannot be read: {e}",
            path.display().to_string()
        ),
        code: "EAUTH",
        server: None,
    })?;
    // libpq matches a Unix socket as `localhost` (or the socket directory itself).
    let is_socket = settings
        .hosts
        .iter()
        .any(|h| matches!(h, Host::Unix(p) if p.display().to_string() == host));
    let database = settings.database.as_deref().unwrap_or(&settings.user);
    let port = port.to_string();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields = split(line);
        if fields.len() < 5 {
            continue;
        }
        let host_ok =
            fields[0] == "*" || fields[0] == host || (is_socket && fields[0] == "localhost");
        if host_ok
            && (fields[1] == "*" || fields[1] == port)
            && (fields[2] == "*" || fields[2] == database)
            && (fields[3] == "*" || fields[3] == settings.user)
        {
            return Ok(Some(fields[4..].join(":")));
        }
    }
    Ok(None)
}

fn split(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    out.last_mut().unwrap_or(&mut String::new()).push(next);
                }
            }
            ':' if out.len() < 5 => out.push(String::new()),
            c => {
                if let Some(last) = out.last_mut() {
                    last.push(c);
                }
            }
        }
    }
    out
}

#[cfg(unix)]
fn check_permissions(path: &Path) -> Result<(), Error> {
    use std::os::unix::fs::MetadataExt;
    let mode = std::fs::metadata(path)
        .map(|m| m.mode() & 0o777)
        .unwrap_or(0);
    if mode & 0o077 != 0 {
        return Err(Error::Connection {
            message: format!(
                "could not connect: the password file {:?} has group or world access (mode {mode:o}); permissions should be u=rw (0600) or less",
                path.display().to_string()
            ),
            code: "EAUTH",
            server: None,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_: &Path) -> Result<(), Error> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_with_escapes() {
        assert_eq!(
            split(r"h:5432:db:u:p\:a\\ss:more"),
            ["h", "5432", "db", "u", r"p:a\ss:more"]
        );
        assert_eq!(split("*:*:*:*:x"), ["*", "*", "*", "*", "x"]);
    }
}
