//! The `VectorStore` contract, run against both backends: embedded Qdrant
//! Edge always, and a real Qdrant server (the binary in `QDRANT_BIN`, default
//! `../shared/qdrant/qdrant`) whenever it is present; without it the server
//! half says loudly that it did not run.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use switchboard::store::{
    Collection, EdgeStore, QdrantServerStore, QdrantSettings, Query, StoreError, StoredPoint,
    VectorStore,
};

use crate::helpers::repo;

const DIMENSION: usize = 8;

/// Seeded unit vectors.
fn unit_vectors(count: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    (0..count)
        .map(|_| {
            let v: Vec<f32> = (0..DIMENSION)
                .map(|_| {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    ((state >> 33) as f32 / u32::MAX as f32) - 0.25
                })
                .collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.into_iter().map(|x| x / norm).collect()
        })
        .collect()
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The contract every backend keeps.
fn contract(store: &dyn VectorStore) {
    let collection = Collection::Incidents;
    assert_eq!(store.count(collection).unwrap(), 0);
    assert!(store.get(collection, "P1").unwrap().is_none());

    let vectors = unit_vectors(300, 42);
    let target = 299;
    let points: Vec<StoredPoint> = vectors
        .iter()
        .enumerate()
        .map(|(i, vector)| StoredPoint {
            id: format!("P{i}"),
            vector: vector.clone(),
            text: Some(if i == target {
                "database login fails with ORA-12154 could not resolve the connect identifier"
                    .to_owned()
            } else {
                format!("printer on floor {i} jams paper, please send a technician")
            }),
            payload: serde_json::json!({ "group": format!("g{}", i % 3), "n": i })
                .as_object()
                .unwrap()
                .clone(),
        })
        .collect();
    store.upsert(collection, points).unwrap();
    store.flush().unwrap();
    assert_eq!(store.count(collection).unwrap(), 300);

    let got = store.get(collection, "P5").unwrap().expect("P5 is stored");
    assert_eq!(got.id, "P5");
    assert!(dot(&got.vector, &vectors[5]) > 0.9999);
    assert_eq!(got.payload["group"], "g2");
    assert_eq!(got.payload["n"], 5);

    // Dense search: the exact nearest, most similar first, scored by cosine.
    let query = unit_vectors(1, 7).remove(0);
    let mut expected: Vec<(usize, f32)> =
        vectors.iter().map(|v| dot(v, &query)).enumerate().collect();
    expected.sort_by(|a, b| b.1.total_cmp(&a.1));
    let hits = store.search(collection, Query::dense(&query), 10).unwrap();
    let ids: Vec<String> = hits.iter().map(|h| h.id.clone()).collect();
    let want: Vec<String> = expected[..10]
        .iter()
        .map(|(i, _)| format!("P{i}"))
        .collect();
    assert_eq!(ids, want);
    assert!((hits[0].score - expected[0].1).abs() < 1e-4);
    assert_eq!(hits[0].payload["id"], want[0]);

    // Hybrid: a rare term finds its incident outside the embedding's top 10,
    // and every hit is scored by its cosine.
    assert!(!want.contains(&format!("P{target}")));
    let hybrid = store
        .search(
            collection,
            Query::hybrid(&query, "users see ORA-12154 in the finance application"),
            10,
        )
        .unwrap();
    assert!(
        hybrid.iter().any(|h| h.id == format!("P{target}")),
        "{hybrid:?}"
    );
    for hit in &hybrid {
        let i: usize = hit.id[1..].parse().unwrap();
        assert!((hit.score - dot(&vectors[i], &query)).abs() < 1e-4);
    }

    // The same id again replaces the point.
    let mut again = store.get(collection, "P5").unwrap().unwrap();
    again.payload.insert("group".into(), "moved".into());
    store.upsert(collection, vec![again]).unwrap();
    assert_eq!(store.count(collection).unwrap(), 300);
    assert_eq!(
        store.get(collection, "P5").unwrap().unwrap().payload["group"],
        "moved"
    );

    // Deleting by a payload field removes exactly those points.
    store.delete_where(collection, "group", "g0").unwrap();
    assert_eq!(store.count(collection).unwrap(), 200);
    let all = store.all(collection).unwrap();
    assert_eq!(all.len(), 200);
    assert!(all.iter().all(|p| p.payload["group"] != "g0"));
    assert!(all.iter().any(|p| p.id == "P5"));

    // Collections are apart, and a wrong dimension is refused.
    assert_eq!(store.count(Collection::Knowledge).unwrap(), 0);
    assert!(matches!(
        store.search(collection, Query::dense(&[1.0, 0.0]), 3),
        Err(StoreError::Dimension { .. })
    ));
}

#[test]
fn the_embedded_store_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = EdgeStore::open(dir.path(), DIMENSION)
        .unwrap()
        .with_hybrid(true);
    contract(&store);
}

