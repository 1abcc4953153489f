//! Unit tests of the triage service without the real model: the
//! deterministic [`HashingBackend`] behind the model thread and an embedded
//! store in a temporary directory, so the service's own rules (voting, the
//! ticket's own id left out, remembering, feedback, configuration items) are
//! tested in milliseconds. The real model is tested in `tests/api`.

use std::sync::Arc;
use std::time::Duration;

use super::TriageSettings;
use crate::auth::{Caller, Role};
use crate::domain::{Incident, NewTicket};
use crate::embed::{Embedder, HashingBackend, WorkerOptions};
use crate::prompts::Prompts;
use crate::store::EdgeStore;
use crate::triage::TriageService;

fn service(dir: &std::path::Path) -> TriageService {
    let embedder = Embedder::spawn(
        HashingBackend::new(384),
        WorkerOptions {
            max_batch: 8,
            max_wait: Duration::from_millis(1),
            quiet: Duration::ZERO,
            queue_capacity: 16,
            max_queue_wait: Duration::from_secs(5),
        },
    )
    .unwrap();
    let store = Arc::new(EdgeStore::open(dir, 384).unwrap());
    let settings = TriageSettings {
        neighbours: 3,
        ..TriageSettings::default()
    };
    let mut settings = settings;
    settings.classifier.enabled = false;
    TriageService::new(embedder, store, Prompts::default(), settings)
}

fn incident(id: &str, title: &str, group: &str) -> Incident {
    Incident {
        id: id.into(),
        title: title.into(),
        description: title.into(),
        labels: [("assignment_group".to_owned(), group.to_owned())].into(),
        ..Incident::default()
    }
}

async fn with_incidents(dir: &std::path::Path) -> TriageService {
    let service = service(dir);
    service
        .store_incidents(vec![
            incident("N1", "VPN drops every few minutes", "Network"),
            incident("N2", "VPN disconnects at home", "Network"),
            incident("N3", "VPN tunnel drops", "Network"),
            incident("P1", "Printer jammed on floor 2", "Desktop"),
            incident("P2", "Printer paper jam", "Desktop"),
        ])
        .await
        .unwrap();
    service
}

fn ticket(id: Option<&str>, title: &str) -> NewTicket {
    NewTicket {
        id: id.map(str::to_owned),
        title: title.into(),
        description: "since this morning".into(),
        ..NewTicket::default()
    }
}

#[tokio::test]
async fn the_neighbours_vote_for_the_group_of_similar_incidents() {
    let dir = tempfile::tempdir().unwrap();
    let service = with_incidents(dir.path()).await;
    let triaged = service
        .triage(&ticket(None, "VPN drops at home"), None)
        .await
        .unwrap();
    assert_eq!(triaged.suggestions["assignment_group"].label, "Network");
    assert!(triaged.similar_incidents[0].id.starts_with('N'));
    assert!(!triaged.remembered, "an anonymous caller stores nothing");
}

#[tokio::test]
async fn a_stored_ticket_is_not_its_own_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let service = with_incidents(dir.path()).await;
    let triaged = service
        .triage(&ticket(Some("N1"), "VPN drops every few minutes"), None)
        .await
        .unwrap();
    assert!(triaged.similar_incidents.iter().all(|s| s.id != "N1"));
}

#[tokio::test]
async fn an_agents_ticket_with_an_id_is_remembered() {
    let dir = tempfile::tempdir().unwrap();
    let service = with_incidents(dir.path()).await;
    let agent = Caller {
        name: "desk".into(),
        role: Role::Agent,
    };
    let triaged = service
        .triage(&ticket(Some("T-1"), "Printer jammed again"), Some(&agent))
        .await
        .unwrap();
    assert!(triaged.remembered);
    let similar: Vec<(&str, f32)> = triaged
        .similar_incidents
        .iter()
        .map(|s| (s.id.as_str(), s.similarity))
        .collect();
    assert_eq!(
        triaged.suggestions["assignment_group"].label, "Desktop",
        "{similar:?}"
    );
}
