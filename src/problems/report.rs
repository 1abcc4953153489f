//! The problem report on disk: the last one as JSON under the data directory
//! (what `GET /v1/problems` serves), and `--report DIR` as JSON plus an HTML
//! page whose chart a problem manager reads at a glance: one bar per problem
//! by size, red where no knowledge passage covers it, with its incidents per
//! month as a line.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{ProblemError, ProblemReport};

/// Problems drawn in the chart.
const CHART_ROWS: usize = 20;
const CHART_WIDTH: f32 = 1000.0;
const LABEL_WIDTH: f32 = 300.0;
const BAR_SPACE: f32 = 420.0;
const SPARK_LEFT: f32 = 780.0;
const SPARK_WIDTH: f32 = 200.0;
const ROW_HEIGHT: f32 = 22.0;

/// Where the last report is kept: `DATA_DIR/problems/latest.json`.
pub fn latest_path(data_dir: &Path) -> PathBuf {
    data_dir.join("problems").join("latest.json")
}

/// Writes `bytes` to `path` whole or not at all (a temporary file, synced,
/// renamed over it).
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ProblemError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut file, bytes)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Keeps `report` as the last one of the store in `data_dir`.
pub fn save_latest(data_dir: &Path, report: &ProblemReport) -> Result<(), ProblemError> {
    write_atomically(&latest_path(data_dir), &serde_json::to_vec_pretty(report)?)
}

/// The last report of the store in `data_dir`, if one was made.
pub fn load_latest(data_dir: &Path) -> Result<Option<ProblemReport>, ProblemError> {
    match std::fs::read(latest_path(data_dir)) {
        Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

#[derive(Serialize)]
struct Row {
    y: f32,
    label: String,
    size: usize,
    width: f32,
    gap: bool,
    rising: bool,
    spark: String,
}

#[derive(Serialize)]
struct Chart {
    width: f32,
    height: f32,
    label_width: f32,
    rows: Vec<Row>,
}

fn chart(report: &ProblemReport) -> (Chart, Vec<String>) {
    let months: Vec<String> = report
        .problems
        .iter()
        .flat_map(|p| p.by_month.iter().map(|m| m.month.clone()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let largest = report.problems.iter().map(|p| p.size).max().unwrap_or(1) as f32;
    let rows = report
        .problems
        .iter()
        .take(CHART_ROWS)
        .enumerate()
        .map(|(n, p)| {
            let y = n as f32 * ROW_HEIGHT;
            let peak = p.by_month.iter().map(|m| m.count).max().unwrap_or(1) as f32;
            let step = SPARK_WIDTH / (months.len().max(2) - 1) as f32;
            let spark = months
                .iter()
                .enumerate()
                .map(|(i, month)| {
                    let count = p
                        .by_month
                        .iter()
                        .find(|m| &m.month == month)
                        .map_or(0, |m| m.count) as f32;
                    format!(
                        "{:.1},{:.1}",
                        SPARK_LEFT + i as f32 * step,
                        y + 17.0 - 15.0 * count / peak
                    )
                })
                .collect::<Vec<_>>()
                .join(" ");
            // The most central ticket's title reads best; its shared words otherwise.
            let mut label = p
                .representatives
                .first()
                .map(|r| r.title.trim().to_owned())
                .unwrap_or_default();
            if label.is_empty() {
                label = p
                    .terms
                    .iter()
                    .take(4)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" · ");
            }
            if label.chars().count() > 40 {
                label = label.chars().take(39).collect::<String>() + "…";
            }
            Row {
                y,
                label,
                size: p.size,
                width: (BAR_SPACE * p.size as f32 / largest).max(2.0),
                gap: p.knowledge_gap,
                rising: p.trend.direction == "rising",
                spark,
            }
        })
        .collect::<Vec<_>>();
    let height = (rows.len().max(1) as f32) * ROW_HEIGHT + 8.0;
    (
        Chart {
            width: CHART_WIDTH,
            height,
            label_width: LABEL_WIDTH,
            rows,
        },
        months,
    )
}

fn date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// The report as a self-contained HTML page (no scripts, no external files).
pub fn html(report: &ProblemReport) -> Result<String, ProblemError> {
    let mut env = minijinja::Environment::new();
    env.add_template("report.html", include_str!("report.html"))
        .map_err(|e| ProblemError::Options(e.to_string()))?;
    let (chart, months) = chart(report);
    env.get_template("report.html")
        .and_then(|t| {
            t.render(minijinja::context! {
                report => report,
                chart => chart,
                since => report.options.since.map(date),
                generated => date(report.generated_at),
                took => if report.took_ms < 1000.0 {
                    format!("{:.0} ms", report.took_ms)
                } else {
                    format!("{:.1} s", report.took_ms / 1000.0)
                },
                first_month => months.first().cloned().unwrap_or_default(),
                last_month => months.last().cloned().unwrap_or_default(),
            })
        })
        .map_err(|e| ProblemError::Options(format!("rendering the report: {e}")))
}

/// Writes `problems.json` and `problems.html` into `dir`.
pub fn write(dir: &Path, report: &ProblemReport) -> Result<(), ProblemError> {
    write_atomically(
        &dir.join("problems.json"),
        &serde_json::to_vec_pretty(report)?,
    )?;
    write_atomically(&dir.join("problems.html"), html(report)?.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problems::{Problem, ProblemOptions, Representative, Trend};

    fn report_with_title(title: &str) -> ProblemReport {
        ProblemReport {
            generated_at: 0,
            options: ProblemOptions::default(),
            incidents: 5,
            clustered: 5,
            clusters: 1,
            problems: vec![Problem {
                id: "problem-1".into(),
                size: 5,
                terms: vec![],
                cohesion: 0.9,
                first_seen: None,
                last_seen: None,
                by_month: vec![],
                trend: Trend {
                    last_30_days: 0,
                    previous_30_days: 0,
                    direction: "unknown".into(),
                },
                representatives: vec![Representative {
                    id: "INC1".into(),
                    title: title.into(),
                    similarity: 0.9,
                }],
                resolutions: vec![],
                resolved: 0,
                groups: vec![],
                categories: vec![],
                knowledge: None,
                knowledge_gap: true,
            }],
            took_ms: 1.0,
        }
    }

    #[test]
    fn ticket_text_is_escaped_in_the_page_and_the_chart() {
        let page = html(&report_with_title("<script>alert(1)</script> & \"x\"")).unwrap();
        assert!(!page.contains("<script>"), "{page}");
        assert!(page.contains("&lt;script&gt;"));
    }

    #[test]
    fn the_last_report_round_trips_through_the_data_directory() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load_latest(dir.path()).unwrap().is_none());
        let report = report_with_title("Printer jam");
        save_latest(dir.path(), &report).unwrap();
        assert_eq!(load_latest(dir.path()).unwrap(), Some(report));
    }
}
