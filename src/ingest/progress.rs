//! Progress for long jobs: a bar with rate and ETA on a terminal, plain lines otherwise.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// Reports how far a job over `total` units (bytes or rows) has come.
pub struct Progress {
    bar: Option<ProgressBar>,
    label: String,
    unit: String,
    total: u64,
    started: Instant,
    last_line: Instant,
}

const LINE_EVERY: Duration = Duration::from_secs(5);

impl Progress {
    /// A progress reporter for `label` over `total` units of position; `unit`
    /// names the items counted (rows, articles...).
    pub fn new(label: &str, unit: &str, total: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix} [{bar:30}] {percent:>3}% {msg} ({elapsed}, eta {eta})",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_prefix(label.to_owned());
            bar
        });
        Self {
            bar,
            label: label.to_owned(),
            unit: unit.to_owned(),
            total,
            started: Instant::now(),
            last_line: Instant::now(),
        }
    }

    /// Moves to `position` of `total`, having processed `items` records so far.
    pub fn update(&mut self, position: u64, items: u64) {
        let rate = items as f64 / self.started.elapsed().as_secs_f64().max(1e-3);
        match &self.bar {
            Some(bar) => {
                bar.set_position(position.min(self.total));
                bar.set_message(format!("{items} {}, {rate:.0}/s", self.unit));
            }
            None if self.last_line.elapsed() >= LINE_EVERY => {
                self.last_line = Instant::now();
                let percent = 100.0 * position as f64 / self.total.max(1) as f64;
                eprintln!(
                    "{}: {items} {}, {rate:.0}/s, {percent:.0}%",
                    self.label, self.unit
                );
            }
            None => {}
        }
    }

    /// Ends the bar and prints a summary line.
    pub fn finish(&self, items: u64) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        let secs = self.started.elapsed().as_secs_f64();
        eprintln!(
            "{}: {items} {} in {secs:.1}s ({:.0}/s)",
            self.label,
            self.unit,
            items as f64 / secs.max(1e-3)
        );
    }
}
