//! Named secrets (API keys, passwords, the audit key) from a YAML file and
//! `SWITCHBOARD_SECRET_<NAME>` variables: read by connectors, runbook steps,
//! draft backends and the store. Never logged, never returned: `Debug` shows
//! the names only. Redaction of the values from output lives with its users
//! (`crate::runbook` redacts step output).

use std::collections::BTreeMap;

/// Secret values by name, never logged, never returned.
#[derive(Clone, Default)]
pub struct Secrets(BTreeMap<String, String>);

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

impl Secrets {
    /// Secrets from a YAML map file (missing file: none), then
    /// `SWITCHBOARD_SECRET_<NAME>` environment variables, which win.
    pub fn load(file: Option<&std::path::Path>) -> Result<Self, String> {
        Self::load_with_env(file, process_env())
    }

    /// [`Secrets::load`] with `vars` standing in for the process environment.
    pub fn load_with_env(
        file: Option<&std::path::Path>,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, String> {
        let mut values: BTreeMap<String, String> = BTreeMap::new();
        if let Some(path) = file {
            match std::fs::read_to_string(path) {
                Ok(text) => {
                    values = serde_norway::from_str(&text)
                        .map_err(|e| format!("{}: not a name: value map: {e}", path.display()))?;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("{}: {e}", path.display())),
            }
        }
        for (key, value) in vars {
            if let Some(name) = key.strip_prefix("SWITCHBOARD_SECRET_") {
                values.insert(name.to_owned(), value);
            }
        }
        Ok(Self(values))
    }

    /// Secrets given directly (tests, embedding).
    pub fn from_map(values: BTreeMap<String, String>) -> Self {
        Self(values)
    }

    /// These secrets less those named: what runbook steps may ask for is
    /// never the audit chain's key (a step that could read it could rewrite
    /// the chain its own run is recorded in).
    pub fn without(&self, names: &[&str]) -> Self {
        Self(
            self.0
                .iter()
                .filter(|(name, _)| !names.contains(&name.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    }

    /// The value of secret `name`, if configured.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Every secret value: what redaction looks for.
    pub fn values(&self) -> impl Iterator<Item = &str> {
        self.0.values().map(String::as_str)
    }
}

/// The process environment as UTF-8 pairs (others are skipped).
pub fn process_env() -> impl Iterator<Item = (String, String)> {
    std::env::vars_os()
        .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
}
