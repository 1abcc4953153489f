//! Reading vendors' JSON: values as text whatever their JSON type, the items
//! of a list answer, plain text from Atlassian's document format, and the
//! job marker every note carries.

use serde_json::Value;

/// What starts the marker line of every note Switchboard writes; the job id
/// follows. Found on a ticket, the job has written everything already; found
/// in an event, the event is Switchboard's own write coming back.
pub(super) const MARKER: &str = "switchboard-job:";

/// A string, number or boolean as text; `None` for anything else.
pub(super) fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The text at `key` of an object, if any.
pub(super) fn text_at(json: &Value, key: &str) -> Option<String> {
    json.get(key).and_then(text)
}

/// The elements of the array at `key` (none when it is missing).
pub(super) fn items<'a>(json: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    json.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// Plain text of a string or of an Atlassian Document Format node (Jira
/// Cloud's v3 API): its text nodes, a line per block.
pub(super) fn plain_text(value: &Value) -> String {
    fn walk(node: &Value, out: &mut String) {
        if let Some(text) = node.get("text").and_then(Value::as_str) {
            out.push_str(text);
        }
        if node.get("type").and_then(Value::as_str) == Some("hardBreak") {
            out.push('\n');
        }
        for child in items(node, "content") {
            walk(child, out);
        }
        let block = matches!(
            node.get("type").and_then(Value::as_str),
            Some("paragraph" | "heading" | "listItem" | "codeBlock" | "blockquote")
        );
        if block && !out.ends_with('\n') {
            out.push('\n');
        }
    }
    match value {
        Value::String(s) => s.clone(),
        Value::Object(_) => {
            let mut out = String::new();
            walk(value, &mut out);
            out.trim_end().to_owned()
        }
        _ => String::new(),
    }
}

/// Unix seconds of an RFC 3339 time (what most APIs write).
pub(super) fn seconds_of(time: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(time.trim())
        .ok()
        .map(|t| t.timestamp())
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) of Unix seconds, for query languages.
pub(super) fn utc_datetime(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0)
        .unwrap_or_default()
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// The marker line of job `key`.
pub(super) fn marker_line(key: &str) -> String {
    format!("{MARKER} {key}")
}

/// `note` ending with job `key`'s marker line (added when the template left it out).
pub(super) fn with_marker(note: &str, key: &str) -> String {
    let marker = marker_line(key);
    if note.lines().any(|l| l.trim() == marker) {
        note.to_owned()
    } else {
        format!("{note}\n{marker}")
    }
}

/// True when `text` carries job `key`'s marker line, or any job's when `key` is `None`.
pub(super) fn has_marker(text: &str, key: Option<&str>) -> bool {
    match key {
        Some(key) => {
            let marker = marker_line(key);
            text.lines().any(|l| l.trim() == marker)
        }
        None => text.contains(MARKER),
    }
}

/// An inbound event's body as JSON; a body that is not JSON is a permanent
/// refusal (422 `invalid_event`), the same for every connector.
pub(super) fn event(body: &[u8]) -> Result<serde_json::Value, super::ConnectorError> {
    serde_json::from_slice(body)
        .map_err(|e| super::ConnectorError::Permanent(format!("the event is not JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atlassian_documents_read_as_lines_of_text() {
        let adf = serde_json::json!({"type": "doc", "version": 1, "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": "VPN drops"}, {"type": "hardBreak"}, {"type": "text", "text": "every hour"}]},
            {"type": "paragraph", "content": [{"type": "text", "text": "since Monday"}]}
        ]});
        assert_eq!(plain_text(&adf), "VPN drops\nevery hour\nsince Monday");
        assert_eq!(plain_text(&Value::String("plain".into())), "plain");
    }

    #[test]
    fn a_note_carries_its_jobs_marker_once() {
        let note = with_marker("Suggested: Network", "job-1");
        assert!(has_marker(&note, Some("job-1")));
        assert!(!has_marker(&note, Some("job-2")));
        assert!(has_marker(&note, None));
        assert_eq!(with_marker(&note, "job-1"), note);
    }
}
