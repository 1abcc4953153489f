//! One full triage in process (embed, retrieve, vote + classifier head, runbook
//! match, priority) against a store with the shipped sample incidents and articles.
//! Run with `cargo bench --bench triage`.

#![allow(missing_docs)] // criterion_group! generates an undocumented function.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use switchboard::configuration::Settings;
use switchboard::domain::NewTicket;
use switchboard::ingest::{ColumnMapping, IngestOptions, ingest_incidents, ingest_knowledge};

fn triage(c: &mut Criterion) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().expect("temp dir");
    let mut settings = Settings {
        data_dir: dir.path().to_path_buf(),
        ..Settings::default()
    };
    settings.model.dir = root.join("models/all-MiniLM-L6-v2");
    settings.prompts_dir = root.join("prompts");
    settings.runbooks.dir = root.join("runbooks");
    settings.runbooks.inventory = root.join("runbooks/inventory.yaml");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let service = runtime.block_on(async {
        let pool = switchboard::app::parts::state_database(&settings)
            .await
            .expect("state database");
        let service = switchboard::app::parts::triage_service(
            &settings,
            pool,
            switchboard::infra::clock::SystemClock::shared(),
        )
        .await
        .expect("run ./scripts/fetch-model.sh first");
        ingest_incidents(
            &service,
            &root.join("sample/incidents.csv"),
            &ColumnMapping::default(),
            IngestOptions::default(),
        )
        .await
        .expect("sample incidents");
        ingest_knowledge(&service, &root.join("sample/kb"), true)
            .await
            .expect("sample articles");
        service.retrain().await.expect("classifier head");
        service
    });
    let ticket = NewTicket {
        id: None,
        title: "Outlook keeps asking for my password".into(),
        description: "Since this morning Outlook prompts for credentials every few minutes \
                      and will not sync my mailbox."
            .into(),
        caller: None,
        service: None,
        opened_at: None,
    };
    c.bench_function("triage/one_ticket", |b| {
        b.iter(|| {
            runtime
                .block_on(service.triage(black_box(&ticket), None))
                .expect("triage")
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = triage
}
criterion_main!(benches);
