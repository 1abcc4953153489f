//! `switchboard ingest` as a real process: bad rows, strict mode, re-ingest, JSONL.

use std::path::Path;
use std::process::Output;

use switchboard::store::{Collection, EdgeStore, VectorStore};

use crate::helpers::{assert_succeeded, repo, switchboard_command};

fn switchboard(data_dir: &Path, args: &[&str]) -> Output {
    switchboard_command()
        .args(args)
        .env("SWITCHBOARD_DATA_DIR", data_dir)
        .output()
        .expect("switchboard runs")
}

fn incident_count(data_dir: &Path) -> usize {
    EdgeStore::open(data_dir, 384)
        .unwrap()
        .count(Collection::Incidents)
        .unwrap()
}

const GOOD_AND_BAD: &[u8] = b"id,title,description,assignment_group\n\
INC1,VPN down,cannot connect to vpn,Network\n\
INC2,,,Network\n\
INC3,Printer jam,\"paper stuck in tray\",Desktop\n\
INC4,Broken,\"unterminated quote,Desktop\n";

#[test]
fn bad_rows_are_reported_with_line_numbers_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tickets.csv");
    let mut bytes = GOOD_AND_BAD.to_vec();
    // An invalid UTF-8 row after the broken one would be swallowed by the open quote,
    // so check encoding in a second file below.
    std::fs::write(&file, &bytes).unwrap();
    let data = dir.path().join("data");
    let out = switchboard(&data, &["ingest", "incidents", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("line 3: no title or description text"),
        "{stderr}"
    );
    assert!(stderr.contains("line 5"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("stored 2 incidents, skipped 2"));
    assert_eq!(incident_count(&data), 2);

    bytes = b"id,title,description\nINC7,ok,fine text\nINC8,bad \xff\xfe bytes,text\nINC9,also ok,more\n".to_vec();
    std::fs::write(&file, &bytes).unwrap();
    let out = switchboard(&data, &["ingest", "incidents", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 3: column \"title\" is not valid UTF-8"),
        "{stderr}"
    );
    assert_eq!(incident_count(&data), 4);
}

#[test]
fn strict_stops_at_first_bad_row_and_keeps_what_was_stored() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tickets.csv");
    std::fs::write(&file, GOOD_AND_BAD).unwrap();
    let data = dir.path().join("data");
    let out = switchboard(
        &data,
        &["ingest", "incidents", "--strict", file.to_str().unwrap()],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 3"), "{stderr}");
    assert_eq!(incident_count(&data), 1);
}

#[test]
fn reingest_updates_instead_of_duplicating() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let sample = repo().join("sample/incidents.csv");
    let rows = std::fs::read_to_string(&sample).unwrap().lines().count() - 1;
    for _ in 0..2 {
        let out = switchboard(&data, &["ingest", "incidents", sample.to_str().unwrap()]);
        assert_succeeded(&out);
    }
    assert_eq!(incident_count(&data), rows);
}

#[test]
fn jsonl_with_column_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tickets.jsonl");
    std::fs::write(
        &file,
        "{\"key\":\"T-1\",\"summary\":\"Mail quota\",\"body\":\"mailbox full\",\"team\":\"Messaging\"}\n\
         not json\n\
         \n\
         {\"key\":\"T-2\",\"summary\":\"Disk\",\"body\":\"disk full on db\",\"team\":\"Servers\"}\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let out = switchboard(
        &data,
        &[
            "ingest",
            "incidents",
            file.to_str().unwrap(),
            "--id-column",
            "key",
            "--title-column",
            "summary",
            "--text-column",
            "body",
            "--label-column",
            "assignment_group=team",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("line 2: invalid JSON"), "{stderr}");
    let store = EdgeStore::open(&data, 384).unwrap();
    let stored = store
        .get(Collection::Incidents, "T-2")
        .unwrap()
        .unwrap()
        .payload;
    assert_eq!(stored["labels"]["assignment_group"], "Servers");
}