/// A Qdrant server process on free ports, killed on drop.
struct QdrantServer {
    child: Child,
    grpc: u16,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn ready(http: u16) -> bool {
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", http)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let request = "GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    let mut answer = String::new();
    stream.write_all(request.as_bytes()).is_ok()
        && stream.read_to_string(&mut answer).is_ok()
        && answer.starts_with("HTTP/1.1 200")
}

impl QdrantServer {
    /// The server, or `None` (said loudly) when no binary is there.
    fn start() -> Option<Self> {
        let binary = std::env::var("QDRANT_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|_| repo().join("../shared/qdrant/qdrant"));
        if !binary.exists() {
            eprintln!(
                "\n*** NOT RUN: no Qdrant server at {} (set QDRANT_BIN); the server backend is untested in this run ***\n",
                binary.display()
            );
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let (http, grpc) = (free_port(), free_port());
        let child = Command::new(&binary)
            .current_dir(dir.path())
            .env("QDRANT__CLUSTER__ENABLED", "false")
            .env("QDRANT__SERVICE__HOST", "127.0.0.1")
            .env("QDRANT__SERVICE__HTTP_PORT", http.to_string())
            .env("QDRANT__SERVICE__GRPC_PORT", grpc.to_string())
            .env("QDRANT__STORAGE__STORAGE_PATH", dir.path().join("storage"))
            .env(
                "QDRANT__STORAGE__SNAPSHOTS_PATH",
                dir.path().join("snapshots"),
            )
            .env("QDRANT__TELEMETRY_DISABLED", "true")
            .env("QDRANT__LOG_LEVEL", "WARN")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
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

    fn settings(&self, prefix: &str) -> QdrantSettings {
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

#[test]
fn the_qdrant_server_store_keeps_the_contract() {
    let Some(server) = QdrantServer::start() else {
        return;
    };
    let store = QdrantServerStore::connect(&server.settings("contract_"), None, DIMENSION)
        .unwrap()
        .with_hybrid(true);
    contract(&store);
    // A second connection finds the collections and the points as they are.
    let again = QdrantServerStore::connect(&server.settings("contract_"), None, DIMENSION).unwrap();
    assert_eq!(again.count(Collection::Incidents).unwrap(), 200);
}

#[test]
fn the_qdrant_server_store_says_what_failed_when_no_server_answers() {
    let settings = QdrantSettings {
        url: format!("http://127.0.0.1:{}", free_port()),
        timeout_s: 1,
        ..QdrantSettings::default()
    };
    let started = Instant::now();
    let err = QdrantServerStore::connect(&settings, None, DIMENSION)
        .err()
        .expect("no server, no store");
    assert!(err.to_string().contains("collection_exists"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "retries are bounded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_triages_from_a_qdrant_server_and_keeps_nothing_of_it_locally() {
    let Some(server) = QdrantServer::start() else {
        return;
    };
    let settings = server.settings("service_");
    let start = |data: tempfile::TempDir| {
        let settings = settings.clone();
        crate::helpers::spawn_app_on(data, move |s| {
            s.store.backend = switchboard::store::Backend::Qdrant;
            s.store.qdrant = settings;
            s.store.hybrid = true;
        })
    };
    let app = start(tempfile::tempdir().unwrap()).await;
    for (id, title, text) in [
        (
            "INC-Q1",
            "VPN drops every few minutes",
            "GlobalProtect disconnects while working from home",
        ),
        (
            "INC-Q2",
            "Printer jammed",
            "The printer on floor 2 shows a paper jam in tray 2",
        ),
        (
            "INC-Q3",
            "Password expired",
            "Cannot log in to Windows, the password has expired",
        ),
    ] {
        let stored = app
            .post_json(
                "/v1/incidents",
                &serde_json::json!({ "id": id, "title": title, "description": text, "assignment_group": "Desk" }),
            )
            .await;
        assert_eq!(stored.status(), 201);
    }
    // A fresh data directory: everything the answer needs is on the server.
    app.stop().await;
    let app = start(tempfile::tempdir().unwrap()).await;
    let triaged: serde_json::Value = app
        .post_json(
            "/v1/triage",
            &serde_json::json!({ "title": "VPN keeps disconnecting", "description": "GlobalProtect drops the connection at home" }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        triaged["similar_incidents"][0]["id"], "INC-Q1",
        "{triaged:#}"
    );
    let stats: serde_json::Value = app
        .get_as(crate::helpers::VIEWER_TOKEN, "/v1/stats")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stats["incidents"], 3, "{stats:#}");
}

#[test]
fn migrate_store_copies_the_sample_store_resumes_after_a_crash_and_checks_counts() {
    let Some(server) = QdrantServer::start() else {
        return;
    };
    let data = crate::helpers::sample_copy();
    let settings = server.settings("migrated_");
    let migrate = |crash: Option<&str>| {
        let mut command = crate::helpers::switchboard_command();
        command
            .env("SWITCHBOARD_DATA_DIR", data.path())
            .env("SWITCHBOARD_STORE__QDRANT__URL", &settings.url)
            .env(
                "SWITCHBOARD_STORE__QDRANT__COLLECTION_PREFIX",
                &settings.collection_prefix,
            )
            .args(["migrate-store", "--from", "edge", "--to", "qdrant"]);
        if let Some(point) = crash {
            command.env("SWITCHBOARD_TEST_CRASH_AT", point);
        }
        command.output().unwrap()
    };
    // Killed after the first batch of 256 incidents was acknowledged.
    let crashed = migrate(Some("migrate.after_batch"));
    assert!(!crashed.status.success());
    let progress: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data.path().join("migrate-store.json")).unwrap())
            .unwrap();
    assert_eq!(progress["incidents"], 256);

    let finished = migrate(None);
    crate::helpers::assert_succeeded(&finished);
    let printed = String::from_utf8_lossy(&finished.stdout);
    assert!(
        printed.contains("incidents  320 here, 320 on the server"),
        "{printed}"
    );
    assert!(!data.path().join("migrate-store.json").exists());

    let store = QdrantServerStore::connect(&settings, None, 384)
        .unwrap()
        .with_hybrid(true);
    let source = EdgeStore::open(data.path(), 384).unwrap();
    for collection in Collection::ALL {
        assert_eq!(
            store.count(collection).unwrap(),
            source.count(collection).unwrap()
        );
    }
    // Payloads and vectors came over; the lexical text was rebuilt.
    let original = source
        .get(Collection::Incidents, "INC0010265")
        .unwrap()
        .unwrap();
    let copied = store
        .get(Collection::Incidents, "INC0010265")
        .unwrap()
        .unwrap();
    assert_eq!(copied.payload["title"], original.payload["title"]);
    assert!(dot(&copied.vector, &original.vector) > 0.9999);
    let far = vec![0.0f32; 383]
        .into_iter()
        .chain([1.0])
        .collect::<Vec<_>>();
    let found = store
        .search(
            Collection::Incidents,
            Query::hybrid(&far, "too many connections against db-prd-01"),
            5,
        )
        .unwrap();
    assert!(
        found
            .iter()
            .any(|h| h.payload["title"] == "Database connection pool exhausted"),
        "{found:?}"
    );
}
