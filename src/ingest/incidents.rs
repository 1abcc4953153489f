//! Incident files: CSV (with a header) or JSONL, mapped onto [`Incident`] by column names.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde_json::Value;

use super::{IncidentSink, IngestError, Progress};
use crate::domain::{Incident, LABEL_FIELDS};

/// Which source columns feed which incident fields.
#[derive(Debug, Clone, Default)]
pub struct ColumnMapping {
    /// Column with the incident id; rows without one get an id hashed from their text.
    pub id: Option<String>,
    /// Column with the title.
    pub title: Option<String>,
    /// Columns joined (by newlines) into the description.
    pub description: Vec<String>,
    /// Column with the resolution notes.
    pub resolution: Option<String>,
    /// Column with the opening time.
    pub opened_at: Option<String>,
    /// Column with the resolution time.
    pub resolved_at: Option<String>,
    /// Label field -> column. Empty means: every known label field present in the header.
    pub labels: BTreeMap<String, String>,
}

const ID_COLUMNS: &[&str] = &["id", "number", "ticket_id", "incident_id"];
const TITLE_COLUMNS: &[&str] = &["title", "short_description", "subject", "summary"];
const DESCRIPTION_COLUMNS: &[&str] = &["description", "body", "text"];
const RESOLUTION_COLUMNS: &[&str] = &["resolution", "close_notes", "resolution_notes"];
const OPENED_COLUMNS: &[&str] = &["opened_at", "opened", "created_at", "created"];
const RESOLVED_COLUMNS: &[&str] = &["resolved_at", "resolved", "closed_at"];

/// A mapping resolved against a header: column positions for every field.
#[derive(Debug, Clone)]
struct ResolvedMapping {
    id: Option<usize>,
    title: Option<usize>,
    description: Vec<usize>,
    resolution: Option<usize>,
    opened_at: Option<usize>,
    resolved_at: Option<usize>,
    labels: Vec<(String, usize)>,
}

/// A header for an error message: names escaped and shortened, at most 30 of
/// them, so a binary file or a huge header line cannot flood the terminal.
fn describe_header(header: &[String]) -> String {
    const MAX_COLUMNS: usize = 30;
    const MAX_CHARS: usize = 40;
    let mut names: Vec<String> = header
        .iter()
        .take(MAX_COLUMNS)
        .map(|name| {
            let escaped: String = name.escape_debug().collect();
            match escaped.char_indices().nth(MAX_CHARS) {
                Some((cut, _)) => format!("{}...", &escaped[..cut]),
                None => escaped,
            }
        })
        .collect();
    if header.len() > MAX_COLUMNS {
        names.push(format!("and {} more", header.len() - MAX_COLUMNS));
    }
    names.join(", ")
}

impl ColumnMapping {
    fn resolve(&self, header: &[String]) -> Result<ResolvedMapping, IngestError> {
        let position = |name: &str| header.iter().position(|h| h == name);
        let explicit = |name: &Option<String>, what: &str| -> Result<Option<usize>, IngestError> {
            match name {
                Some(name) => position(name).map(Some).ok_or_else(|| {
                    IngestError::Mapping(format!(
                        "{what} column {name:?} is not in the header ({})",
                        describe_header(header)
                    ))
                }),
                None => Ok(None),
            }
        };
        let guess = |candidates: &[&str]| candidates.iter().find_map(|c| position(c));
        let pick = |name: &Option<String>, what: &str, candidates: &[&str]| {
            Ok::<_, IngestError>(explicit(name, what)?.or_else(|| guess(candidates)))
        };

        let description = if self.description.is_empty() {
            guess(DESCRIPTION_COLUMNS).into_iter().collect()
        } else {
            self.description
                .iter()
                .map(|c| explicit(&Some(c.clone()), "description").map(|p| p.unwrap_or_default()))
                .collect::<Result<Vec<_>, _>>()?
        };
        let title = pick(&self.title, "title", TITLE_COLUMNS)?;
        if title.is_none() && description.is_empty() {
            return Err(IngestError::Mapping(format!(
                "no title or description column found in the header ({}); name them with \
                 --title-column / --text-column",
                describe_header(header)
            )));
        }
        let labels = if self.labels.is_empty() {
            LABEL_FIELDS
                .iter()
                .filter_map(|f| position(f).map(|p| ((*f).to_owned(), p)))
                .collect()
        } else {
            self.labels
                .iter()
                .map(|(field, column)| {
                    explicit(&Some(column.clone()), "label")
                        .map(|p| (field.clone(), p.unwrap_or_default()))
                })
                .collect::<Result<Vec<_>, _>>()?
        };
        Ok(ResolvedMapping {
            id: pick(&self.id, "id", ID_COLUMNS)?,
            title,
            description,
            resolution: pick(&self.resolution, "resolution", RESOLUTION_COLUMNS)?,
            opened_at: pick(&self.opened_at, "opened_at", OPENED_COLUMNS)?,
            resolved_at: pick(&self.resolved_at, "resolved_at", RESOLVED_COLUMNS)?,
            labels,
        })
    }
}