#[test]
fn unknown_mapping_column_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let sample = repo().join("sample/incidents.csv");
    let out = switchboard(
        &data,
        &[
            "ingest",
            "incidents",
            sample.to_str().unwrap(),
            "--title-column",
            "nope",
        ],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("title column \"nope\" is not in the header")
    );
}

#[test]
fn second_process_on_same_data_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _held = EdgeStore::open(dir.path(), 384).unwrap();
    let sample = repo().join("sample/incidents.csv");
    let out = switchboard(
        dir.path(),
        &["ingest", "incidents", sample.to_str().unwrap()],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("in use by another switchboard process"));
}

#[test]
fn kb_reingest_replaces_chunks_instead_of_duplicating() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let kb = repo().join("sample/kb");
    let out = switchboard(&data, &["ingest", "kb", kb.to_str().unwrap()]);
    assert_succeeded(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("stored 12 articles"), "{stdout}");
    let count = |data: &Path| {
        EdgeStore::open(data, 384)
            .unwrap()
            .count(Collection::Knowledge)
            .unwrap()
    };
    let first = count(&data);
    assert!(first > 12, "articles are chunked by heading: {first}");
    let out = switchboard(&data, &["ingest", "kb", kb.to_str().unwrap()]);
    assert!(out.status.success());
    assert_eq!(count(&data), first);
}

// A desk loads its history into the deployment that is running: the rows go
// to the server in batches while it answers triage, and a bad row is
// skipped as it is locally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_into_a_running_server_while_it_answers_triage() {
    use serde_json::json;
    let app = crate::helpers::spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("history.csv");
    let mut csv = String::from("id,title,description,resolution,assignment_group\n");
    for n in 0..300 {
        csv.push_str(&format!(
            "LIVE{n},Mailbox full {n},The mailbox of user {n} is over its quota,Raised the quota,Messaging\n"
        ));
    }
    csv.push_str("LIVE-BAD,,,,Messaging\n");
    std::fs::write(&file, csv).unwrap();
    let traffic = {
        let (client, address) = (app.client.clone(), app.address.clone());
        tokio::spawn(async move {
            let mut statuses = Vec::new();
            for n in 0..20 {
                let answer = client
                    .post(format!("{address}/v1/triage"))
                    .bearer_auth(crate::helpers::AGENT_TOKEN)
                    .json(&json!({ "title": format!("VPN drops {n}"), "description": "GlobalProtect disconnects" }))
                    .send()
                    .await
                    .unwrap();
                statuses.push(answer.status().as_u16());
            }
            statuses
        })
    };

    let out = switchboard_command()
        .env("SWITCHBOARD_TOKEN", crate::helpers::ADMIN_TOKEN)
        .args(["ingest", "incidents", "--server", &app.address])
        .arg(&file)
        .output()
        .unwrap();

    assert_succeeded(&out);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("stored 300 incidents on"), "{said}");
    assert!(said.contains("skipped 1 bad rows"), "{said}");
    assert!(said.contains("classifier head retrained"), "{said}");
    assert!(traffic.await.unwrap().iter().all(|s| *s == 200));
    for id in ["LIVE0", "LIVE299"] {
        let stored = app.get(&format!("/v1/incidents/{id}")).await;
        assert_eq!(stored.status(), 200, "{id}");
    }
}

#[tokio::test]
async fn a_batch_of_incidents_is_refused_whole_when_one_is_invalid() {
    use serde_json::json;
    let app = crate::helpers::spawn_app().await;
    let answer = app
        .post_json(
            "/v1/incidents/batch",
            &json!({ "incidents": [
                { "id": "OK-1", "title": "Mailbox full", "description": "over quota" },
                { "id": "has space", "title": "Mailbox full", "description": "over quota" },
            ] }),
        )
        .await;
    assert_eq!(answer.status(), 422);
    assert_eq!(app.get("/v1/incidents/OK-1").await.status(), 404);
    let empty = app
        .post_json("/v1/incidents/batch", &json!({ "incidents": [] }))
        .await;
    assert_eq!(empty.status(), 422);
}
