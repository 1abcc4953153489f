//! Knowledge articles: Markdown files with optional front matter, chunked by heading.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{IngestError, Progress};
use crate::triage::{KnowledgeChunk, TriageService};

/// Longest chunk in characters; longer sections are split at paragraph breaks.
const MAX_CHUNK_CHARS: usize = 1500;

/// Optional YAML front matter of an article.
#[derive(Debug, Default, Deserialize)]
struct FrontMatter {
    id: Option<String>,
    title: Option<String>,
    url: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
}

/// An article split into chunks ready to embed.
#[derive(Debug, Clone)]
pub struct Article {
    /// Article id: front matter `id`, else the path relative to the ingest root.
    pub id: String,
    /// Its chunks, in document order.
    pub chunks: Vec<KnowledgeChunk>,
}

fn split_front_matter(text: &str) -> (Option<&str>, &str) {
    let Some(rest) = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))
    else {
        return (None, text);
    };
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == "---" {
            return (Some(&rest[..offset]), &rest[offset + line.len()..]);
        }
        offset += line.len();
    }
    (None, text)
}

fn heading(line: &str) -> Option<&str> {
    let hashes = line.chars().take_while(|&c| c == '#').count();
    if (1..=6).contains(&hashes) && line[hashes..].starts_with(' ') {
        Some(line[hashes..].trim())
    } else {
        None
    }
}

/// Splits `text` into pieces of at most `MAX_CHUNK_CHARS`, at paragraph breaks where possible.
fn split_long(text: &str) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    for paragraph in text.split("\n\n") {
        if !current.is_empty()
            && current.chars().count() + paragraph.chars().count() > MAX_CHUNK_CHARS
        {
            pieces.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push_str("\n\n");
        }
        current.push_str(paragraph);
        while current.chars().count() > MAX_CHUNK_CHARS {
            let cut: String = current.chars().take(MAX_CHUNK_CHARS).collect();
            let rest: String = current.chars().skip(MAX_CHUNK_CHARS).collect();
            pieces.push(cut);
            current = rest;
        }
    }
    if !current.trim().is_empty() {
        pieces.push(current);
    }
    pieces
}

/// Parses one Markdown article; `relative` is its path under the ingest root.
pub fn parse_article(relative: &str, text: &str) -> Result<Article, String> {
    let (front, body) = split_front_matter(text);
    let front: FrontMatter = match front {
        Some(yaml) if !yaml.trim().is_empty() => {
            serde_norway::from_str(yaml).map_err(|e| format!("bad front matter: {e}"))?
        }
        _ => FrontMatter::default(),
    };
    let id = front
        .id
        .clone()
        .unwrap_or_else(|| relative.trim_end_matches(".md").to_owned());
    let mut sections: Vec<(String, String)> = Vec::new();
    let mut in_code = false;
    let mut first_h1 = None;
    for line in body.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        }
        match heading(line).filter(|_| !in_code) {
            Some(title) => {
                if first_h1.is_none() && line.starts_with("# ") {
                    first_h1 = Some(title.to_owned());
                }
                sections.push((title.to_owned(), String::new()));
            }
            None => {
                if sections.is_empty() {
                    sections.push((String::new(), String::new()));
                }
                if let Some((_, text)) = sections.last_mut() {
                    text.push_str(line);
                    text.push('\n');
                }
            }
        }
    }
    let title = front
        .title
        .clone()
        .or(first_h1)
        .unwrap_or_else(|| id.clone());
    let url = front.url.clone().unwrap_or_else(|| relative.to_owned());
    let mut chunks = Vec::new();
    for (heading, text) in sections {
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        for piece in split_long(text) {
            let text = if heading.is_empty() {
                piece
            } else {
                format!("{heading}\n{piece}")
            };
            chunks.push(KnowledgeChunk {
                id: format!("{id}#{}", chunks.len()),
                article_id: id.clone(),
                title: title.clone(),
                heading: heading.clone(),
                url: url.clone(),
                tags: front.tags.clone(),
                text,
            });
        }
    }
    if chunks.is_empty() {
        return Err("article has no text".into());
    }
    Ok(Article { id, chunks })
}

fn markdown_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            markdown_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "md") {
            out.push(path);
        }
    }
    Ok(())
}

/// Stores every `*.md` under `dir`; a bad article is reported and skipped
/// (fatal with `strict`). Returns (articles stored, chunks stored, problems).
pub async fn ingest_knowledge(
    service: &TriageService,
    dir: &Path,
    strict: bool,
) -> Result<(usize, usize, Vec<String>), IngestError> {
    let read_error = |e: std::io::Error| IngestError::Read {
        path: dir.display().to_string(),
        reason: e.to_string(),
    };
    let mut files = Vec::new();
    markdown_files(dir, &mut files).map_err(read_error)?;
    files.sort();
    let mut progress = Progress::new("ingest kb", "articles", files.len() as u64);
    let (mut articles, mut chunks, mut problems) = (0, 0, Vec::new());
    for (done, path) in files.iter().enumerate() {
        let relative = path
            .strip_prefix(dir)
            .unwrap_or(path)
            .to_string_lossy()
            .replace('\\', "/");
        let parsed = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read: {e}"))
            .and_then(|text| parse_article(&relative, &text));
        match parsed {
            Ok(article) => {
                chunks += article.chunks.len();
                service.store_article(&article.id, article.chunks).await?;
                articles += 1;
            }
            Err(reason) => {
                let problem = format!("{relative}: {reason}");
                if strict {
                    return Err(IngestError::Mapping(problem));
                }
                tracing::warn!(%problem, "skipping article");
                problems.push(problem);
            }
        }
        progress.update(done as u64 + 1, articles as u64);
    }
    service.flush().await?;
    progress.finish(articles as u64);
    Ok((articles, chunks, problems))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_matter_and_headings_make_chunks() {
        let text = "---\ntitle: VPN troubleshooting\nurl: https://kb.example/vpn\ntags: [vpn, network]\n---\n# VPN\nIntro text.\n\n## Cannot connect\nCheck the token.\n\n## Slow\nChange the gateway.\n";
        let article = parse_article("network/vpn.md", text).unwrap();
        assert_eq!(article.id, "network/vpn");
        let headings: Vec<&str> = article.chunks.iter().map(|c| c.heading.as_str()).collect();
        assert_eq!(headings, ["VPN", "Cannot connect", "Slow"]);
        assert_eq!(article.chunks[1].title, "VPN troubleshooting");
        assert_eq!(article.chunks[1].url, "https://kb.example/vpn");
        assert_eq!(article.chunks[1].tags, ["vpn", "network"]);
        assert_eq!(article.chunks[2].id, "network/vpn#2");
    }

    #[test]
    fn headings_inside_code_blocks_do_not_split() {
        let text = "# Title\n```\n# not a heading\n```\nmore\n";
        let article = parse_article("a.md", text).unwrap();
        assert_eq!(article.chunks.len(), 1);
        assert!(article.chunks[0].text.contains("# not a heading"));
    }

    #[test]
    fn long_sections_are_split() {
        let text = format!("# Big\n{}", "word ".repeat(1000));
        let article = parse_article("big.md", &text).unwrap();
        assert!(article.chunks.len() >= 3);
        assert!(
            article
                .chunks
                .iter()
                .all(|c| c.text.chars().count() <= MAX_CHUNK_CHARS + 10)
        );
    }

    #[test]
    fn empty_article_and_bad_front_matter_are_errors() {
        assert!(parse_article("e.md", "   \n").is_err());
        assert!(parse_article("f.md", "---\ntags: [unclosed\n---\nbody\n").is_err());
    }
}
