//! Changing the encoder: a store refuses an encoder other than the one that
//! wrote it, with a message that says what to do, and `switchboard reembed`
//! moves it to the new one, also when killed at any step.

use std::path::PathBuf;
use std::process::Output;

use switchboard::embed::SentenceEncoder;
use switchboard::store::{Collection, EdgeStore, QdrantServerStore, Query, VectorStore};

use crate::helpers::{assert_succeeded, repo, switchboard_command};
use crate::qdrant_process::QdrantServer;

const MINILM: &str = "all-MiniLM-L6-v2";
const MPNET: &str = "all-mpnet-base-v2";
/// Incidents each test stores (the sample's first rows).
const INCIDENTS: usize = 24;

/// A data directory holding the first [`INCIDENTS`] sample incidents and the
/// sample knowledge base, embedded by MiniLM.
struct Desk {
    _dir: tempfile::TempDir,
    data: PathBuf,
    incidents: PathBuf,
    /// Settings every command of this desk gets (`SWITCHBOARD_*`).
    env: Vec<(String, String)>,
}

impl Desk {
    fn new() -> Self {
        Self::with_env(Vec::new())
    }

    fn with_env(env: Vec<(String, String)>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let sample = std::fs::read_to_string(repo().join("sample/incidents.csv")).unwrap();
        let mut rows = csv::Reader::from_reader(sample.as_bytes());
        let mut out = csv::Writer::from_path(dir.path().join("incidents.csv")).unwrap();
        out.write_record(rows.headers().unwrap()).unwrap();
        for row in rows.records().take(INCIDENTS) {
            out.write_record(&row.unwrap()).unwrap();
        }
        out.flush().unwrap();
        let desk = Self {
            data: dir.path().join("data"),
            incidents: dir.path().join("incidents.csv"),
            _dir: dir,
            env,
        };
        let incidents = desk.incidents.to_str().unwrap().to_owned();
        assert_succeeded(&desk.run(MINILM, &["ingest", "incidents", &incidents], None));
        let kb = repo().join("sample/kb");
        assert_succeeded(&desk.run(MINILM, &["ingest", "kb", kb.to_str().unwrap()], None));
        desk
    }

    /// Runs `switchboard ARGS` with `[model] dir` at `models/MODEL`, aborting at
    /// the crash point `crash` if given.
    fn run(&self, model: &str, args: &[&str], crash: Option<&str>) -> Output {
        let mut command = switchboard_command();
        command
            .args(args)
            .env("SWITCHBOARD_DATA_DIR", &self.data)
            .env("SWITCHBOARD_MODEL__DIR", repo().join("models").join(model))
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        if let Some(point) = crash {
            command.env(switchboard::infra::crash::CRASH_AT_ENV, point);
        }
        command.output().expect("switchboard runs")
    }

    /// Whether the store opens for `model` (`reindex` opens it and checks the encoder).
    fn opens_for(&self, model: &str) -> Result<(), String> {
        let out = self.run(model, &["reindex"], None);
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// Asserts the store holds every incident and article under MPNet vectors
    /// that find each incident from its own text.
    fn assert_embedded_by_mpnet(&self) {
        let store = EdgeStore::open(&self.data, 768).unwrap();
        assert_eq!(store.count(Collection::Incidents).unwrap(), INCIDENTS);
        assert!(store.count(Collection::Knowledge).unwrap() > 0);
        let model = SentenceEncoder::load(&repo().join("models").join(MPNET)).unwrap();
        let mut rows = csv::Reader::from_path(&self.incidents).unwrap();
        let headers = rows.headers().unwrap().clone();
        let column = |name: &str| headers.iter().position(|h| h == name).unwrap();
        let (id, title, description) = (column("id"), column("title"), column("description"));
        for row in rows.records().take(5) {
            let row = row.unwrap();
            let text = format!("{}\n{}", &row[title], &row[description]);
            let vector = model.embed(&[text], 1).unwrap().remove(0);
            let hits = store
                .search(Collection::Incidents, Query::dense(&vector), 1)
                .unwrap();
            assert_eq!(hits[0].id, row[id], "nearest to its own text");
            assert!(hits[0].score > 0.9, "score {}", hits[0].score);
        }
    }
}

fn killed(out: &Output) -> bool {
    use std::os::unix::process::ExitStatusExt;
    out.status.signal().is_some()
}

#[test]
fn a_store_refuses_an_encoder_other_than_the_one_that_wrote_it() {
    let desk = Desk::new();
    let refused = desk.opens_for(MPNET).unwrap_err();
    assert!(
        refused.contains("written by the encoder all-MiniLM-L6-v2 (384-d")
            && refused.contains("all-mpnet-base-v2 (768-d")
            && refused.contains("switchboard reembed"),
        "{refused}"
    );
    desk.opens_for(MINILM).unwrap();
}

#[test]
fn reembed_moves_the_store_to_the_new_encoder() {
    let desk = Desk::new();
    let out = desk.run(MPNET, &["reembed"], None);
    assert_succeeded(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("incidents {INCIDENTS}")),
        "{stdout}"
    );
    desk.opens_for(MPNET).unwrap();
    assert!(
        desk.opens_for(MINILM)
            .unwrap_err()
            .contains("written by the encoder all-mpnet-base-v2")
    );
    desk.assert_embedded_by_mpnet();
    // A second run has nothing to do.
    let again = desk.run(MPNET, &["reembed"], None);
    assert_succeeded(&again);
    assert!(String::from_utf8_lossy(&again.stdout).contains("already"));
    assert!(!desk.data.join("reembed").exists());
}

