//! The model thread and its bounded request queue.
//!
//! Requests arriving within a few milliseconds of each other are embedded in one
//! forward pass; a full queue is reported as [`EmbedError::Overloaded`] at once
//! instead of letting latency and memory grow. Work a caller needs right after its
//! vectors (triage's neighbour search) can run on the model's threads before the
//! caller is answered, all of a batch's in parallel ([`Embedder::embed_then`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant};

use rayon::prelude::*;
use tokio::sync::oneshot;

use super::{Backend, EmbedError};

tokio::task_local! {
    /// Set for work that must not be crowded out by callers outside:
    /// connector jobs run in it ([`in_reserved_lane`]).
    static RESERVED: ();
}

/// Runs `work` in the reserved lane: its embeddings may use the share of
/// the queue kept back from API callers, so a flood of (anonymous) triage
/// cannot starve the tickets a ticketing system delivered.
pub async fn in_reserved_lane<F: std::future::Future>(work: F) -> F::Output {
    RESERVED.scope((), work).await
}

/// The queue's share kept for the reserved lane: a quarter of its capacity,
/// at least 4 requests.
fn reserve_for(queue_capacity: usize) -> usize {
    (queue_capacity / 4).max(4)
}

/// How the model thread batches work.
#[derive(Debug, Clone, Copy)]
pub struct WorkerOptions {
    /// Most texts in one forward pass.
    pub max_batch: usize,
    /// How long to wait for more requests before running a partial batch.
    pub max_wait: Duration,
    /// Run the partial batch earlier once no request has joined for this long (zero:
    /// only `max_wait` counts).
    pub quiet: Duration,
    /// Requests allowed to wait; more are refused.
    pub queue_capacity: usize,
    /// A request that waited longer than this is answered "overloaded" instead of run,
    /// so latency stays bounded under overload and the backlog clears at once after it.
    pub max_queue_wait: Duration,
}

struct Job {
    texts: Vec<String>,
    queued_at: Instant,
    reply: Box<dyn Reply>,
}

/// Where a job's vectors go: the caller's channel, through the work the caller asked
/// to run on the model's threads first (see [`Embedder::embed_then`]).
trait Reply: Send {
    /// Whether the caller has gone away (its request was dropped).
    fn is_abandoned(&self) -> bool;
    /// Runs the follow-up work on `result`'s vectors and sends the outcome.
    fn send(self: Box<Self>, result: Result<Vec<Vec<f32>>, EmbedError>);
}

/// A caller's channel and the work to run on its vectors before answering.
struct Then<T, F> {
    sender: oneshot::Sender<Result<T, EmbedError>>,
    then: F,
}

impl<T, F> Reply for Then<T, F>
where
    T: Send,
    F: FnOnce(Vec<Vec<f32>>) -> T + Send,
{
    fn is_abandoned(&self) -> bool {
        self.sender.is_closed()
    }

    fn send(self: Box<Self>, result: Result<Vec<Vec<f32>>, EmbedError>) {
        let Then { sender, then } = *self;
        let _ = sender.send(result.map(then));
    }
}

impl Job {
    /// Whether the job should still be run: its caller is waiting and it is not stale.
    /// Abandoned jobs (the client went away) are dropped; stale ones are refused.
    fn worth_running(self, max_wait: Duration) -> Option<Self> {
        if self.reply.is_abandoned() {
            return None;
        }
        if self.queued_at.elapsed() > max_wait {
            crate::metrics::global().overloaded.inc();
            self.reply.send(Err(EmbedError::Overloaded));
            return None;
        }
        Some(self)
    }
}

/// Cloneable handle to the model thread.
#[derive(Clone)]
pub struct Embedder {
    queue: SyncSender<Job>,
    identity: Arc<super::EncoderIdentity>,
    /// Requests waiting now (sent, not yet taken by the model thread).
    waiting: Arc<AtomicUsize>,
    /// How many of them may come from outside the reserved lane.
    open_capacity: usize,
}

