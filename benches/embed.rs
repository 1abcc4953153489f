//! Embedding speed on the shipped sample tickets: one ticket (latency) and a
//! batch of 32 (throughput). Run with `cargo bench --bench embed`.

#![allow(missing_docs)] // criterion_group! generates an undocumented function.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use switchboard::embed::SentenceEncoder;
use switchboard::ingest::{ColumnMapping, IncidentReader};
use switchboard::prompts::Prompts;

fn sample_texts() -> Vec<String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let prompts = Prompts::load(&root.join("prompts")).expect("prompts");
    let mut reader = IncidentReader::open(
        &root.join("sample/incidents.csv"),
        &ColumnMapping::default(),
    )
    .expect("sample incidents");
    let mut texts = Vec::new();
    while let Some(row) = reader.next_row() {
        if let Ok(incident) = row {
            texts.push(prompts.ticket(&incident.title, &incident.description));
        }
    }
    texts
}

fn embedding(c: &mut Criterion) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let model = SentenceEncoder::load(&root.join("models/all-MiniLM-L6-v2"))
        .expect("run ./scripts/fetch-model.sh first");
    let texts = sample_texts();

    let mut group = c.benchmark_group("embed");
    group.throughput(Throughput::Elements(1));
    group.bench_function("one_ticket", |b| {
        b.iter(|| model.embed(black_box(&texts[..1]), 1).expect("embed"))
    });
    let batch = &texts[..32];
    group.throughput(Throughput::Elements(batch.len() as u64));
    for max_batch in [8, 32] {
        group.bench_function(format!("32_tickets_max_batch_{max_batch}"), |b| {
            b.iter(|| model.embed(black_box(batch), max_batch).expect("embed"))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = embedding
}
criterion_main!(benches);
