//! TLS with a certificate authority made in the test (rcgen): connectors
//! writing back to an HTTPS system, `serve` speaking HTTPS and reloading its
//! certificate; each without the CA too: a clear certificate error, nothing
//! written.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::connectors::{
    Recorder, deliver, event, jobs, recorder_app, spawn_with_desk, spawn_with_desk_on_clock,
    wait_job,
};
use crate::helpers::{TestClock, sample_copy, spawn_https_app_on};

/// A certificate authority of the test's own, its certificate in a PEM file.
pub struct TestCa {
    certificate: rcgen::Certificate,
    key: rcgen::KeyPair,
    dir: tempfile::TempDir,
}

/// A server certificate and key, as PEM files.
pub struct Issued {
    /// The certificate chain (the server's own certificate).
    pub cert_file: std::path::PathBuf,
    /// Its private key.
    pub key_file: std::path::PathBuf,
    /// The certificate, DER.
    pub der: Vec<u8>,
}

impl TestCa {
    /// A new CA.
    pub fn new() -> Self {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Switchboard test CA");
        let certificate = params.self_signed(&key).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), certificate.pem()).unwrap();
        Self {
            certificate,
            key,
            dir,
        }
    }

    /// The CA certificate's PEM file (what `ca_file` names).
    pub fn ca_file(&self) -> std::path::PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A certificate for `localhost` and 127.0.0.1, written as `name`.pem and
    /// `name`.key in the CA's folder.
    pub fn issue(&self, name: &str) -> Issued {
        let key = rcgen::KeyPair::generate().unwrap();
        let params =
            rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .unwrap();
        let certificate = params
            .signed_by(&key, &self.certificate, &self.key)
            .unwrap();
        let cert_file = self.dir.path().join(format!("{name}.pem"));
        let key_file = self.dir.path().join(format!("{name}.key"));
        std::fs::write(&cert_file, certificate.pem()).unwrap();
        crate::helpers::write_private(&key_file, key.serialize_pem()).unwrap();
        Issued {
            cert_file,
            key_file,
            der: certificate.der().to_vec(),
        }
    }

    /// A client trusting this CA (and nothing it was not told to).
    pub fn client(&self) -> reqwest::Client {
        switchboard::infra::tls::client(Some(&self.ca_file())).unwrap()
    }
}

/// Serves `app` over TLS with `issued` on a free port of 127.0.0.1; the
/// port is returned.
pub async fn serve_tls(app: axum::Router, issued: &Issued) -> u16 {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::service::TowerToHyperService;

    let certificate = switchboard::infra::tls::ServerCertificate::load(
        &switchboard::infra::tls::ServerTlsSettings {
            cert_file: issued.cert_file.clone(),
            key_file: issued.key_file.clone(),
            reload_interval_s: 10,
        },
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(certificate.server_config());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let (acceptor, app) = (acceptor.clone(), app.clone());
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(stream).await else {
                    return; // a client that does not trust us: nothing served
                };
                let _ = Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app))
                    .await;
            });
        }
    });
    port
}

/// A recording ticketing system on HTTPS with a certificate of `ca`.
async fn https_recorder(ca: &TestCa) -> (String, Arc<Mutex<Recorder>>) {
    let recorder = Arc::new(Mutex::new(Recorder::default()));
    let port = serve_tls(recorder_app(Arc::clone(&recorder)), &ca.issue("system")).await;
    (format!("https://localhost:{port}"), recorder)
}

const VPN: (&str, &str) = (
    "VPN keeps disconnecting",
    "Working from home, the GlobalProtect VPN drops every few minutes.",
);

#[tokio::test]
async fn a_connector_writes_back_over_https_to_a_system_signed_by_the_desks_ca() {
    let ca = TestCa::new();
    let (base, recorder) = https_recorder(&ca).await;
    let secrets = tempfile::tempdir().unwrap();
    let ca_file = ca.ca_file();
    // The global CA is the connector's unless it names its own.
    let app = spawn_with_desk(&base, &secrets, move |s| s.tls.ca_file = Some(ca_file)).await;
    let answer = deliver(&app, &event("700", VPN.0, VPN.1, "new"), None, "d-700").await;
    let accepted: Value = answer.json().await.unwrap();
    wait_job(&app, accepted["job"].as_str().unwrap(), "done").await;
    let applied = recorder.lock().unwrap().applied();
    assert_eq!(applied.len(), 1, "written back once, over HTTPS");
}

