//! What storm and duplicate detection adds to each triage: one
//! `Detector::observe` plus `duplicate_of` against a full window of recent
//! tickets (model-width unit vectors, 100 topics, one ticket every
//! `interval` ms so the window holds the size asked for). The store's size
//! plays no part: detection only looks at the window.
//! Run with `cargo bench --bench storms`.

#![allow(missing_docs)] // criterion_group! generates an undocumented function.

use std::collections::BTreeSet;
use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use switchboard::storms::{Detector, DetectorSettings, Observed};

const DIMENSION: usize = 384;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    }
}

fn unit(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

fn observe(c: &mut Criterion) {
    let mut rng = Rng(42);
    let topics: Vec<Vec<f32>> = (0..100)
        .map(|_| unit((0..DIMENSION).map(|_| rng.next()).collect()))
        .collect();
    let mut group = c.benchmark_group("storm_observe");
    // Tickets in the 24-hour duplicate window: a small, a large and a very large desk.
    for window in [1_000usize, 5_000, 20_000] {
        let interval = 24 * 3_600_000 / window as i64;
        let mut detector = Detector::new(DetectorSettings {
            window_ms: 15 * 60_000,
            min_tickets: 4,
            similarity: 0.6,
            duplicate_window_ms: 24 * 3_600_000,
            duplicate_similarity: 0.95,
            max_tickets: window,
            burst_factor: 3.0,
        });
        let mut n = 0i64;
        let mut ticket = |rng: &mut Rng| {
            n += 1;
            let topic = &topics[(n as usize * 7919) % topics.len()];
            let vector = unit(topic.iter().map(|x| x + rng.next() * 0.08).collect());
            Observed {
                id: format!("T{n}"),
                title: String::new(),
                at: n * interval,
                vector,
                caller: Some(format!("caller-{}", n % 500)),
                service: None,
                terms: BTreeSet::new(),
                cis: Vec::new(),
                closed: false,
                background: 0.0,
            }
        };
        for _ in 0..window {
            let t = ticket(&mut rng);
            detector.observe(t);
        }
        group.bench_with_input(BenchmarkId::from_parameter(window), &window, |b, _| {
            b.iter(|| {
                let t = ticket(&mut rng);
                black_box(detector.duplicate_of(&t));
                black_box(detector.observe(t));
            })
        });
    }
    group.finish();
}

criterion_group!(benches, observe);
criterion_main!(benches);
