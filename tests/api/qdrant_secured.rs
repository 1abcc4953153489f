//! The service on a Qdrant server that requires TLS and an API key, as a
//! managed or hardened Qdrant does: reached when its CA is trusted (the
//! system store, or `SSL_CERT_FILE`) and the key is right; refused at start,
//! saying why, when the CA is unknown or the key wrong. Real processes.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{AGENT_TOKEN, sample_copy};
use crate::qdrant_process::QdrantServer;
use crate::server_process::{ServerProcess, write_config};
use crate::tls::TestCa;

const API_KEY: &str = "qdrant-api-key-for-tests-0123456789";

/// A Switchboard configuration on the Qdrant server's gRPC port over TLS;
/// the directories must outlive the server.
fn config_for(grpc: u16) -> (tempfile::TempDir, tempfile::TempDir, std::path::PathBuf) {
    let data = sample_copy();
    let dir = tempfile::tempdir().unwrap();
    let store = format!(
        "[store]\nbackend = \"qdrant\"\n[store.qdrant]\nurl = \"https://localhost:{grpc}\"\n\
         api_key_secret = \"QDRANT_KEY\"\ncollection_prefix = \"secured_\"\n"
    );
    let config = write_config(dir.path(), data.path(), None, &store);
    (data, dir, config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_stores_and_reads_through_qdrant_over_tls_with_an_api_key() {
    let ca = TestCa::new();
    let issued = ca.issue("qdrant");
    let Some(qdrant) = QdrantServer::start_secured(&ca, &issued, API_KEY).await else {
        return;
    };
    let (_data, _dir, config) = config_for(qdrant.grpc);
    let ca_file = ca.ca_file().display().to_string();
    let server = ServerProcess::start_ready(
        &config,
        &[
            ("SWITCHBOARD_SECRET_QDRANT_KEY", API_KEY),
            ("SSL_CERT_FILE", ca_file.as_str()),
        ],
    )
    .await;
    let http = reqwest::Client::new();
    let stored = http
        .post(format!("{}/v1/incidents", server.base))
        .bearer_auth(AGENT_TOKEN)
        .json(&json!({ "id": "TLS-1", "title": "VPN drops", "description": "GlobalProtect disconnects",
            "labels": { "assignment_group": "Network Operations" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status(), 201);
    let read: serde_json::Value = http
        .get(format!("{}/v1/incidents/TLS-1", server.base))
        .bearer_auth(crate::helpers::VIEWER_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read["title"], "VPN drops");
}

/// Starts Switchboard on the secured Qdrant with `env`; it must stop at
/// start. Returns its log.
async fn refused_start(grpc: u16, env: &[(&str, &str)]) -> String {
    let (_data, _dir, config) = config_for(grpc);
    let mut server = ServerProcess::start(&config, env);
    assert!(
        server.wait_exit(Duration::from_secs(90)),
        "it started: {:#?}",
        server.log()
    );
    server.log().join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_ca_stops_the_start_with_a_certificate_error() {
    let ca = TestCa::new();
    let issued = ca.issue("qdrant");
    let Some(qdrant) = QdrantServer::start_secured(&ca, &issued, API_KEY).await else {
        return;
    };
    let log = refused_start(qdrant.grpc, &[("SWITCHBOARD_SECRET_QDRANT_KEY", API_KEY)]).await;
    assert!(log.to_lowercase().contains("certificate"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_api_key_stops_the_start_saying_so() {
    let ca = TestCa::new();
    let issued = ca.issue("qdrant");
    let Some(qdrant) = QdrantServer::start_secured(&ca, &issued, API_KEY).await else {
        return;
    };
    let ca_file = ca.ca_file().display().to_string();
    let log = refused_start(
        qdrant.grpc,
        &[
            ("SWITCHBOARD_SECRET_QDRANT_KEY", "not-the-key-0123456789"),
            ("SSL_CERT_FILE", ca_file.as_str()),
        ],
    )
    .await;
    assert!(
        log.to_lowercase().contains("api key") || log.contains("Unauthenticated"),
        "{log}"
    );
}
