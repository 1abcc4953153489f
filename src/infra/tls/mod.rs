//! TLS, rustls only, verification always on. Every outbound HTTPS client
//! (connectors, the chat-completions draft server, runbook `http` steps, the
//! CLI's admin calls) trusts the system's roots, the bundled Mozilla roots
//! and, where set, a desk's own CA (`ca_file`: `[tls]`, overridable per
//! connector and per draft server). No setting turns verification off. A
//! certificate failure is reported with the host and what was wrong with the
//! certificate ([`describe_failure`]). The server's side, `[server.tls]`, is
//! [`ServerCertificate`].

mod server;

pub use server::{ServerCertificate, ServerTlsSettings};

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// `[tls]`: what every outbound client trusts besides the public roots.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSettings {
    /// PEM file of the certificate authorities a desk runs itself (one or
    /// more certificates), trusted by every outbound client that names none
    /// of its own.
    pub ca_file: Option<PathBuf>,
}

/// The certificates of the PEM file at `path`, or why they cannot be read.
fn certificates(path: &Path) -> Result<Vec<reqwest::Certificate>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("ca_file {}: {e}", path.display()))?;
    let certificates = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| format!("ca_file {}: not PEM certificates: {e}", path.display()))?;
    if certificates.is_empty() {
        return Err(format!("ca_file {}: holds no certificate", path.display()));
    }
    Ok(certificates)
}

/// A client builder on rustls trusting the system's and the bundled roots,
/// and the CA certificates in `ca_file` when given.
pub fn client_builder(ca_file: Option<&Path>) -> Result<reqwest::ClientBuilder, String> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(true);
    if let Some(path) = ca_file {
        for certificate in certificates(path)? {
            builder = builder.add_root_certificate(certificate);
        }
    }
    Ok(builder)
}

/// A plain client with [`client_builder`]'s trust (for one-off calls).
pub fn client(ca_file: Option<&Path>) -> Result<reqwest::Client, String> {
    client_builder(ca_file)?
        .build()
        .map_err(|e| format!("cannot build the HTTPS client: {e}"))
}

/// When `err` failed on the server's certificate: which host, and what was
/// wrong, in words an operator can act on. `None` for other failures.
pub fn describe_failure(err: &reqwest::Error) -> Option<String> {
    use rustls::CertificateError as E;
    let rustls::Error::InvalidCertificate(refused) = rustls_cause(err)? else {
        return None;
    };
    let host = err
        .url()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "the server".to_owned());
    let hint = match refused {
        E::UnknownIssuer => {
            "its certificate is not signed by a trusted CA: set ca_file to the CA that signed it"
        }
        E::NotValidForName | E::NotValidForNameContext { .. } => {
            "its certificate does not name this host: use the host name the certificate carries"
        }
        E::Expired | E::ExpiredContext { .. } => "its certificate has expired",
        _ => "its certificate was refused",
    };
    Some(format!(
        "TLS to {host}: {hint} (invalid peer certificate: {refused})"
    ))
}

/// The rustls error behind `err`, if the failure was TLS's. hyper hands it
/// up wrapped in `io::Error`s (two deep), whose `source()` skips what they
/// wrap: those are opened with `get_ref`.
fn rustls_cause(err: &reqwest::Error) -> Option<&rustls::Error> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    while let Some(current) = cause {
        if let Some(tls) = current.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        cause = match current.downcast_ref::<std::io::Error>() {
            Some(io) => match io.get_ref() {
                Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
                None => current.source(),
            },
            None => current.source(),
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_empty_ca_file_is_a_clear_error() {
        let missing = client_builder(Some(Path::new("/nonexistent/ca.pem"))).unwrap_err();
        assert!(missing.contains("/nonexistent/ca.pem"), "{missing}");
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("ca.pem");
        std::fs::write(&empty, "").unwrap();
        let error = client_builder(Some(&empty)).unwrap_err();
        assert!(error.contains("no certificate"), "{error}");
    }

    #[test]
    fn without_a_ca_file_the_public_roots_are_trusted() {
        assert!(client(None).is_ok());
    }
}
