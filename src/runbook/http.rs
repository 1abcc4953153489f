//! HTTP steps: one request with a timeout; success is a 2xx (or an expected) status.

use std::time::Duration;

use super::plan::PlannedHttp;
use super::secrets::Capture;
use super::step::StepStatus;

/// Sends `request`, streaming the response body into `body` (redacted, then
/// capped, as it arrives; a huge body is never held whole). Returns the outcome
/// and the status line or error.
pub async fn run_http(
    request: &PlannedHttp,
    timeout_ms: u64,
    body: &mut Capture<'_>,
) -> (StepStatus, String) {
    let Ok(method) = reqwest::Method::from_bytes(request.method.as_bytes()) else {
        return (StepStatus::Failed, format!("bad method {}", request.method));
    };
    let ca_file = request.ca_file.as_deref().map(std::path::Path::new);
    let builder = match crate::infra::tls::client_builder(ca_file) {
        Ok(builder) => builder,
        Err(e) => return (StepStatus::Failed, e),
    };
    let mut builder = builder;
    if request.resolve_check {
        // The host came from a parameter: resolve it once, check every
        // address, and connect to those only.
        let Ok(url) = reqwest::Url::parse(&request.url) else {
            return (StepStatus::Failed, "the URL does not parse".to_owned());
        };
        let host = url.host_str().unwrap_or_default().to_owned();
        let port = url.port_or_known_default().unwrap_or(443);
        match super::destination::resolve_outside(&host, port).await {
            Ok(addrs) => builder = builder.resolve_to_addrs(&host, &addrs),
            Err(refused) => return (StepStatus::Failed, format!("refused: {refused}")),
        }
    }
    let client = match builder
        .timeout(Duration::from_millis(timeout_ms))
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(client) => client,
        Err(e) => return (StepStatus::Failed, e.to_string()),
    };
    let mut builder = client.request(method, &request.url);
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    if let Some(json) = &request.body {
        builder = builder.json(json);
    }
    let failed = |e: reqwest::Error| {
        if e.is_timeout() {
            (StepStatus::TimedOut, "timed out".to_owned())
        } else if let Some(tls) = crate::infra::tls::describe_failure(&e) {
            (StepStatus::Failed, tls)
        } else {
            (StepStatus::Failed, e.to_string())
        }
    };
    let mut response = match builder.send().await {
        Ok(response) => response,
        Err(e) => return failed(e),
    };
    let status = response.status();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => body.push(&chunk),
            Ok(None) => break,
            Err(e) => return failed(e),
        }
    }
    let expected = if request.expect_status.is_empty() {
        status.is_success()
    } else {
        request.expect_status.contains(&status.as_u16())
    };
    let outcome = if expected {
        StepStatus::Succeeded
    } else {
        StepStatus::Failed
    };
    (outcome, format!("HTTP {status}"))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::infra::tls::{ServerCertificate, ServerTlsSettings};
    use crate::runbook::Redactor;

    /// A CA (its PEM in `dir`) and an HTTPS server for `localhost` signed
    /// by it that answers every connection `200 done`; the server's port.
    async fn https_target(dir: &std::path::Path) -> u16 {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = ca.self_signed(&ca_key).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .signed_by(&key, &ca, &ca_key)
            .unwrap();
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        std::fs::write(dir.join("server.pem"), leaf.pem()).unwrap();
        crate::infra::secrets::write_private(&dir.join("server.key"), key.serialize_pem());
        let certificate = ServerCertificate::load(&ServerTlsSettings {
            cert_file: dir.join("server.pem"),
            key_file: dir.join("server.key"),
            reload_interval_s: 10,
        })
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(certificate.server_config());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let mut request = [0u8; 4096];
                    let _ = tls.read(&mut request).await;
                    let answer =
                        "HTTP/1.1 200 OK\r\ncontent-length: 4\r\nconnection: close\r\n\r\ndone";
                    let _ = tls.write_all(answer.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        port
    }

    fn request(port: u16, ca_file: Option<&std::path::Path>) -> PlannedHttp {
        PlannedHttp {
            method: "POST".into(),
            url: format!("https://localhost:{port}/restart"),
            headers: BTreeMap::new(),
            body: None,
            expect_status: vec![],
            ca_file: ca_file.map(|p| p.display().to_string()),
            resolve_check: false,
        }
    }

    #[tokio::test]
    async fn an_https_step_trusts_its_ca_file_and_refuses_a_certificate_without_it() {
        let dir = tempfile::tempdir().unwrap();
        let port = https_target(dir.path()).await;
        let redactor = Arc::new(Redactor::new(std::iter::empty::<&str>()));
        let mut body = Capture::new(&redactor, 1024);
        let ca = dir.path().join("ca.pem");
        let (status, line) = run_http(&request(port, Some(&ca)), 5_000, &mut body).await;
        assert_eq!(status, StepStatus::Succeeded, "{line}");
        assert_eq!(body.finish().0, "done");

        let mut body = Capture::new(&redactor, 1024);
        let (status, line) = run_http(&request(port, None), 5_000, &mut body).await;
        assert_eq!(status, StepStatus::Failed);
        assert!(line.contains("TLS to localhost"), "{line}");
        assert!(line.contains("not signed by a trusted CA"), "{line}");
    }
}
