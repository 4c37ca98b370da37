//! TLS as libpq does it, on rustls with the `ring` provider: what each `sslmode` verifies, the
//! root certificates (a file, inline PEM, or the system's store), client certificates, and
//! the server certificate's hash for SCRAM channel binding (`tls-server-end-point`).

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use super::tls_files::{self, TlsFiles};
use crate::error::Error;

/// libpq's `sslmode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslMode {
    /// Plaintext only.
    Disable,
    /// Plaintext; TLS if the server refuses plaintext.
    Allow,
    /// TLS; plaintext if the server has none (or refuses the TLS connection).
    Prefer,
    /// TLS, not verified (unless root certificates are given: then as `VerifyCa`).
    Require,
    /// TLS whose certificate chains to a trusted root.
    VerifyCa,
    /// TLS whose certificate chains to a trusted root and names the host.
    VerifyFull,
}

impl SslMode {
    /// The mode for libpq's spelling.
    pub fn parse(s: &str) -> Result<SslMode, Error> {
        Ok(match s {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(Error::Parameter(format!(
                    "unknown sslmode {other:?}: expected disable, allow, prefer, require, verify-ca or verify-full"
                )))
            }
        })
    }

    /// libpq's spelling.
    pub fn name(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// Whether the connection may not go without TLS.
    pub fn demands_tls(self) -> bool {
        matches!(
            self,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull
        )
    }
}

/// What the certificate check enforces, after libpq's rules (a root file makes `require`
/// verify the chain).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Check {
    Nothing,
    Chain,
    ChainAndName,
}

/// A pool's TLS settings, built once: the rustls configuration and what it was built from.
#[derive(Clone)]
pub struct Tls {
    /// As the user wrote it.
    pub mode: SslMode,
    /// `sslnegotiation=direct`: TLS from the first byte, with ALPN `postgresql` (PG 17+).
    pub direct: bool,
    /// Server name to verify and send (SNI) instead of the host (node's `servername`).
    pub servername: Option<String>,
    config: Arc<ClientConfig>,
    check: Check,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("mode", &self.mode)
            .field("direct", &self.direct)
            .field("check", &self.check)
            .finish()
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_error(what: String) -> Error {
    Error::Parameter(what)
}

impl Tls {
    /// Builds the configuration for `mode` from the certificate settings in `files`.
    pub fn new(mode: SslMode, direct: bool, files: &TlsFiles) -> Result<Tls, Error> {
        if files.root_system && !matches!(mode, SslMode::VerifyFull) {
            return Err(Error::Parameter(format!(
                "weak sslmode \"{}\" may not be used with sslrootcert=system (use \"verify-full\")",
                mode.name()
            )));
        }
        if direct && !mode.demands_tls() {
            return Err(Error::Parameter(format!(
                "weak sslmode \"{}\" may not be used with sslnegotiation=direct (use \"require\", \"verify-ca\", or \"verify-full\")",
                mode.name()
            )));
        }
        let roots = tls_files::roots(files, mode)?;
        let check = match (mode, roots.is_some()) {
            (SslMode::VerifyFull, _) => Check::ChainAndName,
            (SslMode::VerifyCa, _) => Check::Chain,
            // libpq: with a root certificate file, `require` verifies the chain.
            (_, true) => Check::Chain,
            _ => Check::Nothing,
        };
        if check != Check::Nothing && roots.is_none() {
            return Err(Error::Parameter(format!(
                "sslmode={} needs root certificates to verify the server's: set sslrootcert (a file, or \"system\"), ssl.ca, or put them in {}",
                mode.name(),
                tls_files::default_path("root.crt")
            )));
        }
        let provider = provider();
        let verifier: Arc<dyn ServerCertVerifier> = match (check, roots) {
            (Check::Nothing, _) | (_, None) => Arc::new(Unverified(provider.clone())),
            (check, Some(roots)) => {
                let inner =
                    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                        .build()
                        .map_err(|e| {
                            tls_error(format!("the root certificates cannot be used: {e}"))
                        })?;
                Arc::new(Verified {
                    inner,
                    names: check == Check::ChainAndName,
                })
            }
        };
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_error(format!("TLS cannot be set up: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let mut config = match tls_files::client_identity(files)? {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| tls_error(format!("the client certificate cannot be used: {e}")))?,
            None => builder.with_no_client_auth(),
        };
        if direct {
            config.alpn_protocols = vec![b"postgresql".to_vec()];
        }
        Ok(Tls {
            mode,
            direct,
            servername: files.servername.clone(),
            config: Arc::new(config),
            check,
        })
    }

    /// The shared rustls configuration.
    pub fn config(&self) -> Arc<ClientConfig> {
        self.config.clone()
    }

    /// The name to verify and send for `host`.
    pub fn server_name(&self, host: &str) -> Result<ServerName<'static>, Error> {
        let name = self.servername.as_deref().unwrap_or(host);
        ServerName::try_from(name.to_string())
            .map_err(|_| tls_error(format!("{name:?} is not a host name TLS can verify")))
    }

