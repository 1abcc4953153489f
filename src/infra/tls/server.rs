//! The server's side: `[server.tls]` certificate chain and key, presented by
//! `switchboard serve`, reloaded without a restart when the files change (a
//! look every `reload_interval_s`) or on SIGHUP. A reload that fails keeps
//! the certificate in use and says why.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::{Mutex, RwLock};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use serde::{Deserialize, Serialize};

/// `[server.tls]`: HTTPS on the listen address.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServerTlsSettings {
    /// PEM certificate chain, the server's own certificate first.
    pub cert_file: PathBuf,
    /// PEM private key of that certificate (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// Seconds between looks at the files' modification times.
    #[serde(default = "default_reload_interval_s")]
    pub reload_interval_s: u64,
}

fn default_reload_interval_s() -> u64 {
    10
}

/// The certificate the server presents; cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct ServerCertificate {
    settings: ServerTlsSettings,
    /// Swapped whole on reload; handshakes read it.
    current: RwLock<Arc<CertifiedKey>>,
    /// The files' modification times when last loaded.
    loaded: Mutex<(Option<SystemTime>, Option<SystemTime>)>,
}

fn modified(path: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The certified key in `settings`' files, or why it cannot be used.
fn read_key(settings: &ServerTlsSettings) -> Result<CertifiedKey, String> {
    let open = |path: &PathBuf| {
        std::fs::File::open(path)
            .map(std::io::BufReader::new)
            .map_err(|e| format!("server.tls: {}: {e}", path.display()))
    };
    let chain = rustls_pemfile::certs(&mut open(&settings.cert_file)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("server.tls: {}: {e}", settings.cert_file.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "server.tls: {} holds no certificate",
            settings.cert_file.display()
        ));
    }
    crate::infra::secrets::check_private_file(&settings.key_file)
        .map_err(|reason| format!("server.tls: {reason}"))?;
    let key = rustls_pemfile::private_key(&mut open(&settings.key_file)?)
        .map_err(|e| format!("server.tls: {}: {e}", settings.key_file.display()))?
        .ok_or_else(|| {
            format!(
                "server.tls: {} holds no private key",
                settings.key_file.display()
            )
        })?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| format!("server.tls: {}: {e}", settings.key_file.display()))?;
    let certified = CertifiedKey::new(chain, signing);
    certified
        .keys_match()
        .map_err(|e| format!("server.tls: the key does not match the certificate: {e}"))?;
    Ok(certified)
}

impl ServerCertificate {
    /// Loads the certificate and key `settings` name.
    pub fn load(settings: &ServerTlsSettings) -> Result<Arc<Self>, String> {
        let key = read_key(settings)?;
        Ok(Arc::new(Self {
            loaded: Mutex::new((modified(&settings.cert_file), modified(&settings.key_file))),
            current: RwLock::new(Arc::new(key)),
            settings: settings.clone(),
        }))
    }

    /// Reads the files again when they changed (or always, with `force`);
    /// true when a new certificate is in use.
    pub fn reload(&self, force: bool) -> Result<bool, String> {
        let stamps = (
            modified(&self.settings.cert_file),
            modified(&self.settings.key_file),
        );
        if !force && *self.loaded.lock() == stamps {
            return Ok(false);
        }
        let key = read_key(&self.settings)?;
        *self.current.write() = Arc::new(key);
        *self.loaded.lock() = stamps;
        Ok(true)
    }

    /// The rustls configuration that presents this certificate (HTTP/2 and
    /// HTTP/1.1 offered by ALPN).
    pub fn server_config(self: &Arc<Self>) -> Arc<rustls::ServerConfig> {
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_no_client_auth()
        .with_cert_resolver(Arc::clone(self) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Arc::new(config)
    }

    /// Reloads on SIGHUP and when the files change, until the certificate
    /// is dropped. Holds only a weak reference.
    pub fn spawn_reloader(self: &Arc<Self>) {
        let certificate = Arc::downgrade(self);
        let every = Duration::from_secs(self.settings.reload_interval_s.max(1));
        tokio::spawn(async move {
            let mut hangup =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
            loop {
                let forced = tokio::select! {
                    () = tokio::time::sleep(every) => false,
                    Some(()) = async {
                        match hangup.as_mut() {
                            Some(signal) => signal.recv().await,
                            None => std::future::pending().await,
                        }
                    } => true,
                };
                let Some(certificate) = certificate.upgrade() else {
                    return;
                };
                match certificate.reload(forced) {
                    Ok(true) => tracing::info!(
                        cert_file = %certificate.settings.cert_file.display(),
                        "TLS certificate reloaded"
                    ),
                    Ok(false) => {}
                    Err(err) => {
                        tracing::error!(error = %err, "TLS certificate not reloaded; the previous one stays in use");
                    }
                }
            }
        });
    }
}

impl ResolvesServerCert for ServerCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.current.read()))
    }
}
