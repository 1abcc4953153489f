//! Text templates that turn tickets and knowledge articles into model input.
//!
//! They live in `prompts/` so a model that wants `query:` / `passage:` prefixes
//! is a template change, not a code change.

use std::path::Path;

/// File name of the template for tickets and incidents.
pub const TICKET_TEMPLATE: &str = "ticket.txt";
/// File name of the template for knowledge article chunks.
pub const PASSAGE_TEMPLATE: &str = "kb_passage.txt";

/// The loaded templates.
#[derive(Debug, Clone)]
pub struct Prompts {
    ticket: String,
    passage: String,
}

/// A template file is missing or does not use its placeholders.
#[derive(Debug, thiserror::Error)]
#[error("prompt template {file}: {reason}")]
pub struct PromptError {
    file: String,
    reason: String,
}

impl PromptError {
    /// `file` cannot be used, because of `reason`.
    pub fn new(file: String, reason: String) -> Self {
        Self { file, reason }
    }
}

impl Default for Prompts {
    /// The templates shipped in `prompts/`, for callers without a prompts directory.
    fn default() -> Self {
        Self {
            ticket: "{title}\n{description}".into(),
            passage: "{title}\n{text}".into(),
        }
    }
}

/// Reads template `name` from `dir` (one trailing newline ignored); `Err`
/// names the file.
pub(crate) fn read_template(dir: &Path, name: &str) -> Result<String, PromptError> {
    let path = dir.join(name);
    let raw = std::fs::read_to_string(&path)
        .map_err(|e| PromptError::new(path.display().to_string(), e.to_string()))?;
    Ok(raw.strip_suffix('\n').unwrap_or(&raw).to_owned())
}

fn load_template(dir: &Path, name: &str, placeholders: &[&str]) -> Result<String, PromptError> {
    let template = read_template(dir, name)?;
    if !placeholders.iter().any(|p| template.contains(p)) {
        return Err(PromptError::new(
            dir.join(name).display().to_string(),
            format!("must use at least one of {placeholders:?}"),
        ));
    }
    Ok(template)
}

impl Prompts {
    /// Reads `ticket.txt` and `kb_passage.txt` from `dir`.
    pub fn load(dir: &Path) -> Result<Self, PromptError> {
        Ok(Self {
            ticket: load_template(dir, TICKET_TEMPLATE, &["{title}", "{description}"])?,
            passage: load_template(dir, PASSAGE_TEMPLATE, &["{title}", "{text}"])?,
        })
    }

    /// Model input for a ticket or incident.
    pub fn ticket(&self, title: &str, description: &str) -> String {
        render(
            &self.ticket,
            &[("{title}", title), ("{description}", description)],
        )
    }

    /// Model input for a knowledge article chunk.
    pub fn passage(&self, title: &str, text: &str) -> String {
        render(&self.passage, &[("{title}", title), ("{text}", text)])
    }
}

/// Substitutes placeholders in one pass, so text containing `{title}` is never expanded twice.
pub(crate) fn render(template: &str, values: &[(&str, &str)]) -> String {
    let mut out =
        String::with_capacity(template.len() + values.iter().map(|v| v.1.len()).sum::<usize>());
    let mut rest = template;
    'outer: while !rest.is_empty() {
        for (placeholder, value) in values {
            if let Some(after) = rest.strip_prefix(placeholder) {
                out.push_str(value);
                rest = after;
                continue 'outer;
            }
        }
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            out.push(c);
        }
        rest = chars.as_str();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticket_template_joins_title_and_description() {
        let prompts = Prompts::default();
        assert_eq!(
            prompts.ticket("VPN down", "cannot connect"),
            "VPN down\ncannot connect"
        );
    }

    #[test]
    fn placeholders_inside_values_are_not_expanded() {
        let prompts = Prompts::default();
        assert_eq!(prompts.ticket("{description}", "x"), "{description}\nx");
    }

    #[test]
    fn shipped_templates_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts");
        let prompts = Prompts::load(&dir).unwrap();
        assert_eq!(
            prompts.ticket("a", "b"),
            Prompts::default().ticket("a", "b")
        );
        assert_eq!(
            prompts.passage("a", "b"),
            Prompts::default().passage("a", "b")
        );
    }
}