/// A row that could not be turned into an incident.
#[derive(Debug, Clone, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct RowError {
    /// 1-based line where the row starts.
    pub line: u64,
    /// What is wrong with it.
    pub reason: String,
}

/// A stable id for rows without one: a hash of their text.
fn content_id(title: &str, description: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{title}\n{description}").as_bytes());
    format!("row-{}", &hex::encode(digest)[..16])
}

impl ResolvedMapping {
    fn incident(
        &self,
        line: u64,
        field: impl Fn(usize) -> Option<String>,
    ) -> Result<Incident, RowError> {
        let get = |p: Option<usize>| {
            p.and_then(&field)
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
        };
        let title = get(self.title).unwrap_or_default();
        let description = self
            .description
            .iter()
            .filter_map(|&p| get(Some(p)))
            .collect::<Vec<_>>()
            .join("\n");
        if title.is_empty() && description.is_empty() {
            return Err(RowError {
                line,
                reason: "no title or description text".into(),
            });
        }
        let id = get(self.id).unwrap_or_else(|| content_id(&title, &description));
        let labels = self
            .labels
            .iter()
            .filter_map(|(name, p)| get(Some(*p)).map(|v| (name.clone(), v)))
            .collect();
        let incident = Incident {
            id,
            title,
            description,
            resolution: get(self.resolution),
            opened_at: get(self.opened_at),
            resolved_at: get(self.resolved_at),
            labels,
        };
        incident.validate().map_err(|e| RowError {
            line,
            reason: e.message,
        })?;
        Ok(incident)
    }
}

enum Source {
    Csv {
        reader: csv::Reader<File>,
        record: csv::ByteRecord,
        header: Vec<String>,
    },
    Jsonl {
        lines: std::io::Lines<BufReader<File>>,
        header: Vec<String>,
        line: u64,
        position: u64,
    },
}

/// Reads incidents row by row from a CSV or JSONL file (chosen by extension).
pub struct IncidentReader {
    source: Source,
    mapping: ResolvedMapping,
    size: u64,
}

