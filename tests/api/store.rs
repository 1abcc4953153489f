//! The vector store's index: exact search as the reference, index parameters that can
//! change on an existing store (`switchboard reindex`), and `switchboard bench recall`.

use std::path::Path;

use serde_json::Value;
use switchboard::store::{Collection, EdgeStore, IndexParams, Query, StoredPoint, VectorStore};

use crate::helpers::{assert_succeeded, repo, switchboard_command};

/// Enough 384-d vectors (over 10 MB) for Qdrant to build an HNSW graph instead of
/// scanning the segment.
const INDEXED_POINTS: usize = 8000;
const DIMENSION: usize = 384;

/// Seeded unit vectors (xorshift), the same on every run.
fn unit_vectors(count: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut state = seed;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    (0..count)
        .map(|_| {
            let v: Vec<f32> = (0..DIMENSION).map(|_| next()).collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.into_iter().map(|x| x / norm).collect()
        })
        .collect()
}

fn brute_force_top10(stored: &[Vec<f32>], query: &[f32]) -> Vec<String> {
    let mut scored: Vec<(f32, usize)> = stored
        .iter()
        .enumerate()
        .map(|(i, v)| (v.iter().zip(query).map(|(a, b)| a * b).sum(), i))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored
        .iter()
        .take(10)
        .map(|&(_, i)| format!("P{i}"))
        .collect()
}

#[test]
fn exact_search_is_brute_force_and_a_sparse_index_misses_neighbours() {
    let dir = tempfile::tempdir().unwrap();
    let stored = unit_vectors(INDEXED_POINTS, 20261126);
    // A deliberately poor graph, searched with the narrowest beam; exact search must
    // ignore the int8 copies.
    let sparse = IndexParams {
        m: 4,
        ef_construct: 8,
        int8: true,
    };
    let store = EdgeStore::open_with_index(dir.path(), DIMENSION, sparse)
        .unwrap()
        .with_search_ef(1);
    for (n, chunk) in stored.chunks(1000).enumerate() {
        let points = chunk
            .iter()
            .enumerate()
            .map(|(i, vector)| StoredPoint {
                id: format!("P{}", n * 1000 + i),
                vector: vector.clone(),
                text: None,
                payload: serde_json::Map::new(),
            })
            .collect();
        store.upsert(Collection::Incidents, points).unwrap();
    }
    store.flush().unwrap();

    let mut missed = 0;
    for query in unit_vectors(20, 7) {
        let truth = brute_force_top10(&stored, &query);
        let ids = |hits: Vec<switchboard::store::Hit>| -> Vec<String> {
            hits.into_iter().map(|h| h.id).collect()
        };
        let exact = ids(store
            .search_exact(Collection::Incidents, &query, 10)
            .unwrap());
        assert_eq!(exact, truth, "exact search must match brute force");
        let indexed = ids(store
            .search(Collection::Incidents, Query::dense(&query), 10)
            .unwrap());
        missed += truth.iter().filter(|id| !indexed.contains(id)).count();
    }
    assert!(
        missed > 0,
        "a 4-link graph searched with ef 1 over random vectors should miss some neighbours"
    );
}