impl Embedder {
    /// Moves `model` onto a dedicated thread and returns a handle to it.
    pub fn spawn(model: impl Backend, options: WorkerOptions) -> Result<Self, EmbedError> {
        let open_capacity = options.queue_capacity.max(1);
        let (queue, jobs) = sync_channel(open_capacity + reserve_for(open_capacity));
        let identity = Arc::new(model.identity());
        let waiting = Arc::new(AtomicUsize::new(0));
        let taken = Arc::clone(&waiting);
        std::thread::Builder::new()
            .name("embedder".into())
            .spawn(move || run_worker(&model, &jobs, options, &taken))
            .map_err(|e| EmbedError::Inference(format!("cannot start model thread: {e}")))?;
        Ok(Self {
            queue,
            identity,
            waiting,
            open_capacity,
        })
    }

    /// Length of the vectors this embedder returns.
    pub fn dimension(&self) -> usize {
        self.identity.dimension
    }

    /// Which encoder runs on the model thread.
    pub fn identity(&self) -> &super::EncoderIdentity {
        &self.identity
    }

    /// Embeds `texts`, returning one unit-length vector per text in order.
    pub async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        self.embed_then(texts, |vectors| vectors).await
    }

    /// Embeds `texts` and runs `then` on their vectors on the model's threads, right
    /// after the forward pass and in parallel with the rest of the batch's follow-ups.
    ///
    /// Triage looks up the neighbours of each new ticket this way: a batch's searches
    /// then share the cores with nothing else, instead of waking a thread each and
    /// pre-empting the next forward pass. `then` holds up the next batch, so it must be
    /// short; it may wait for a lock only if whoever holds that lock never needs the
    /// model's threads (a store write, for triage).
    pub async fn embed_then<T, F>(&self, texts: Vec<String>, then: F) -> Result<T, EmbedError>
    where
        T: Send + 'static,
        F: FnOnce(Vec<Vec<f32>>) -> T + Send + 'static,
    {
        let (sender, answer) = oneshot::channel();
        let metrics = crate::metrics::global();
        // Outside the reserved lane, the queue's open share only.
        let reserved = RESERVED.try_with(|()| ()).is_ok();
        if !reserved && self.waiting.load(Ordering::Acquire) >= self.open_capacity {
            metrics.overloaded.inc();
            return Err(EmbedError::Overloaded);
        }
        // Counted before sending so the worker's decrement can never come first.
        metrics.queue_depth.inc();
        self.waiting.fetch_add(1, Ordering::AcqRel);
        self.queue
            .try_send(Job {
                texts,
                queued_at: Instant::now(),
                reply: Box::new(Then { sender, then }),
            })
            .map_err(|err| {
                metrics.queue_depth.dec();
                self.waiting.fetch_sub(1, Ordering::AcqRel);
                match err {
                    TrySendError::Full(_) => {
                        metrics.overloaded.inc();
                        EmbedError::Overloaded
                    }
                    TrySendError::Disconnected(_) => EmbedError::Unavailable,
                }
            })?;
        answer.await.map_err(|_| EmbedError::Unavailable)?
    }

    /// Embeds one text.
    pub async fn embed_one(&self, text: String) -> Result<Vec<f32>, EmbedError> {
        self.embed_one_then(text, |vector| vector).await
    }

    /// [`Embedder::embed_then`] for one text: `then` gets its vector.
    pub async fn embed_one_then<T, F>(&self, text: String, then: F) -> Result<T, EmbedError>
    where
        T: Send + 'static,
        F: FnOnce(Vec<f32>) -> T + Send + 'static,
    {
        self.embed_then(vec![text], move |mut vectors| vectors.pop().map(then))
            .await?
            .ok_or_else(|| EmbedError::Inference("model returned no vector".into()))
    }
}

