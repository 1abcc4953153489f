//! The Qdrant server backend under faults and moves: a three-node cluster
//! with replicated collections losing a node mid-stream, and
//! `switchboard migrate-store` from the embedded store, killed and resumed.

use std::time::{Duration, Instant};

use switchboard::store::{
    Collection, EdgeStore, QdrantServerStore, QdrantSettings, Query, StoredPoint, VectorStore,
};

use crate::qdrant_process::{QdrantCluster, QdrantServer, http_get};
use crate::store_contract::{DIMENSION, dot, unit_vectors};

#[test]
fn a_cluster_node_killed_mid_stream_loses_no_acknowledged_write_and_fails_no_search() {
    let Some(mut cluster) = QdrantCluster::start(3) else {
        return;
    };
    let settings = QdrantSettings {
        url: format!("http://127.0.0.1:{}", cluster.grpc[0]),
        collection_prefix: "ha_".into(),
        shard_number: 3,
        replication_factor: 2,
        write_consistency_factor: 1,
        ..QdrantSettings::default()
    };
    // The collections need every node to have joined.
    let started = Instant::now();
    let store = loop {
        match QdrantServerStore::connect(&settings, None, DIMENSION, Default::default()) {
            Ok(store) => break store,
            Err(err) => {
                assert!(started.elapsed() < Duration::from_secs(60), "{err}");
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    };
    // Replicas live on the other nodes too, the one to be killed among them.
    let layout = http_get(cluster.http[0], "/collections/ha_incidents/cluster").unwrap();
    assert!(
        layout.contains("remote_shards") && layout.contains("peer_id"),
        "{layout}"
    );
    let vectors = unit_vectors(400, 11);
    let mut acknowledged = Vec::new();
    let mut failed_writes = 0;
    for (n, vector) in vectors.iter().enumerate() {
        if n == 150 {
            cluster.kill(2);
        }
        let point = StoredPoint {
            id: format!("W{n}"),
            vector: vector.clone(),
            text: Some(format!("ticket number {n}")),
            payload: serde_json::Map::new(),
        };
        match store.upsert(Collection::Incidents, vec![point]) {
            Ok(()) => acknowledged.push(format!("W{n}")),
            Err(_) => failed_writes += 1,
        }
        let hits = store
            .search(Collection::Incidents, Query::dense(vector), 3)
            .unwrap_or_else(|e| panic!("search {n} failed with a node down: {e}"));
        assert!(!hits.is_empty());
    }
    eprintln!(
        "{} writes acknowledged, {failed_writes} refused",
        acknowledged.len()
    );
    assert!(acknowledged.len() >= 390, "{failed_writes} writes failed");
    for id in &acknowledged {
        assert!(
            store.get(Collection::Incidents, id).unwrap().is_some(),
            "acknowledged write {id} is lost"
        );
    }
    assert_eq!(
        store.count(Collection::Incidents).unwrap(),
        acknowledged.len()
    );
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

    let store = QdrantServerStore::connect(&settings, None, 384, Default::default())
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_the_service_uses_killed_during_triage_fails_no_triage_and_loses_nothing() {
    let Some(mut cluster) = QdrantCluster::start(3) else {
        return;
    };
    let settings = QdrantSettings {
        // Every node's URL: the service moves on when the one it uses dies.
        url: cluster
            .grpc
            .iter()
            .map(|port| format!("http://127.0.0.1:{port}"))
            .collect::<Vec<_>>()
            .join(","),
        collection_prefix: "triage_ha_".into(),
        shard_number: 3,
        replication_factor: 2,
        write_consistency_factor: 1,
        ..QdrantSettings::default()
    };
    // Made before the service starts: they need every node to have joined.
    let started = Instant::now();
    let layout = settings.clone();
    tokio::task::spawn_blocking(move || {
        loop {
            match QdrantServerStore::connect(&layout, None, 384, Default::default()) {
                Ok(_) => return,
                Err(err) => {
                    assert!(started.elapsed() < Duration::from_secs(60), "{err}");
                    std::thread::sleep(Duration::from_millis(500));
                }
            }
        }
    })
    .await
    .unwrap();
    let app = crate::helpers::spawn_app_on(tempfile::tempdir().unwrap(), move |s| {
        s.store.backend = switchboard::store::Backend::Qdrant;
        s.store.qdrant = settings;
    })
    .await;
    let mut stored = Vec::new();
    let (mut refused_writes, mut failed_triage) = (0, 0);
    for n in 0..120 {
        if n == 40 {
            cluster.kill(0); // the node the service talks to first
        }
        let id = format!("HA-{n}");
        let incident = serde_json::json!({ "id": id, "title": format!("VPN drops for user {n}"),
            "description": "GlobalProtect disconnects every few minutes", "assignment_group": "Network" });
        if app.post_json("/v1/incidents", &incident).await.status() == 201 {
            stored.push(id);
        } else {
            refused_writes += 1;
        }
        let triage = app
            .post_json(
                "/v1/triage",
                &serde_json::json!({ "title": "VPN keeps dropping", "description": format!("ticket {n}") }),
            )
            .await;
        if triage.status() != 200 {
            failed_triage += 1;
        }
    }
    eprintln!(
        "{} incidents stored, {refused_writes} refused, {failed_triage} triage failed",
        stored.len()
    );
    assert_eq!(
        failed_triage, 0,
        "triage failed with one node of three down"
    );
    assert!(refused_writes <= 5, "{refused_writes} writes refused");
    for id in &stored {
        let got = app
            .get_as(crate::helpers::VIEWER_TOKEN, &format!("/v1/incidents/{id}"))
            .await;
        assert_eq!(got.status(), 200, "acknowledged incident {id} is lost");
    }
}
