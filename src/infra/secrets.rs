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
                    check_private_file(path)?;
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

/// Checks that the file at `path`, which holds secrets (the runbook secrets
/// file, the audit key, the server's TLS key), is readable by nobody else:
/// owned by this process's user with no access for group or others, or owned
/// by root with none for others and no group write (PostgreSQL's rule for its
/// key file, so a secret mounted `0640 root:switchboard` works). A service
/// that read a world-readable key would hand it to every local user.
pub fn check_private_file(path: &std::path::Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let me = process_uid();
    let mode = meta.mode() & 0o777;
    let refused = if meta.uid() == me && me != 0 {
        mode & 0o077 != 0
    } else if meta.uid() == 0 {
        mode & 0o027 != 0
    } else {
        return Err(format!(
            "{} holds secrets but belongs to another user (uid {}): make it Switchboard's user's or root's",
            path.display(),
            meta.uid()
        ));
    };
    if refused {
        return Err(format!(
            "{} holds secrets but others may read or change it (mode {mode:o}): chmod 600 {}",
            path.display(),
            path.display()
        ));
    }
    Ok(())
}

/// The user this process runs as (`/proc/self` belongs to it): whom a
/// private file or a trusted directory may belong to, besides root.
pub fn process_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").map_or(0, |m| m.uid())
}

/// Refuses a URL setting that carries a user name or password
/// (`https://user:pass@host`): a URL is shown in errors, `connector check`
/// and logs, so credentials belong in a secret, never in a URL.
pub fn no_credentials_in(url: &reqwest::Url, setting: &str) -> Result<(), String> {
    if url.username().is_empty() && url.password().is_none() {
        Ok(())
    } else {
        Err(format!(
            "{setting}: holds a user name or password; give credentials as a secret (it would be shown wherever the URL is)"
        ))
    }
}

/// Writes `contents` to `path` with mode 0600, as a file of secrets must be
/// (for tests that make one).
#[cfg(test)]
pub(crate) fn write_private(path: &std::path::Path, contents: impl AsRef<[u8]>) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, contents).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// The process environment as UTF-8 pairs (others are skipped).
pub fn process_env() -> impl Iterator<Item = (String, String)> {
    std::env::vars_os()
        .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn file_with_mode(dir: &std::path::Path, mode: u32) -> std::path::PathBuf {
        let path = dir.join(format!("secrets-{mode:o}.yaml"));
        std::fs::write(&path, "API_TOKEN: t\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn a_secrets_file_others_may_read_is_refused_with_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        let open = file_with_mode(dir.path(), 0o644);
        let reason = Secrets::load(Some(&open)).unwrap_err();
        assert!(
            reason.contains("mode 644") && reason.contains("chmod 600"),
            "{reason}"
        );
        assert!(check_private_file(&file_with_mode(dir.path(), 0o666)).is_err());
    }

    #[test]
    fn a_private_secrets_file_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let private = file_with_mode(dir.path(), 0o600);
        let secrets = Secrets::load_with_env(Some(&private), []).unwrap();
        assert_eq!(secrets.get("API_TOKEN"), Some("t"));
    }

    #[test]
    fn group_read_is_allowed_only_on_a_file_root_owns() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let group = file_with_mode(dir.path(), 0o640);
        let owned_by_root = std::fs::metadata(&group).unwrap().uid() == 0;
        assert_eq!(check_private_file(&group).is_ok(), owned_by_root);
        assert!(check_private_file(&file_with_mode(dir.path(), 0o660)).is_err());
    }
}