fn run_worker(
    model: &impl Backend,
    jobs: &Receiver<Job>,
    options: WorkerOptions,
    waiting: &AtomicUsize,
) {
    let metrics = crate::metrics::global();
    while let Ok(first) = jobs.recv() {
        metrics.queue_depth.dec();
        waiting.fetch_sub(1, Ordering::AcqRel);
        let Some(first) = first.worth_running(options.max_queue_wait) else {
            continue;
        };
        let mut batch = vec![first];
        let mut texts: usize = batch[0].texts.len();
        let deadline = Instant::now() + options.max_wait;
        while texts < options.max_batch {
            let mut wait = deadline.saturating_duration_since(Instant::now());
            if !options.quiet.is_zero() {
                wait = wait.min(options.quiet);
            }
            match jobs.recv_timeout(wait) {
                Ok(job) => {
                    metrics.queue_depth.dec();
                    waiting.fetch_sub(1, Ordering::AcqRel);
                    if let Some(job) = job.worth_running(options.max_queue_wait) {
                        texts += job.texts.len();
                        batch.push(job);
                    }
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
        run_batch(model, batch, options.max_batch);
    }
}

fn run_batch(model: &impl Backend, batch: Vec<Job>, max_batch: usize) {
    let all: Vec<String> = batch
        .iter()
        .flat_map(|job| job.texts.iter().cloned())
        .collect();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        model.embed(&all, max_batch)
    }))
    .unwrap_or_else(|_| Err(EmbedError::Inference("model panicked on this batch".into())));
    match result {
        Ok(vectors) => {
            let metrics = crate::metrics::global();
            metrics.batch_size.observe(all.len() as f64);
            metrics.embeddings.inc_by(all.len() as u64);
            let mut vectors = vectors.into_iter();
            let answers: Vec<(Job, Vec<Vec<f32>>)> = batch
                .into_iter()
                .map(|job| {
                    let mine = vectors.by_ref().take(job.texts.len()).collect();
                    (job, mine)
                })
                .collect();
            answers.into_par_iter().for_each(|(job, mine)| {
                // A panicking follow-up drops its caller's channel (the caller sees the
                // model as unavailable) and leaves the model thread and the rest alone.
                let answered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    job.reply.send(Ok(mine))
                }));
                if answered.is_err() {
                    tracing::error!("the work run after embedding panicked");
                }
            });
        }
        Err(err) => {
            tracing::error!(error = %err, texts = all.len(), "embedding batch failed");
            for job in batch {
                job.reply.send(Err(EmbedError::Inference(err.to_string())));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model that holds each batch until the test lets it go.
    struct Gate(std::sync::Mutex<std::sync::mpsc::Receiver<()>>);

    impl Backend for Gate {
        fn dimension(&self) -> usize {
            2
        }
        fn identity(&self) -> crate::embed::EncoderIdentity {
            crate::embed::HashingBackend::new(2).identity()
        }
        fn max_tokens(&self) -> usize {
            8
        }
        fn embed(&self, texts: &[String], _: usize) -> Result<Vec<Vec<f32>>, EmbedError> {
            let _ = self.0.lock().unwrap().recv();
            Ok(texts.iter().map(|_| vec![1.0, 0.0]).collect())
        }
    }

    #[tokio::test]
    async fn the_reserved_lane_gets_in_when_the_open_share_is_full() {
        let (release, gate) = std::sync::mpsc::channel();
        let embedder = Embedder::spawn(
            Gate(std::sync::Mutex::new(gate)),
            WorkerOptions {
                max_batch: 1,
                max_wait: Duration::ZERO,
                quiet: Duration::ZERO,
                queue_capacity: 2,
                max_queue_wait: Duration::from_secs(60),
            },
        )
        .unwrap();
        // One request on the model, two waiting: the open share is full.
        let mut held = Vec::new();
        for n in 0..3 {
            let e = embedder.clone();
            held.push(tokio::spawn(
                async move { e.embed_one(format!("t{n}")).await },
            ));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(matches!(
            embedder.embed_one("open".into()).await,
            Err(EmbedError::Overloaded)
        ));
        let e = embedder.clone();
        let reserved =
            tokio::spawn(async move { in_reserved_lane(e.embed_one("job".into())).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        for _ in 0..4 {
            release.send(()).unwrap();
        }
        assert!(reserved.await.unwrap().is_ok(), "the job was queued");
        for h in held {
            assert!(h.await.unwrap().is_ok());
        }
    }
}
