//! Real Qdrant server processes for the tests of the server backend: one
//! node, or a Raft cluster, on free ports with storage in a temporary
//! directory, killed on drop. The binary is `QDRANT_BIN`, default
//! `../shared/qdrant/qdrant`; without it `start` says loudly that the test
//! did not run and returns `None`.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use switchboard::store::QdrantSettings;

use crate::helpers::repo;

/// A Qdrant server process on free ports, killed on drop.
pub struct QdrantServer {
    child: Child,
    /// gRPC port.
    pub grpc: u16,
    _dir: tempfile::TempDir,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The whole HTTP answer to `GET path` on the node's HTTP port, if any.
pub fn http_get(http: u16, path: &str) -> Option<String> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", http)).ok()?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    Some(answer)
}

pub fn ready(http: u16) -> bool {
    http_get(http, "/readyz").is_some_and(|a| a.starts_with("HTTP/1.1 200"))
}

/// The Qdrant binary (`QDRANT_BIN`, else `../shared/qdrant/qdrant`), or
/// `None` after saying loudly that it is missing and what `consequence` is.
fn qdrant_binary(consequence: &str) -> Option<PathBuf> {
    let binary = std::env::var("QDRANT_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo().join("../shared/qdrant/qdrant"));
    if binary.exists() {
        return Some(binary);
    }
    crate::helpers::missing_component(
        "qdrant",
        &format!(
            "no Qdrant server at {} (set QDRANT_BIN); {consequence}",
            binary.display()
        ),
    );
    None
}

/// One Qdrant node, no cluster, storage under `dir`, on `http` and `grpc`.
fn single_node(binary: &std::path::Path, dir: &std::path::Path, http: u16, grpc: u16) -> Command {
    let mut command = Command::new(binary);
    command
        .current_dir(dir)
        .env("QDRANT__CLUSTER__ENABLED", "false")
        .env("QDRANT__SERVICE__HOST", "127.0.0.1")
        .env("QDRANT__SERVICE__HTTP_PORT", http.to_string())
        .env("QDRANT__SERVICE__GRPC_PORT", grpc.to_string())
        .env("QDRANT__STORAGE__STORAGE_PATH", dir.join("storage"))
        .env("QDRANT__STORAGE__SNAPSHOTS_PATH", dir.join("snapshots"))
        .env("QDRANT__TELEMETRY_DISABLED", "true")
        .env("QDRANT__LOG_LEVEL", "WARN")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

impl QdrantServer {
    /// The server, or `None` (said loudly) when no binary is there.
    pub fn start() -> Option<Self> {
        let binary = qdrant_binary("the server backend is untested in this run")?;
        let dir = tempfile::tempdir().unwrap();
        let (http, grpc) = (free_port(), free_port());
        let child = single_node(&binary, dir.path(), http, grpc)
            .spawn()
            .unwrap();
        let server = Self {
            child,
            grpc,
            _dir: dir,
        };
        let started = Instant::now();
        while !ready(http) {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "Qdrant did not become ready"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(server)
    }

    /// The server with TLS on both ports (`issued`'s certificate and key)
    /// and `api_key` required, or `None` (said loudly) when no binary is
    /// there; ready once it answers `/readyz` over HTTPS trusting `ca`.
    pub async fn start_secured(
        ca: &crate::tls::TestCa,
        issued: &crate::tls::Issued,
        api_key: &str,
    ) -> Option<Self> {
        let binary = qdrant_binary("the server backend over TLS is untested in this run")?;
        let dir = tempfile::tempdir().unwrap();
        let (http, grpc) = (free_port(), free_port());
        let child = single_node(&binary, dir.path(), http, grpc)
            .env("QDRANT__SERVICE__ENABLE_TLS", "true")
            .env("QDRANT__SERVICE__API_KEY", api_key)
            .env("QDRANT__TLS__CERT", &issued.cert_file)
            .env("QDRANT__TLS__KEY", &issued.key_file)
            .spawn()
            .unwrap();
        let server = Self {
            child,
            grpc,
            _dir: dir,
        };
        let client = ca.client();
        let started = Instant::now();
        while !client
            .get(format!("https://localhost:{http}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "Qdrant with TLS did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Some(server)
    }

    pub fn settings(&self, prefix: &str) -> QdrantSettings {
        QdrantSettings {
            url: format!("http://127.0.0.1:{}", self.grpc),
            collection_prefix: prefix.to_owned(),
            ..QdrantSettings::default()
        }
    }
}

impl Drop for QdrantServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A three-node Qdrant cluster on free ports (node 0 bootstraps the rest).
pub struct QdrantCluster {
    nodes: Vec<Option<Child>>,
    /// HTTP port of each node.
    pub http: Vec<u16>,
    /// gRPC port of each node.
    pub grpc: Vec<u16>,
    _dir: tempfile::TempDir,
}

impl QdrantCluster {
    /// `size` nodes, or `None` (said loudly) when no binary is there.
    pub fn start(size: usize) -> Option<Self> {
        let binary = qdrant_binary("the cluster test did not run")?;
        let dir = tempfile::tempdir().unwrap();
        let mut cluster = Self {
            nodes: Vec::new(),
            http: Vec::new(),
            grpc: Vec::new(),
            _dir: tempfile::tempdir().unwrap(),
        };
        let p2p: Vec<u16> = (0..size).map(|_| free_port()).collect();
        for i in 0..size {
            let (http, grpc) = (free_port(), free_port());
            let node = dir.path().join(format!("node{i}"));
            std::fs::create_dir_all(&node).unwrap();
            let mut command = Command::new(&binary);
            command
                .current_dir(&node)
                .env("QDRANT__CLUSTER__ENABLED", "true")
                .env("QDRANT__CLUSTER__P2P__PORT", p2p[i].to_string())
                .env("QDRANT__SERVICE__HOST", "127.0.0.1")
                .env("QDRANT__SERVICE__HTTP_PORT", http.to_string())
                .env("QDRANT__SERVICE__GRPC_PORT", grpc.to_string())
                .env("QDRANT__STORAGE__STORAGE_PATH", node.join("storage"))
                .env("QDRANT__STORAGE__SNAPSHOTS_PATH", node.join("snapshots"))
                .env("QDRANT__TELEMETRY_DISABLED", "true")
                .env("QDRANT__LOG_LEVEL", "WARN")
                .args(["--uri", &format!("http://127.0.0.1:{}", p2p[i])])
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            if i > 0 {
                command.args(["--bootstrap", &format!("http://127.0.0.1:{}", p2p[0])]);
            }
            cluster.nodes.push(Some(command.spawn().unwrap()));
            cluster.http.push(http);
            cluster.grpc.push(grpc);
            let started = Instant::now();
            while !ready(http) {
                assert!(
                    started.elapsed() < Duration::from_secs(60),
                    "node {i} not ready"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        cluster._dir = dir;
        Some(cluster)
    }

    /// Kills node `i` as `kill -9` would.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for QdrantCluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
    }
}
