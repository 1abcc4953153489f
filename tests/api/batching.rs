//! The model thread's batching, driven directly: answers go to the right callers, the
//! follow-up work runs with each caller's own vectors, and a failing follow-up harms
//! nobody else.

use std::time::{Duration, Instant};

use switchboard::embed::{EmbedError, Embedder, SentenceEncoder, WorkerOptions};

use crate::helpers::repo;

fn model() -> SentenceEncoder {
    SentenceEncoder::load(&repo().join("models/all-MiniLM-L6-v2")).unwrap()
}

fn spawn(max_wait: Duration, quiet: Duration) -> Embedder {
    Embedder::spawn(
        model(),
        WorkerOptions {
            max_batch: 32,
            max_wait,
            quiet,
            queue_capacity: 64,
            max_queue_wait: Duration::from_secs(60),
        },
    )
    .unwrap()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

const TICKETS: [&str; 6] = [
    "VPN disconnects every few minutes when working from home",
    "Outlook keeps asking for my password",
    "printer on floor 3 is offline, jobs stuck in the queue",
    "no space left on device on the batch server",
    "ERP login fails with error 401 after the password change",
    "new starter needs a laptop and an email account",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_share_a_batch_and_each_gets_its_own_follow_up() {
    // A long wait and no quiet rule: all six requests join one batch.
    let embedder = spawn(Duration::from_millis(500), Duration::ZERO);
    let alone = model().embed(&TICKETS.map(String::from), 32).unwrap();
    let mut calls = tokio::task::JoinSet::new();
    for (i, text) in TICKETS.iter().enumerate() {
        let embedder = embedder.clone();
        let text = text.to_string();
        calls.spawn(async move {
            let answer = embedder
                .embed_then(vec![text], move |vectors| {
                    // Runs on the model's threads, before the caller hears anything.
                    (rayon::current_thread_index().is_some(), vectors)
                })
                .await;
            (i, answer)
        });
    }
    for (i, answer) in calls.join_all().await {
        let (on_pool, vectors) = answer.unwrap();
        assert!(
            on_pool,
            "the follow-up of caller {i} ran off the model's threads"
        );
        assert_eq!(vectors.len(), 1);
        assert!(
            cosine(&vectors[0], &alone[i]) > 0.9999,
            "caller {i} got another text's vector"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_follow_up_fails_only_its_own_caller() {
    let embedder = spawn(Duration::from_millis(500), Duration::ZERO);
    let failing = {
        let embedder = embedder.clone();
        async move {
            embedder
                .embed_then(vec![TICKETS[0].to_string()], |_| -> usize {
                    panic!("follow-up failed")
                })
                .await
        }
    };
    let fine = {
        let embedder = embedder.clone();
        async move {
            embedder
                .embed_then(vec![TICKETS[1].to_string()], |vectors| vectors.len())
                .await
        }
    };
    let (failing, fine) = tokio::join!(failing, fine);
    assert!(
        matches!(failing, Err(EmbedError::Unavailable)),
        "{failing:?}"
    );
    assert_eq!(fine.unwrap(), 1);
    // The model thread is still there.
    assert_eq!(
        embedder
            .embed_one(TICKETS[2].to_string())
            .await
            .unwrap()
            .len(),
        384
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_queue_starts_the_batch_before_the_longest_wait() {
    // Without the quiet rule this request would wait the full ten seconds for company.
    let embedder = spawn(Duration::from_secs(10), Duration::from_millis(2));
    let started = Instant::now();
    embedder.embed_one(TICKETS[0].to_string()).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "waited {:?}",
        started.elapsed()
    );
}
