//! `inventory.yaml`: a small registry of configuration items (CIs): hosts,
//! services, databases, with their owner group, business service,
//! environment and tags. Runbooks may touch only the items listed here (a
//! target that is not, or lacks the kind or tags a runbook asks for, is
//! refused); triage finds the items a ticket mentions ([`CiFinder`]); storms
//! and duplicates group by them; change windows select on their tags.

mod mentions;

use std::path::Path;

use serde::{Deserialize, Serialize};

pub use mentions::{CiFinder, CiMention};

/// One configuration item.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConfigurationItem {
    /// Name used as the `target` parameter.
    pub name: String,
    /// `host`, `service`, `database`, ...
    pub kind: String,
    /// How a remote command reaches it (host name or address), if not `name`.
    #[serde(default)]
    pub address: Option<String>,
    /// Free-form tags runbooks and change windows select on.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Assignment group that owns it: evidence for routing its tickets.
    #[serde(default)]
    pub owner_group: Option<String>,
    /// Business service it supports.
    #[serde(default)]
    pub service: Option<String>,
    /// `production`, `test`, ...
    #[serde(default)]
    pub environment: Option<String>,
    /// Other names tickets use for it: fully qualified names, IP addresses,
    /// old names (matched whole, case-insensitively, like the name).
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// Every configuration item runbooks may touch.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    /// The items.
    #[serde(default)]
    pub items: Vec<ConfigurationItem>,
}

/// A target refused for a runbook.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("target {target:?}: {reason}")]
pub struct TargetError {
    /// The target asked for.
    pub target: String,
    /// Why it is refused.
    pub reason: String,
}

impl Inventory {
    /// Reads `path`; a missing file is an empty inventory (no target allowed).
    pub fn load(path: &Path) -> Result<Self, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let inventory: Self = serde_norway::from_str(&text)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                // A name or alias must say which item it means.
                let mut names: Vec<String> = inventory
                    .items
                    .iter()
                    .flat_map(|i| std::iter::once(&i.name).chain(i.aliases.iter()))
                    .map(|n| n.trim().to_lowercase())
                    .collect();
                names.sort_unstable();
                if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
                    return Err(format!(
                        "{}: name or alias {:?} is listed twice",
                        path.display(),
                        w[0]
                    ));
                }
                Ok(inventory)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    /// The item named `target` if it is of one of `kinds` (any, when empty)
    /// and carries every one of `tags`: what a runbook's `targets` allow.
    pub fn resolve(
        &self,
        kinds: &[String],
        tags: &[String],
        target: &str,
    ) -> Result<&ConfigurationItem, TargetError> {
        let refuse = |reason: String| TargetError {
            target: target.to_owned(),
            reason,
        };
        let item = self
            .items
            .iter()
            .find(|i| i.name == target)
            .ok_or_else(|| refuse("is not in the inventory".into()))?;
        if !kinds.is_empty() && !kinds.contains(&item.kind) {
            return Err(refuse(format!(
                "is a {}, this runbook acts on {}",
                item.kind,
                kinds.join(" or ")
            )));
        }
        if let Some(missing) = tags.iter().find(|t| !item.tags.contains(t)) {
            return Err(refuse(format!(
                "lacks the tag {missing:?} this runbook requires"
            )));
        }
        Ok(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_only_listed_items_with_the_right_kind_and_tags() {
        let inventory: Inventory = serde_norway::from_str(
            "items:\n  - { name: web-01, kind: host, tags: [linux, web] }\n  - { name: db-01, kind: database }\n",
        )
        .unwrap();
        let kinds = ["host".to_owned()];
        let tags = ["linux".to_owned()];
        assert_eq!(
            inventory.resolve(&kinds, &tags, "web-01").unwrap().name,
            "web-01"
        );
        assert!(
            inventory
                .resolve(&kinds, &tags, "web-02")
                .unwrap_err()
                .reason
                .contains("not in the inventory")
        );
        assert!(inventory.resolve(&kinds, &tags, "db-01").is_err());
        assert!(
            inventory
                .resolve(&kinds, &["windows".to_owned()], "web-01")
                .is_err()
        );
    }
}
