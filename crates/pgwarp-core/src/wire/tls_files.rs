//! Where TLS certificates come from, as libpq looks for them: `sslrootcert` (a file, or
//! `system` for the system's store, which honours `SSL_CERT_FILE` and `SSL_CERT_DIR`),
//! `sslcert` / `sslkey` / `sslpassword`, PEM given inline (node's `ssl.ca/cert/key`), and the
//! defaults in `~/.postgresql/`. A private key file readable by others is refused, as libpq
//! refuses it.

use std::path::{Path, PathBuf};

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::RootCertStore;

use super::tls::{self, SslMode};
use crate::error::Error;

/// Certificate settings of a pool.
#[derive(Clone, Debug, Default)]
pub struct TlsFiles {
    /// `sslrootcert` as a file.
    pub root_file: Option<PathBuf>,
    /// `sslrootcert=system`.
    pub root_system: bool,
    /// Root certificates as PEM (node's `ssl.ca`, or Node's own list for `ssl: true`).
    pub root_pem: Option<Vec<u8>>,
    /// `sslcert`.
    pub cert_file: Option<PathBuf>,
    /// The client certificate as PEM (node's `ssl.cert`).
    pub cert_pem: Option<Vec<u8>>,
    /// `sslkey`.
    pub key_file: Option<PathBuf>,
    /// The client key as PEM (node's `ssl.key`).
    pub key_pem: Option<Vec<u8>>,
    /// `sslpassword` (node's `ssl.passphrase`), for an encrypted key.
    pub password: Option<String>,
    /// The name to verify instead of the host (node's `ssl.servername`).
    pub servername: Option<String>,
}

/// `~/.postgresql/<file>` (on Windows `%APPDATA%\postgresql\<file>`), as libpq's defaults.
pub fn default_path(file: &str) -> String {
    let dir = if cfg!(windows) {
        std::env::var("APPDATA").map(|d| format!("{d}\\postgresql"))
    } else {
        std::env::var("HOME").map(|h| format!("{h}/.postgresql"))
    };
    match dir {
        Ok(d) => format!("{d}{}{file}", std::path::MAIN_SEPARATOR),
        Err(_) => format!("~/.postgresql/{file}"),
    }
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| {
        Error::Parameter(format!(
            "{what} {:?} cannot be read: {e}",
            path.display().to_string()
        ))
    })
}

/// The roots to verify against, if any; `None` when there are none to be had (libpq then
/// verifies nothing, or refuses the verify modes).
pub fn roots(files: &TlsFiles, mode: SslMode) -> Result<Option<RootCertStore>, Error> {
    if files.root_system {
        let found = rustls_native_certs::load_native_certs();
        let mut store = RootCertStore::empty();
        let (added, _) = store.add_parsable_certificates(found.certs);
        if added == 0 {
            return Err(Error::Parameter(format!(
                "sslrootcert=system: no certificates in the system's store{}",
                found
                    .errors
                    .first()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default()
            )));
        }
        return Ok(Some(store));
    }
    if let Some(pem) = &files.root_pem {
        return tls::root_store(pem, "the root certificates given").map(Some);
    }
    if let Some(path) = &files.root_file {
        let pem = read(path, "root certificate file")?;
        return tls::root_store(
            &pem,
            &format!("root certificate file {:?}", path.display().to_string()),
        )
        .map(Some);
    }
    let default = PathBuf::from(default_path("root.crt"));
    if mode != SslMode::Disable && default.is_file() {
        let pem = read(&default, "root certificate file")?;
        return tls::root_store(
            &pem,
            &format!("root certificate file {:?}", default.display().to_string()),
        )
        .map(Some);
    }
    Ok(None)
}

/// The client certificate chain and key, if any are given or in the default place.
pub fn client_identity(
    files: &TlsFiles,
) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>, Error> {
    let (cert, cert_name) = match (&files.cert_pem, &files.cert_file) {
        (Some(pem), _) => (pem.clone(), "the client certificate given".to_string()),
        (None, Some(path)) => (
            read(path, "client certificate file")?,
            format!("{:?}", path.display().to_string()),
        ),
        (None, None) => {
            let default = PathBuf::from(default_path("postgresql.crt"));
            if !default.is_file() {
                return Ok(None);
            }
            (
                read(&default, "client certificate file")?,
                format!("{:?}", default.display().to_string()),
            )
        }
    };
    let chain = tls::certificates(&cert, &format!("client certificate {cert_name}"))?;
    let (key, key_name) = match (&files.key_pem, &files.key_file) {
        (Some(pem), _) => (pem.clone(), "the client key given".to_string()),
        (None, path) => {
            let path = path
                .clone()
                .unwrap_or_else(|| PathBuf::from(default_path("postgresql.key")));
            if !path.is_file() {
                return Err(Error::Parameter(format!(
                    "a client certificate was given but its key {:?} does not exist: set sslkey",
                    path.display().to_string()
                )));
            }
            check_key_permissions(&path)?;
            (
                read(&path, "client key file")?,
                format!("{:?}", path.display().to_string()),
            )
        }
    };
    let key = tls::private_key(
        &key,
        files.password.as_deref(),
        &format!("client key {key_name}"),
    )?;
    Ok(Some((chain, key)))
}

/// libpq's rule for key files: no access for group or others (0600 or less) when owned by the
/// current user; when owned by root, group read is allowed (0640 or less).
#[cfg(unix)]
fn check_key_permissions(path: &Path) -> Result<(), Error> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).map_err(|e| {
        Error::Parameter(format!(
            "client key file {:?}: {e}",
            path.display().to_string()
        ))
    })?;
    let mode = meta.mode() & 0o777;
    let allowed = if meta.uid() == 0 { 0o640 } else { 0o600 };
    if mode & !allowed != 0 {
        return Err(Error::Parameter(format!(
            "private key file {:?} has group or world access (mode {mode:o}); file must have permissions u=rw (0600) or less if owned by the current user, or permissions u=rw,g=r (0640) or less if owned by root",
            path.display().to_string()
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_key_permissions(_: &Path) -> Result<(), Error> {
    Ok(())
}

/// An encrypted PKCS#8 key (`BEGIN ENCRYPTED PRIVATE KEY`), decrypted with `password`;
/// `None` for any other PEM.
pub fn decrypt_pkcs8(
    pem: &[u8],
    password: Option<&str>,
    what: &str,
) -> Result<Option<PrivateKeyDer<'static>>, Error> {
    use pkcs8::der::Decode;
    let text = String::from_utf8_lossy(pem);
    let Some(start) = text.find("-----BEGIN ENCRYPTED PRIVATE KEY-----") else {
        return Ok(None);
    };
    let Some(password) = password else {
        return Err(Error::Parameter(format!(
            "{what} is encrypted: give its password (sslpassword, or ssl.passphrase)"
        )));
    };
    let (_, der) = pkcs8::der::pem::decode_vec(text[start..].as_bytes())
        .map_err(|e| Error::Parameter(format!("{what}: not a PEM key: {e}")))?;
    let info = pkcs8::EncryptedPrivateKeyInfo::from_der(&der)
        .map_err(|e| Error::Parameter(format!("{what}: not an encrypted PKCS#8 key: {e}")))?;
    let plain = info.decrypt(password).map_err(|e| {
        Error::Parameter(format!("{what} cannot be decrypted (wrong password?): {e}"))
    })?;
    Ok(Some(PrivateKeyDer::Pkcs8(plain.as_bytes().to_vec().into())))
}
