//! [`CiFinder`]: which configuration items a ticket's text mentions, by name,
//! address or alias (host names, fully qualified names, IP addresses), found
//! whole and case-insensitively in one pass (Aho-Corasick, leftmost-longest,
//! so `web-01.corp.example` wins over `web-01`).

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use serde::Serialize;

use super::{ConfigurationItem, Inventory};

/// Most items reported for one ticket.
const MAX_MENTIONS: usize = 8;

/// A configuration item a ticket mentions, with what the registry knows of it.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct CiMention {
    /// The item's name (the runbook `target`).
    pub name: String,
    /// `host`, `service`, `database`, ...
    pub kind: String,
    /// The text found in the ticket (the name, an alias or the address).
    pub matched: String,
    /// Assignment group that owns it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_group: Option<String>,
    /// Business service it supports.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// `production`, `test`, ...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Its tags.
    pub tags: Vec<String>,
}

/// Finds the items of an inventory in text.
#[derive(Debug, Clone, Default)]
pub struct CiFinder {
    /// Every name, address and alias; `None` for an empty inventory.
    automaton: Option<AhoCorasick>,
    /// For each pattern, the index of its item.
    owners: Vec<usize>,
    items: Vec<ConfigurationItem>,
}

/// A character that continues a host name or address: a match next to one is
/// part of a longer name (`web-01` in `web-012` or `10.0.0.1` in `10.0.0.12`).
fn continues_name(c: char) -> bool {
    c.is_alphanumeric() || c == '-' || c == '_'
}

impl CiFinder {
    /// Indexes every item's name, address and aliases.
    pub fn new(inventory: &Inventory) -> Self {
        let mut patterns = Vec::new();
        let mut owners = Vec::new();
        for (index, item) in inventory.items.iter().enumerate() {
            let names = std::iter::once(&item.name)
                .chain(item.address.iter())
                .chain(item.aliases.iter());
            for name in names {
                let name = name.trim();
                // Very short names ("db", "a1") would match ordinary words.
                if name.chars().count() >= 3 {
                    patterns.push(name.to_lowercase());
                    owners.push(index);
                }
            }
        }
        let automaton = (!patterns.is_empty()).then(|| {
            AhoCorasickBuilder::new()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::LeftmostLongest)
                .build(&patterns)
                .expect("plain string patterns always build")
        });
        Self {
            automaton,
            owners,
            items: inventory.items.clone(),
        }
    }

    /// True when there is nothing to find.
    pub fn is_empty(&self) -> bool {
        self.automaton.is_none()
    }

    /// The items `text` mentions, in order of first mention, each once.
    pub fn find(&self, text: &str) -> Vec<CiMention> {
        let Some(automaton) = &self.automaton else {
            return Vec::new();
        };
        let mut seen = Vec::new();
        let mut out = Vec::new();
        for found in automaton.find_iter(text) {
            let before = text[..found.start()].chars().next_back();
            let after = text[found.end()..].chars().next();
            // A trailing dot ends a sentence; a dot followed by more of a name
            // (`web-01.corp`) is a longer name this pattern is only part of.
            let dotted_on = after == Some('.')
                && text[found.end() + 1..]
                    .chars()
                    .next()
                    .is_some_and(continues_name);
            if before.is_some_and(|c| continues_name(c) || c == '.')
                || after.is_some_and(continues_name)
                || dotted_on
            {
                continue;
            }
            let index = self.owners[found.pattern().as_usize()];
            if seen.contains(&index) {
                continue;
            }
            seen.push(index);
            let item = &self.items[index];
            out.push(CiMention {
                name: item.name.clone(),
                kind: item.kind.clone(),
                matched: text[found.start()..found.end()].to_owned(),
                owner_group: item.owner_group.clone(),
                service: item.service.clone(),
                environment: item.environment.clone(),
                tags: item.tags.clone(),
            });
            if out.len() == MAX_MENTIONS {
                break;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finder() -> CiFinder {
        let inventory: Inventory = serde_norway::from_str(
            r#"
items:
  - { name: web-01, kind: host, owner_group: Server Operations, aliases: [web-01.corp.example, 10.20.0.11] }
  - { name: db-prd-01, kind: database, owner_group: Database Administration, environment: production }
  - { name: erp, kind: service, owner_group: ERP Support }
  - { name: db, kind: host }
"#,
        )
        .unwrap();
        CiFinder::new(&inventory)
    }

    fn names(text: &str) -> Vec<(String, String)> {
        finder()
            .find(text)
            .into_iter()
            .map(|m| (m.name, m.matched))
            .collect()
    }

    #[test]
    fn finds_names_aliases_and_addresses_whole_and_once() {
        assert_eq!(
            names("WEB-01.corp.example is down; ping 10.20.0.11 fails. Also db-prd-01."),
            [
                ("web-01".to_owned(), "WEB-01.corp.example".to_owned()),
                ("db-prd-01".to_owned(), "db-prd-01".to_owned()),
            ]
        );
        assert_eq!(names("the ERP login hangs")[0].0, "erp");
    }

    #[test]
    fn ignores_parts_of_longer_names_and_too_short_names() {
        assert!(names("web-012 and 10.20.0.111 and db-prd-01b").is_empty());
        assert!(names("web-01.other.example is fine").is_empty());
        assert!(
            names("the db is slow").is_empty(),
            "two-letter names never match"
        );
        assert!(
            names("enterprise resources").is_empty(),
            "erp inside a word"
        );
    }

    #[test]
    fn reports_what_the_registry_knows() {
        let found = finder().find("restart web-01 please");
        assert_eq!(found[0].owner_group.as_deref(), Some("Server Operations"));
        assert_eq!(found[0].kind, "host");
    }
}
