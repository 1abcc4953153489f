//! Vector search over a large embedded store, with recall@10 against exact search.
//!
//! The fixture is seeded: `SWITCHBOARD_BENCH_POINTS` (default 100,000) unit vectors of
//! the model's width drawn around 500 cluster centres, as ticket embeddings cluster by
//! topic. Setup prints the ingest time (upsert + index build) and the recall@10 of the
//! store's search over 200 held-out queries, compared with the store's exact search
//! (which the API tests check against brute force).
//! Run with `cargo bench --bench search`.

#![allow(missing_docs)] // criterion_group! generates an undocumented function.

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::Map;
use switchboard::store::{Collection, EdgeStore, Query, StoredPoint, VectorStore};

const DIMENSION: usize = 384;
const CLUSTERS: usize = 500;
const QUERIES: usize = 200;

/// xorshift64*: a tiny seeded generator so every run sees the same fixture.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let bits = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40;
        bits as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }

    fn unit(&mut self, around: Option<&[f32]>, spread: f32) -> Vec<f32> {
        let mut v: Vec<f32> = (0..DIMENSION)
            .map(|i| around.map_or(0.0, |c| c[i]) + spread * self.next())
            .collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter_mut().for_each(|x| *x /= norm);
        v
    }
}

fn fixture(points: usize) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let centres: Vec<Vec<f32>> = (0..CLUSTERS).map(|_| rng.unit(None, 1.0)).collect();
    let mut draw = |n: usize| -> Vec<Vec<f32>> {
        (0..n)
            .map(|i| rng.unit(Some(&centres[(i * 7919) % CLUSTERS]), 0.08))
            .collect()
    };
    let stored = draw(points);
    let queries = draw(QUERIES);
    (stored, queries)
}

fn search(c: &mut Criterion) {
    let points: usize = std::env::var("SWITCHBOARD_BENCH_POINTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let (stored, queries) = fixture(points);
    let dir = tempfile::tempdir().expect("temp dir");
    let store = EdgeStore::open(dir.path(), DIMENSION).expect("store");
    let started = Instant::now();
    for (chunk_index, chunk) in stored.chunks(1000).enumerate() {
        let batch = chunk
            .iter()
            .enumerate()
            .map(|(i, vector)| StoredPoint {
                id: format!("INC{}", chunk_index * 1000 + i),
                vector: vector.clone(),
                text: None,
                payload: Map::new(),
            })
            .collect();
        store.upsert(Collection::Incidents, batch).expect("upsert");
    }
    let upserted = started.elapsed();
    store.flush().expect("flush");
    println!(
        "store: {points} points, upsert {:.1} s, index build {:.1} s",
        upserted.as_secs_f64(),
        (started.elapsed() - upserted).as_secs_f64()
    );

    let mut found = 0;
    for query in &queries {
        let exact = store
            .search_exact(Collection::Incidents, query, 10)
            .expect("exact search");
        let hits = store
            .search(Collection::Incidents, Query::dense(query), 10)
            .expect("search");
        found += hits
            .iter()
            .filter(|hit| exact.iter().any(|e| e.id == hit.id))
            .count();
    }
    println!(
        "recall@10 against exact search over {QUERIES} queries: {:.4}",
        found as f64 / (QUERIES * 10) as f64
    );

    let mut next = 0;
    c.bench_function(&format!("search/top10_of_{points}"), |b| {
        b.iter(|| {
            next = (next + 1) % queries.len();
            store
                .search(
                    Collection::Incidents,
                    Query::dense(black_box(&queries[next])),
                    10,
                )
                .expect("search")
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50);
    targets = search
}
criterion_main!(benches);
