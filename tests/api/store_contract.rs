//! The `VectorStore` contract, run against both backends: embedded Qdrant
//! Edge always, and a real Qdrant server (the binary in `QDRANT_BIN`, default
//! `../shared/qdrant/qdrant`) whenever it is present; without it the server
//! half says loudly that it did not run.

use std::time::{Duration, Instant};

use switchboard::store::{
    Collection, EdgeStore, QdrantServerStore, QdrantSettings, Query, StoreError, StoredPoint,
    VectorStore,
};

use crate::qdrant_process::{QdrantServer, free_port};

/// Dimension of the contract's vectors.
pub const DIMENSION: usize = 8;

/// Seeded unit vectors.
pub fn unit_vectors(count: usize, seed: u64) -> Vec<Vec<f32>> {
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

pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The contract every backend keeps.
fn contract(store: &dyn VectorStore) {
    let collection = Collection::Incidents;
    assert_eq!(store.count(collection).unwrap(), 0);
    assert!(store.get(collection, "P1").unwrap().is_none());

    // The encoder record: none in a new store, then the last one written.
    assert_eq!(store.encoder().unwrap(), None);
    store.record_encoder(r#"{"name":"first"}"#).unwrap();
    store.record_encoder(r#"{"name":"second"}"#).unwrap();
    assert_eq!(
        store.encoder().unwrap().as_deref(),
        Some(r#"{"name":"second"}"#)
    );

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
    // Exact search (the recall reference) gives the brute-force order too.
    let exact = store.search_exact(collection, &query, 10).unwrap();
    let exact_ids: Vec<String> = exact.iter().map(|h| h.id.clone()).collect();
    assert_eq!(exact_ids, want);

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
    drop(store);
    assert_eq!(
        EdgeStore::recorded_encoder(dir.path()).unwrap().as_deref(),
        Some(r#"{"name":"second"}"#)
    );
}

#[test]
fn the_qdrant_server_store_keeps_the_contract() {
    let Some(server) = QdrantServer::start() else {
        return;
    };
    let store = QdrantServerStore::connect(
        &server.settings("contract_"),
        None,
        DIMENSION,
        Default::default(),
    )
    .unwrap()
    .with_hybrid(true);
    contract(&store);
    // A second connection finds the collections and the points as they are.
    let again = QdrantServerStore::connect(
        &server.settings("contract_"),
        None,
        DIMENSION,
        Default::default(),
    )
    .unwrap();
    assert_eq!(again.count(Collection::Incidents).unwrap(), 200);
    assert_eq!(
        again.encoder().unwrap().as_deref(),
        Some(r#"{"name":"second"}"#)
    );
    // Collections of another width are refused, saying what to do.
    let Err(err) = QdrantServerStore::connect(
        &server.settings("contract_"),
        None,
        2 * DIMENSION,
        Default::default(),
    ) else {
        panic!("a store of another width opened");
    };
    let message = err.to_string();
    assert!(
        message.contains("vectors of size Some(8)") && message.contains("switchboard reembed"),
        "{message}"
    );
}

#[test]
fn the_qdrant_server_store_says_what_failed_when_no_server_answers() {
    let settings = QdrantSettings {
        url: format!("http://127.0.0.1:{}", free_port()),
        timeout_s: 1,
        ..QdrantSettings::default()
    };
    let started = Instant::now();
    let err = QdrantServerStore::connect(&settings, None, DIMENSION, Default::default())
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
    assert_eq!(app.get("/readyz").await.status(), 200);
    // The server gone, the service says it is not ready.
    drop(server);
    let not_ready = app.get("/readyz").await;
    assert_eq!(not_ready.status(), 503);
    assert!(not_ready.headers().contains_key("retry-after"));
}