#[test]
fn hybrid_search_finds_an_incident_by_a_rare_term_and_scores_hits_by_cosine() {
    let dir = tempfile::tempdir().unwrap();
    let vectors = unit_vectors(300, 42);
    let target = 299;
    let points = vectors
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
            payload: serde_json::Map::new(),
        })
        .collect();
    let query = unit_vectors(1, 7).remove(0);
    let text = "users see ORA-12154 when they start the finance application";
    let cosine = |v: &[f32]| v.iter().zip(&query).map(|(a, b)| a * b).sum::<f32>();
    let ranked_by_cosine = brute_force_top10(&vectors, &query);
    assert!(
        !ranked_by_cosine.contains(&format!("P{target}")),
        "the fixture needs the target outside the embedding's top 10"
    );
    {
        let store = EdgeStore::open(dir.path(), DIMENSION)
            .unwrap()
            .with_hybrid(true);
        store.upsert(Collection::Incidents, points).unwrap();
        store.flush().unwrap();

        let dense = store
            .search(Collection::Incidents, Query::dense(&query), 10)
            .unwrap();
        let dense_ids: Vec<String> = dense.iter().map(|h| h.id.clone()).collect();
        assert_eq!(dense_ids, ranked_by_cosine);

        let hybrid = store
            .search(Collection::Incidents, Query::hybrid(&query, text), 10)
            .unwrap();
        assert_eq!(hybrid.len(), 10);
        let found = hybrid
            .iter()
            .find(|h| h.id == format!("P{target}"))
            .expect("the rare term finds its incident");
        assert!((found.score - cosine(&vectors[target])).abs() < 1e-4);
        for hit in &hybrid {
            let i: usize = hit.id[1..].parse().unwrap();
            assert!((hit.score - cosine(&vectors[i])).abs() < 1e-4, "{hit:?}");
        }
        assert!(
            hybrid.windows(2).all(|w| w[0].score >= w[1].score),
            "hits are ordered by similarity"
        );
        // Words every ticket shares bring nothing but the embedding's neighbours.
        let common = store
            .search(Collection::Incidents, Query::hybrid(&query, "the a of"), 10)
            .unwrap();
        assert_eq!(
            common.iter().map(|h| h.id.clone()).collect::<Vec<_>>(),
            ranked_by_cosine
        );
    }
    let dense_only = EdgeStore::open(dir.path(), DIMENSION).unwrap();
    let hits = dense_only
        .search(Collection::Incidents, Query::hybrid(&query, text), 10)
        .unwrap();
    assert_eq!(
        hits.iter().map(|h| h.id.clone()).collect::<Vec<_>>(),
        ranked_by_cosine
    );
}

fn shard_config(data_dir: &Path) -> Value {
    let text = std::fs::read_to_string(data_dir.join("incidents/edge_config.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn reindex_applies_changed_index_settings_and_bench_recall_reports_recall() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let sample = repo().join("sample/incidents.csv");
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut command = switchboard_command();
        command.args(args).env("SWITCHBOARD_DATA_DIR", &data);
        for (key, value) in env {
            command.env(key, value);
        }
        command.output().expect("switchboard runs")
    };
    let old = [
        ("SWITCHBOARD_STORE__HNSW_M", "8"),
        ("SWITCHBOARD_STORE__INT8_SEARCH", "false"),
    ];
    assert_succeeded(&run(
        &["ingest", "incidents", sample.to_str().unwrap()],
        &old,
    ));
    let config = shard_config(&data);
    assert_eq!(config["hnsw_config"]["m"], 8);
    assert!(config.get("quantization_config").is_none());

    let out = run(&["reindex"], &[]);
    assert_succeeded(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("m=32 ef_construct=512") && stdout.contains("incidents 320"),
        "{stdout}"
    );
    let config = shard_config(&data);
    assert_eq!(config["hnsw_config"]["m"], 32);
    assert_eq!(config["quantization_config"]["scalar"]["type"], "int8");

    let out = run(
        &[
            "bench",
            "recall",
            "--file",
            sample.to_str().unwrap(),
            "--limit",
            "20",
        ],
        &[],
    );
    assert_succeeded(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let recall: f64 = stdout
        .split_whitespace()
        .find_map(|field| field.strip_prefix("recall="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no recall in {stdout}"));
    assert!(stdout.contains("queries=20 stored=320 k=10"), "{stdout}");
    // 320 incidents sit below Qdrant's indexing threshold: both searches scan them.
    assert!(recall >= 0.99, "{stdout}");

    let out = run(
        &[
            "bench",
            "recall",
            "--file",
            sample.to_str().unwrap(),
            "--k",
            "0",
        ],
        &[],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--k must be at least 1"));
    let out = run(&["reindex"], &[("SWITCHBOARD_STORE__HNSW_M", "1")]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("store.hnsw_m must be at least 2"));
}