// Retries pass on a test clock: the certificate error is what is tested.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_ca_a_write_back_fails_on_the_certificate_retries_and_ends_dead() {
    let ca = TestCa::new();
    let (base, recorder) = https_recorder(&ca).await;
    let secrets = tempfile::tempdir().unwrap();
    let clock = TestClock::now();
    let app = spawn_with_desk_on_clock(&base, &secrets, clock.clone(), |s| {
        s.connectors[0].max_attempts = 3;
        s.connectors[0].retry_max_s = 1;
    })
    .await;
    let answer = deliver(&app, &event("701", VPN.0, VPN.1, "new"), None, "d-701").await;
    let accepted: Value = answer.json().await.unwrap();
    let id = accepted["job"].as_str().unwrap().to_owned();
    let started = Instant::now();
    let dead = loop {
        let job = jobs(&app)
            .await
            .into_iter()
            .find(|j| j["id"] == id.as_str())
            .unwrap();
        if job["state"] == "dead" {
            break job;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never dead: {job:#}"
        );
        clock.advance(Duration::from_secs(2));
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(dead["attempts"], 3, "retried, not dropped: {dead:#}");
    let error = dead["last_error"].as_str().unwrap();
    assert!(error.contains("TLS to localhost"), "{error}");
    assert!(error.contains("not signed by a trusted CA"), "{error}");
    assert!(
        recorder.lock().unwrap().requests.is_empty(),
        "nothing written"
    );
}

/// `server.tls` with `issued`, looked at every second.
fn serve_with(issued: &Issued) -> impl FnOnce(&mut switchboard::configuration::Settings) {
    let (cert_file, key_file) = (issued.cert_file.clone(), issued.key_file.clone());
    move |s| {
        s.server.tls = Some(switchboard::infra::tls::ServerTlsSettings {
            cert_file,
            key_file,
            reload_interval_s: 1,
        });
    }
}

#[tokio::test]
async fn serve_speaks_https_and_a_webhook_arrives_over_it() {
    let ca = TestCa::new();
    let issued = ca.issue("switchboard");
    let (base, _recorder) = crate::connectors::recording_server().await;
    let secrets = tempfile::tempdir().unwrap();
    crate::helpers::write_private(
        secrets.path().join("secrets.yaml"),
        "DESK_HOOK_KEY: hook-key-for-tests-0123456789\nDESK_TOKEN: desk-api-token-0123456789\n",
    )
    .unwrap();
    let secrets_file = secrets.path().join("secrets.yaml");
    let tls = serve_with(&issued);
    let app = spawn_https_app_on(sample_copy(), ca.client(), move |s| {
        tls(s);
        s.runbooks.secrets_file = Some(secrets_file);
        s.connectors = vec![crate::connectors::desk(&base)];
    })
    .await;
    let answer = deliver(&app, &event("702", VPN.0, VPN.1, "new"), None, "d-702").await;
    assert_eq!(answer.status(), 202, "a webhook delivered over HTTPS");

    // A client that does not trust the desk's CA is refused at the handshake.
    let stranger = switchboard::infra::tls::client(None).unwrap();
    let refused = stranger
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap_err();
    let described = switchboard::infra::tls::describe_failure(&refused).unwrap_or_default();
    assert!(described.contains("TLS to localhost"), "{refused:?}");
}

/// The certificate `https://localhost:port` presents, DER.
async fn presented(ca: &TestCa, port: u16) -> Vec<u8> {
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(ca.ca_file()).unwrap();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = connector.connect(name, stream).await.unwrap();
    tls.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

#[tokio::test]
async fn a_renewed_certificate_is_served_without_a_restart() {
    let ca = TestCa::new();
    let issued = ca.issue("switchboard");
    let app = spawn_https_app_on(sample_copy(), ca.client(), serve_with(&issued)).await;
    let port: u16 = app.address.rsplit(':').next().unwrap().parse().unwrap();
    assert_eq!(presented(&ca, port).await, issued.der);

    // Renewed in place, as certbot or cert-manager would.
    let renewed = ca.issue("renewed");
    std::fs::copy(&renewed.key_file, &issued.key_file).unwrap();
    std::fs::copy(&renewed.cert_file, &issued.cert_file).unwrap();
    let started = Instant::now();
    while presented(&ca, port).await != renewed.der {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the renewed certificate was never served"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let answer = app.get("/healthz").await;
    assert_eq!(answer.status(), 200, "still serving after the reload");
}
