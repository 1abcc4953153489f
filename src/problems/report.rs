//! The problem report kept and written: the last one in the state database
//! (what `GET /v1/problems` serves, the same on every replica; one left under
//! the data directory by an earlier version is read once and moved in), and
//! `--report DIR` as JSON plus an HTML
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

/// Where an earlier version kept the last report: `DATA_DIR/problems/latest.json`.
fn latest_path(data_dir: &Path) -> PathBuf {
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

/// The last problem report, in the state database.
#[derive(Clone)]
pub struct LastReport {
    pool: sqlx::AnyPool,
    /// Where an earlier version kept it (moved into the database on first read).
    data_dir: PathBuf,
}

impl LastReport {
    /// The report kept in `pool`; `data_dir` is where an earlier version kept it.
    pub fn new(pool: sqlx::AnyPool, data_dir: &Path) -> Self {
        Self {
            pool,
            data_dir: data_dir.to_path_buf(),
        }
    }

    /// Keeps `report` as the last one (replacing the one before).
    pub async fn save(&self, report: &ProblemReport) -> Result<(), ProblemError> {
        sqlx::query(
            "INSERT INTO problem_reports (name, made_at, report) VALUES ('latest', $1, $2) \
             ON CONFLICT (name) DO UPDATE SET made_at = excluded.made_at, report = excluded.report",
        )
        .bind(crate::infra::clock::now_ms())
        .bind(serde_json::to_string(report)?)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The last report, if one was made.
    pub async fn load(&self) -> Result<Option<ProblemReport>, ProblemError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT report FROM problem_reports WHERE name = 'latest'")
                .fetch_optional(&self.pool)
                .await?;
        if let Some((text,)) = row {
            return Ok(Some(serde_json::from_str(&text)?));
        }
        // A data directory from before: its file, moved in.
        let path = latest_path(&self.data_dir);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let report: ProblemReport = serde_json::from_slice(&bytes)?;
                self.save(&report).await?;
                std::fs::remove_file(&path)?;
                Ok(Some(report))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
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

    #[tokio::test]
    async fn the_last_report_round_trips_and_one_from_before_is_moved_in() {
        let dir = tempfile::tempdir().unwrap();
        let pool = crate::infra::db::connect(&crate::infra::db::default_url(dir.path()))
            .await
            .unwrap();
        let last = LastReport::new(pool, dir.path());
        assert!(last.load().await.unwrap().is_none());
        // An earlier version's file is read once and moved into the database.
        let before = report_with_title("Printer jam");
        write_atomically(
            &latest_path(dir.path()),
            &serde_json::to_vec(&before).unwrap(),
        )
        .unwrap();
        assert_eq!(last.load().await.unwrap(), Some(before));
        assert!(!latest_path(dir.path()).exists());
        let next = report_with_title("VPN drops");
        last.save(&next).await.unwrap();
        assert_eq!(last.load().await.unwrap(), Some(next));
    }
}