/// Killed while building, the old store is untouched and the next run starts over.
#[test]
fn a_reembed_killed_while_building_leaves_the_old_store() {
    let desk = Desk::new();
    let out = desk.run(MPNET, &["reembed"], Some("reembed.batch@2"));
    assert!(killed(&out), "{}", String::from_utf8_lossy(&out.stderr));
    desk.opens_for(MINILM).unwrap();
    assert_succeeded(&desk.run(MPNET, &["reembed"], None));
    desk.assert_embedded_by_mpnet();
}

/// Killed once the new store is sealed, or between any two moved items, the
/// next open of the store finishes the move: no mix of the two is ever served.
#[test]
fn a_reembed_killed_while_moving_in_is_finished_by_the_next_open() {
    for point in [
        "reembed.sealed",
        "reembed.moved.0",
        "reembed.moved.2",
        "reembed.moved.3",
        "reembed.moved.4",
    ] {
        let desk = Desk::new();
        let out = desk.run(MPNET, &["reembed"], Some(point));
        assert!(
            killed(&out),
            "{point}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        desk.opens_for(MPNET)
            .unwrap_or_else(|e| panic!("{point}: {e}"));
        desk.assert_embedded_by_mpnet();
        assert!(!desk.data.join("reembed").exists(), "{point}");
    }
}

/// On a Qdrant server the re-embedded points go to collections under a new
/// prefix while the live ones stay as they are, each recording its encoder.
#[test]
fn reembed_writes_a_qdrant_servers_collections_anew_under_a_new_prefix() {
    let Some(server) = QdrantServer::start() else {
        return;
    };
    let live = server.settings("live_");
    let desk = Desk::with_env(vec![
        ("SWITCHBOARD_STORE__BACKEND".into(), "qdrant".into()),
        ("SWITCHBOARD_STORE__QDRANT__URL".into(), live.url.clone()),
        (
            "SWITCHBOARD_STORE__QDRANT__COLLECTION_PREFIX".into(),
            "live_".into(),
        ),
    ]);
    let refused = desk.run(MPNET, &["reembed"], None);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--into-prefix NEW"));
    let out = desk.run(MPNET, &["reembed", "--into-prefix", "new_"], None);
    assert_succeeded(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("incidents {INCIDENTS}")),
        "{stdout}"
    );

    let recorded = |store: &QdrantServerStore| store.encoder().unwrap().unwrap_or_default();
    let new = QdrantServerStore::connect(&server.settings("new_"), None, 768, Default::default())
        .unwrap();
    assert_eq!(new.count(Collection::Incidents).unwrap(), INCIDENTS);
    assert!(new.count(Collection::Knowledge).unwrap() > 0);
    assert!(recorded(&new).contains(MPNET));
    let old = QdrantServerStore::connect(&live, None, 384, Default::default()).unwrap();
    assert_eq!(old.count(Collection::Incidents).unwrap(), INCIDENTS);
    assert!(recorded(&old).contains(MINILM));
}