fn read_error(path: &Path, reason: impl ToString) -> IngestError {
    IngestError::Read {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

fn json_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl IncidentReader {
    /// Opens `path`; `.jsonl` / `.ndjson` are read as JSON lines, anything else as CSV.
    pub fn open(path: &Path, mapping: &ColumnMapping) -> Result<Self, IngestError> {
        let file = File::open(path).map_err(|e| read_error(path, e))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        let is_jsonl = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("jsonl" | "ndjson")
        );
        if is_jsonl {
            // JSON lines name their fields per row; the "header" is every field a mapping may use.
            let mut header: Vec<String> = [
                ID_COLUMNS,
                TITLE_COLUMNS,
                DESCRIPTION_COLUMNS,
                RESOLUTION_COLUMNS,
                OPENED_COLUMNS,
                RESOLVED_COLUMNS,
                LABEL_FIELDS,
            ]
            .concat()
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
            let explicit = [
                &mapping.id,
                &mapping.title,
                &mapping.resolution,
                &mapping.opened_at,
                &mapping.resolved_at,
            ];
            header.extend(explicit.into_iter().flatten().cloned());
            header.extend(mapping.description.iter().cloned());
            header.extend(mapping.labels.values().cloned());
            let mapping = mapping.resolve(&header)?;
            return Ok(Self {
                source: Source::Jsonl {
                    lines: BufReader::new(file).lines(),
                    header,
                    line: 0,
                    position: 0,
                },
                mapping,
                size,
            });
        }
        let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(file);
        let header: Vec<String> = reader
            .byte_headers()
            .map_err(|e| read_error(path, format!("bad CSV header: {e}")))?
            .iter()
            .map(|h| {
                String::from_utf8_lossy(h)
                    .trim()
                    .trim_start_matches('\u{feff}')
                    .to_owned()
            })
            .collect();
        let resolved = mapping.resolve(&header)?;
        Ok(Self {
            source: Source::Csv {
                reader,
                record: csv::ByteRecord::new(),
                header,
            },
            mapping: resolved,
            size,
        })
    }

    /// Size of the file in bytes, for progress.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Bytes read so far, for progress.
    pub fn position(&self) -> u64 {
        match &self.source {
            Source::Csv { reader, .. } => reader.position().byte(),
            Source::Jsonl { position, .. } => *position,
        }
    }

    /// The next row: `None` at the end, `Some(Err)` for a bad row (reading continues after it).
    pub fn next_row(&mut self) -> Option<Result<Incident, RowError>> {
        match &mut self.source {
            Source::Csv {
                reader,
                record,
                header,
            } => {
                let line = reader.position().line() + 1;
                match reader.read_byte_record(record) {
                    Ok(false) => None,
                    Ok(true) => {
                        let line = record.position().map(|p| p.line()).unwrap_or(line);
                        let mut bad_column = None;
                        let fields: Vec<Option<String>> = record
                            .iter()
                            .enumerate()
                            .map(|(i, bytes)| match std::str::from_utf8(bytes) {
                                Ok(s) => Some(s.to_owned()),
                                Err(_) => {
                                    bad_column.get_or_insert(i);
                                    None
                                }
                            })
                            .collect();
                        if let Some(i) = bad_column {
                            let name = header.get(i).cloned().unwrap_or_default();
                            return Some(Err(RowError {
                                line,
                                reason: format!("column {name:?} is not valid UTF-8"),
                            }));
                        }
                        Some(
                            self.mapping
                                .incident(line, |p| fields.get(p).cloned().flatten()),
                        )
                    }
                    Err(err) => {
                        let line = err.position().map(|p| p.line()).unwrap_or(line);
                        let reason = match err.kind() {
                            csv::ErrorKind::UnequalLengths {
                                expected_len, len, ..
                            } => format!(
                                "expected {expected_len} fields, found {len} (broken quoting?)"
                            ),
                            csv::ErrorKind::Io(e) => {
                                return Some(Err(RowError {
                                    line,
                                    reason: format!("read error: {e}"),
                                }));
                            }
                            _ => err.to_string(),
                        };
                        Some(Err(RowError { line, reason }))
                    }
                }
            }
            Source::Jsonl {
                lines,
                header,
                line,
                position,
            } => loop {
                let text = match lines.next()? {
                    Ok(text) => text,
                    Err(e) => {
                        *line += 1;
                        return Some(Err(RowError {
                            line: *line,
                            reason: format!("not valid UTF-8 text: {e}"),
                        }));
                    }
                };
                *line += 1;
                *position += text.len() as u64 + 1;
                if text.trim().is_empty() {
                    continue;
                }
                let object = match serde_json::from_str::<Value>(&text) {
                    Ok(Value::Object(object)) => object,
                    Ok(_) => {
                        return Some(Err(RowError {
                            line: *line,
                            reason: "not a JSON object".into(),
                        }));
                    }
                    Err(e) => {
                        return Some(Err(RowError {
                            line: *line,
                            reason: format!("invalid JSON: {e}"),
                        }));
                    }
                };
                return Some(self.mapping.incident(*line, |p| {
                    header
                        .get(p)
                        .and_then(|name| object.get(name))
                        .and_then(json_text)
                }));
            },
        }
    }
}

/// How an ingest treats bad rows and batches work.
#[derive(Debug, Clone, Copy)]
pub struct IngestOptions {
    /// Stop at the first bad row instead of skipping it.
    pub strict: bool,
    /// Rows embedded and stored together.
    pub batch_size: usize,
}

impl Default for IngestOptions {
    fn default() -> Self {
        Self {
            strict: false,
            batch_size: 64,
        }
    }
}

/// What an ingest did.
#[derive(Debug, Default)]
pub struct IngestReport {
    /// Rows stored (inserted or replaced).
    pub stored: u64,
    /// Rows skipped, with why.
    pub skipped: Vec<RowError>,
}

/// Reads `path` and stores every good row through `service`.
pub async fn ingest_incidents(
    service: &dyn IncidentSink,
    path: &Path,
    mapping: &ColumnMapping,
    options: IngestOptions,
) -> Result<IngestReport, IngestError> {
    let mut reader = IncidentReader::open(path, mapping)?;
    let mut progress = Progress::new("ingest incidents", "rows", reader.size());
    let mut report = IngestReport::default();
    let mut batch = Vec::with_capacity(options.batch_size);
    loop {
        let row = reader.next_row();
        let done = row.is_none();
        match row {
            Some(Ok(incident)) => batch.push(incident),
            Some(Err(bad)) if options.strict => {
                flush_batch(service, &mut batch, &mut report).await?;
                service.flush().await?;
                return Err(IngestError::BadRow(bad));
            }
            Some(Err(bad)) => {
                tracing::warn!(line = bad.line, reason = %bad.reason, "skipping bad row");
                report.skipped.push(bad);
            }
            None => {}
        }
        if batch.len() >= options.batch_size || (done && !batch.is_empty()) {
            flush_batch(service, &mut batch, &mut report).await?;
            progress.update(reader.position(), report.stored);
        }
        if done {
            break;
        }
    }
    service.flush().await?;
    progress.finish(report.stored);
    Ok(report)
}

async fn flush_batch(
    service: &dyn IncidentSink,
    batch: &mut Vec<Incident>,
    report: &mut IngestReport,
) -> Result<(), IngestError> {
    if batch.is_empty() {
        return Ok(());
    }
    let rows = std::mem::take(batch);
    let count = rows.len() as u64;
    service.store(dedup_by_id(rows)).await?;
    report.stored += count;
    Ok(())
}

/// Keeps the last row of each id within a batch, so the stored version is the file's last.
fn dedup_by_id(rows: Vec<Incident>) -> Vec<Incident> {
    let mut seen = std::collections::HashSet::new();
    let mut out: Vec<Incident> = rows
        .into_iter()
        .rev()
        .filter(|i| seen.insert(i.id.clone()))
        .collect();
    out.reverse();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_in_an_error_is_escaped_and_bounded() {
        let mut header: Vec<String> = (0..40).map(|i| format!("col{i}")).collect();
        header[0] = "bell\u{7}\x1b[2J".into();
        header[1] = "x".repeat(500);
        let text = describe_header(&header);
        assert!(!text.chars().any(char::is_control), "{text}");
        assert!(text.starts_with("bell\\u{7}\\u{1b}[2J, xxx"), "{text}");
        assert!(
            text.contains(&format!("{}..., col2", "x".repeat(40))),
            "{text}"
        );
        assert!(text.ends_with("col29, and 10 more"), "{text}");
    }
}