    /// Why a handshake failed, in words: what the check found, and the sslmode in force.
    pub fn explain(&self, host: &str, e: &std::io::Error) -> String {
        let inner = e
            .get_ref()
            .and_then(|i| i.downcast_ref::<rustls::Error>())
            .map(describe);
        format!(
            "TLS {}failed (sslmode={}): {}",
            if inner.is_some() {
                "certificate verification "
            } else {
                "handshake "
            },
            self.mode.name(),
            inner.unwrap_or_else(|| format!("{e} (host {host})"))
        )
    }
}

fn describe(e: &rustls::Error) -> String {
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer => {
                "the server's certificate is signed by an unknown issuer (not by the root certificates given)".into()
            }
            CertificateError::NotValidForNameContext { expected, presented } => format!(
                "the server's certificate does not name {:?}; it names {}",
                expected.to_str(),
                if presented.is_empty() {
                    "nothing".into()
                } else {
                    presented.iter().map(|n| readable_name(n)).collect::<Vec<_>>().join(", ")
                }
            ),
            CertificateError::NotValidForName => "the server's certificate does not name the host".into(),
            CertificateError::ExpiredContext { not_after, .. } => {
                format!("the server's certificate expired ({} s after 1970)", not_after.as_secs())
            }
            CertificateError::Expired => "the server's certificate has expired".into(),
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "the server's certificate is not valid yet".into()
            }
            CertificateError::Revoked => "the server's certificate is revoked".into(),
            other => format!("the server's certificate was refused: {other:?}"),
        },
        other => other.to_string(),
    }
}

/// webpki reports a certificate's names in their Debug form (`DnsName("db.example")`).
fn readable_name(name: &str) -> String {
    match name
        .strip_prefix("DnsName(\"")
        .and_then(|n| n.strip_suffix("\")"))
    {
        Some(dns) => format!("DNS:{dns}"),
        None => name.to_string(),
    }
}

/// `require` without roots: any certificate, but the handshake's signatures still checked.
#[derive(Debug)]
struct Unverified(Arc<CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The chain checked by webpki; for `verify-ca` a certificate for another name is accepted.
#[derive(Debug)]
struct Verified {
    inner: Arc<WebPkiServerVerifier>,
    names: bool,
}

impl ServerCertVerifier for Verified {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.names => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Certificates from PEM text; an error names `what` when it holds none.
pub(super) fn certificates(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| tls_error(format!("{what}: not PEM certificates: {e}")))?;
    if certs.is_empty() {
        return Err(tls_error(format!("{what} holds no certificate")));
    }
    Ok(certs)
}

/// A root store from PEM text.
pub(super) fn root_store(pem: &[u8], what: &str) -> Result<RootCertStore, Error> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(pem, what)? {
        roots
            .add(cert)
            .map_err(|e| tls_error(format!("{what}: a certificate cannot be used: {e}")))?;
    }
    Ok(roots)
}

/// A private key from PEM text (PKCS#8, PKCS#1 or SEC1; encrypted PKCS#8 with `password`).
pub(super) fn private_key(
    pem: &[u8],
    password: Option<&str>,
    what: &str,
) -> Result<PrivateKeyDer<'static>, Error> {
    if let Some(key) = super::tls_files::decrypt_pkcs8(pem, password, what)? {
        return Ok(key);
    }
    PrivateKeyDer::from_pem_slice(pem)
        .map_err(|e| tls_error(format!("{what}: no private key in it ({e})")))
}

/// The channel-binding data of `tls-server-end-point` (RFC 5929): the server certificate's
/// hash, with SHA-256 for certificates signed with MD5, SHA-1 or SHA-256.
pub fn server_end_point(cert: &[u8]) -> Vec<u8> {
    use ring::digest;
    let algorithm = match signature_hash(cert) {
        Some(Hash::Sha384) => &digest::SHA384,
        Some(Hash::Sha512) => &digest::SHA512,
        _ => &digest::SHA256,
    };
    digest::digest(algorithm, cert).as_ref().to_vec()
}

enum Hash {
    Sha384,
    Sha512,
}

/// The hash of the certificate's signature algorithm, read from its DER:
/// `Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm SEQUENCE { OID, ... }, ... }`.
fn signature_hash(der: &[u8]) -> Option<Hash> {
    fn element(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, rest) = b.split_first()?;
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (first as usize, rest)
        } else {
            let n = (first & 0x7f) as usize;
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let len = rest[..n].iter().fold(0usize, |a, b| (a << 8) | *b as usize);
            (len, &rest[n..])
        };
        if rest.len() < len {
            return None;
        }
        Some((tag, &rest[..len], &rest[len..]))
    }
    let (_, cert, _) = element(der)?;
    let (_, _tbs, rest) = element(cert)?;
    let (_, algorithm, _) = element(rest)?;
    let (tag, oid, _) = element(algorithm)?;
    if tag != 0x06 {
        return None;
    }
    const SHA384: [&[u8]; 2] = [
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c],
        &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03],
    ];
    const SHA512: [&[u8]; 2] = [
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d],
        &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04],
    ];
    if SHA384.contains(&oid) {
        Some(Hash::Sha384)
    } else if SHA512.contains(&oid) {
        Some(Hash::Sha512)
    } else {
        None
    }
}
