//! Parameter values: every one is checked against its declaration before it
//! can reach a command line, and refused with the reason when it fails.
//!
//! Steps never run through a shell, so metacharacters could do no harm; they
//! are refused anyway (defence in depth, and a clear signal of an attack), as
//! are values starting with `-` (they would be read as options), control
//! characters, `..` in paths and paths outside their allowed roots.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use regex::Regex;
use serde::Serialize;

use super::spec::{ParameterSpec, ParameterType};

/// Longest parameter value accepted, in characters.
pub const MAX_VALUE_CHARS: usize = 256;

/// Characters a shell would treat specially.
const SHELL_METACHARACTERS: &[char] = &[
    ';', '|', '&', '$', '`', '<', '>', '(', ')', '{', '}', '[', ']', '\\', '\'', '"', '*', '?',
    '!', '~', '#', '\n', '\r',
];

/// A parameter value that was refused.
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[error("parameter {parameter}: {reason}")]
pub struct ParamError {
    /// The parameter's name.
    pub parameter: String,
    /// Why, in words an operator can act on.
    pub reason: String,
}

fn refuse(parameter: &str, reason: impl Into<String>) -> ParamError {
    ParamError {
        parameter: parameter.to_owned(),
        reason: reason.into(),
    }
}

/// Parses `500ms`, `30s`, `15m`, `4h` or `7d`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{text:?} needs a unit: ms, s, m, h or d"))?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 30s, 15m, 4h"))?;
    let seconds = match unit {
        "ms" => return Ok(Duration::from_millis(n)),
        "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        "d" => n.saturating_mul(86_400),
        _ => {
            return Err(format!(
                "{text:?} has an unknown unit: use ms, s, m, h or d"
            ));
        }
    };
    Ok(Duration::from_secs(seconds))
}

/// Compiles `pattern` anchored to the whole value.
pub fn whole_value_regex(pattern: &str) -> Result<Regex, regex::Error> {
    Regex::new(&format!("^(?:{pattern})$"))
}

fn is_hostname(value: &str) -> bool {
    value.len() <= 253
        && value.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// `path` with `.` removed; `None` if it is relative or has a `..`.
fn normal_absolute(path: &Path) -> Option<PathBuf> {
    if !path.is_absolute() {
        return None;
    }
    let mut out = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(part) => out.push(part),
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// A root paths may be under is one only Switchboard's user (or root) can
/// change: a directory it or root owns that neither its group nor others
/// may write (when it exists on this machine). Under `/tmp`, anyone could
/// otherwise make the root first, or swap a link into it between approval
/// and run.
fn trusted_root(root: &Path) -> Result<(), String> {
    match std::fs::metadata(root) {
        Ok(meta) if !meta.is_dir() => Err(format!(
            "its allowed root {} is not a directory",
            root.display()
        )),
        Ok(meta) => only_ours(root, &meta, "allowed root"),
        // Not on this machine (a path on the target host): nothing here to trust.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!(
            "its allowed root {} cannot be read: {e}",
            root.display()
        )),
    }
}

/// Every directory between the trusted `root` and `real` (itself included
/// when it is one) that exists is as trusted as the root: otherwise another
/// user could plant or swap a link in it between the check before a step
/// and the step's program opening the path, which no check can close.
fn trusted_below(root: &Path, real: &Path) -> Result<(), String> {
    let Ok(below) = real.strip_prefix(root) else {
        return Ok(());
    };
    let mut dir = root.to_path_buf();
    for part in below.components() {
        dir.push(part);
        match std::fs::symlink_metadata(&dir) {
            Ok(meta) if meta.is_dir() => only_ours(&dir, &meta, "directory")?,
            // A file, or not made yet: nothing further down exists.
            _ => break,
        }
    }
    Ok(())
}

/// `dir` belongs to this process's user or root and neither its group nor
/// others may write it.
fn only_ours(dir: &Path, meta: &std::fs::Metadata, what: &str) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let me = crate::infra::secrets::process_uid();
    if meta.uid() != me && meta.uid() != 0 {
        return Err(format!(
            "its {what} {} belongs to another user (uid {})",
            dir.display(),
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "its {what} {} may be written by its group or others (mode {:o})",
            dir.display(),
            meta.mode() & 0o7777
        ));
    }
    Ok(())
}

/// True while `path` (an approved value, or an argument made from one) is
/// still where it was approved: no component of it has become a symbolic
/// link since.
pub fn still_where_approved(path: &str) -> bool {
    resolved_path(Path::new(path)) == Path::new(path)
}

/// Where `path` really is: symlinks resolved for the longest existing prefix.
pub fn resolved_path(path: &Path) -> PathBuf {
    let mut existing = path.to_path_buf();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (existing.file_name(), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name.to_owned());
                existing = parent.to_path_buf();
            }
            _ => break,
        }
    }
    let mut out = existing.canonicalize().unwrap_or(existing);
    for part in rest.into_iter().rev() {
        out.push(part);
    }
    out
}

impl ParameterSpec {
    /// Checks the declaration itself (used by `runbook validate`).
    pub fn check_declaration(&self) -> Result<(), String> {
        let valid_name = self
            .name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid_name {
            return Err("name must match [a-z_][a-z0-9_]*".into());
        }
        if let Some(pattern) = &self.pattern {
            whole_value_regex(pattern).map_err(|e| format!("pattern does not compile: {e}"))?;
        }
        if let Some(extract) = &self.extract {
            let regex =
                Regex::new(extract).map_err(|e| format!("extract does not compile: {e}"))?;
            if !regex.capture_names().any(|n| n == Some("value")) {
                return Err("extract needs a named group (?P<value>...)".into());
            }
        }
        match self.kind {
            ParameterType::Enum if self.choices.is_empty() => {
                return Err("an enum needs `enum: [...]` values".into());
            }
            ParameterType::Path if self.allowed_roots.is_empty() => {
                return Err("a path needs `allowed_roots`".into());
            }
            ParameterType::Path => {
                for root in &self.allowed_roots {
                    if normal_absolute(Path::new(root)).is_none() || root == "/" {
                        return Err(format!(
                            "allowed root {root:?} must be an absolute directory other than /"
                        ));
                    }
                }
            }
            _ => {}
        }
        if let (Some(min), Some(max)) = (self.min, self.max)
            && min > max
        {
            return Err("min is greater than max".into());
        }
        if let Some(default) = &self.default {
            self.validate(default)
                .map_err(|e| format!("default is not valid: {}", e.reason))?;
        }
        Ok(())
    }

    /// The value as it will be used, or why it is refused.
    pub fn validate(&self, raw: &str) -> Result<String, ParamError> {
        let name = self.name.as_str();
        if raw.chars().count() > MAX_VALUE_CHARS {
            return Err(refuse(
                name,
                format!("longer than {MAX_VALUE_CHARS} characters"),
            ));
        }
        if raw.chars().any(char::is_control) {
            return Err(refuse(name, "contains control characters"));
        }
        if raw.trim().is_empty() {
            return Err(refuse(name, "is empty"));
        }
        if raw.starts_with('-') && self.kind != ParameterType::Integer {
            return Err(refuse(
                name,
                "starts with '-', which a command would read as an option",
            ));
        }
        if let Some(c) = raw.chars().find(|c| SHELL_METACHARACTERS.contains(c)) {
            return Err(refuse(
                name,
                format!("contains the shell metacharacter {c:?}"),
            ));
        }
        let value = match self.kind {
            ParameterType::String => raw.to_owned(),
            ParameterType::Enum => {
                if !self.choices.iter().any(|c| c == raw) {
                    return Err(refuse(
                        name,
                        format!("must be one of {}", self.choices.join(", ")),
                    ));
                }
                raw.to_owned()
            }
            ParameterType::Integer => {
                let n: i64 = raw
                    .trim()
                    .parse()
                    .map_err(|_| refuse(name, "is not a whole number"))?;
                self.check_range(n, "")?;
                n.to_string()
            }
            ParameterType::Duration => {
                let d = parse_duration(raw).map_err(|e| refuse(name, e))?;
                let seconds = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
                self.check_range(seconds, " seconds")?;
                seconds.to_string()
            }
            ParameterType::Hostname => {
                let host = raw.trim().to_ascii_lowercase();
                if !is_hostname(&host) {
                    return Err(refuse(name, "is not a valid host name"));
                }
                if super::destination::is_internal_host(&host) {
                    return Err(refuse(
                        name,
                        "is this machine, its link or a metadata service: name an inventory target instead",
                    ));
                }
                host
            }
            ParameterType::Path => self.check_path(raw)?,
        };
        if let Some(pattern) = &self.pattern {
            let regex = whole_value_regex(pattern)
                .map_err(|_| refuse(name, "the runbook's pattern does not compile"))?;
            if !regex.is_match(&value) {
                return Err(refuse(name, format!("does not match {pattern}")));
            }
        }
        Ok(value)
    }

    fn check_range(&self, n: i64, unit: &str) -> Result<(), ParamError> {
        if let Some(min) = self.min
            && n < min
        {
            return Err(refuse(&self.name, format!("must be at least {min}{unit}")));
        }
        if let Some(max) = self.max
            && n > max
        {
            return Err(refuse(&self.name, format!("must be at most {max}{unit}")));
        }
        Ok(())
    }

    fn check_path(&self, raw: &str) -> Result<String, ParamError> {
        let name = self.name.as_str();
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-');
        if !raw.chars().all(allowed) {
            return Err(refuse(name, "may only contain A-Z a-z 0-9 / . _ -"));
        }
        let path = normal_absolute(Path::new(raw))
            .ok_or_else(|| refuse(name, "must be an absolute path without '..'"))?;
        let real = resolved_path(&path);
        let root = self
            .allowed_roots
            .iter()
            .map(|root| resolved_path(Path::new(root)))
            .find(|root| real.starts_with(root) && real != *root)
            .ok_or_else(|| {
                refuse(
                    name,
                    format!(
                        "must be inside {} (symbolic links resolved)",
                        self.allowed_roots.join(" or ")
                    ),
                )
            })?;
        trusted_root(&root)
            .and_then(|()| trusted_below(&root, &real))
            .map_err(|reason| refuse(name, reason))?;
        // The path as it really is: what the steps get, and what is checked
        // again before each step runs (a link swapped in meanwhile is refused).
        Ok(real.display().to_string())
    }

    /// The value `extract` finds in `text`, if it finds a valid one.
    pub fn extract_from(&self, text: &str) -> Option<String> {
        let regex = Regex::new(self.extract.as_deref()?).ok()?;
        regex
            .captures_iter(text)
            .filter_map(|c| c.name("value"))
            .find_map(|m| {
                // Sentence punctuation right after a value is not part of it.
                let value = m
                    .as_str()
                    .trim_end_matches(['.', ',', ';', ':', ')', '!', '?']);
                self.validate(value).ok()
            })
    }
}

/// Validates `given` against `specs`: unknown names, missing required values
/// and bad values are refused; defaults fill the rest.
pub fn validate_params(
    specs: &[ParameterSpec],
    given: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, ParamError> {
    if let Some(unknown) = given.keys().find(|k| !specs.iter().any(|s| &s.name == *k)) {
        return Err(refuse(unknown, "is not a parameter of this runbook"));
    }
    let mut out = BTreeMap::new();
    for spec in specs {
        match given.get(&spec.name).or(spec.default.as_ref()) {
            Some(raw) => {
                out.insert(spec.name.clone(), spec.validate(raw)?);
            }
            None if spec.required => return Err(refuse(&spec.name, "is required")),
            None => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: ParameterType) -> ParameterSpec {
        ParameterSpec {
            name: "p".into(),
            kind,
            description: String::new(),
            required: true,
            default: None,
            pattern: None,
            choices: vec![],
            min: None,
            max: None,
            allowed_roots: vec![],
            extract: None,
        }
    }

    #[test]
    fn refuses_shell_metacharacters_options_and_control_characters() {
        let s = spec(ParameterType::String);
        for bad in [
            "a; rm -rf /",
            "$(reboot)",
            "`id`",
            "a | b",
            "x && y",
            "a\nb",
            "-rf",
            "--help",
            "a > /etc/passwd",
            "",
        ] {
            assert!(s.validate(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(s.validate("web-01 restart").unwrap(), "web-01 restart");
    }

    #[test]
    fn integers_durations_enums_and_patterns() {
        let mut n = spec(ParameterType::Integer);
        n.min = Some(1);
        n.max = Some(30);
        assert_eq!(n.validate("7").unwrap(), "7");
        assert!(n.validate("0").unwrap_err().reason.contains("at least 1"));
        assert!(n.validate("31").is_err());
        assert!(n.validate("7.5").is_err());

        let mut d = spec(ParameterType::Duration);
        d.max = Some(3600);
        assert_eq!(d.validate("15m").unwrap(), "900");
        assert!(d.validate("2h").is_err());
        assert!(d.validate("10 parsecs").is_err());

        let mut e = spec(ParameterType::Enum);
        e.choices = vec!["nginx".into(), "postgres".into()];
        assert!(e.validate("nginx").is_ok());
        assert!(e.validate("sshd").is_err());

        let mut p = spec(ParameterType::String);
        p.pattern = Some("[a-z]{3}[0-9]{2}".into());
        assert!(p.validate("abc12").is_ok());
        assert!(p.validate("abc123").is_err(), "pattern is anchored");

        let h = spec(ParameterType::Hostname);
        assert_eq!(
            h.validate("Web-01.Example.com").unwrap(),
            "web-01.example.com"
        );
        assert!(h.validate("web_01").is_err());
        assert!(h.validate("-web").is_err());
    }

    #[test]
    fn paths_stay_inside_their_roots_even_through_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("allowed");
        std::fs::create_dir_all(root.join("logs")).unwrap();
        let outside = dir.path().join("secret");
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("escape")).unwrap();
        let mut p = spec(ParameterType::Path);
        p.allowed_roots = vec![root.display().to_string()];

        let inside = format!("{}/logs", root.display());
        assert_eq!(p.validate(&inside).unwrap(), inside);
        let not_yet = format!("{}/logs/new.log", root.display());
        assert!(p.validate(&not_yet).is_ok());
        for bad in [
            format!("{}/../secret", root.display()),
            format!("{}/escape/x", root.display()),
            "/etc/passwd".to_owned(),
            root.display().to_string(),
            "relative/path".to_owned(),
            format!("{}/a b", root.display()),
        ] {
            assert!(p.validate(&bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn a_path_is_given_to_the_steps_as_it_really_is() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::create_dir_all(real.join("logs")).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let mut p = spec(ParameterType::Path);
        p.allowed_roots = vec![link.display().to_string()];
        let given = format!("{}/logs/app.log", link.display());
        let real = real.canonicalize().unwrap();
        assert_eq!(
            p.validate(&given).unwrap(),
            format!("{}/logs/app.log", real.display())
        );
    }

    #[test]
    fn a_root_others_may_write_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("shared");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o777)).unwrap();
        let mut p = spec(ParameterType::Path);
        p.allowed_roots = vec![root.display().to_string()];
        let refused = p
            .validate(&format!("{}/a.log", root.display()))
            .unwrap_err();
        assert!(
            refused.reason.contains("written by its group or others"),
            "{refused}"
        );
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(p.validate(&format!("{}/a.log", root.display())).is_ok());
    }

    #[test]
    fn a_directory_below_the_root_others_may_write_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let open = root.join("uploads");
        std::fs::create_dir_all(open.join("inner")).unwrap();
        std::fs::create_dir_all(root.join("ours")).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let mut p = spec(ParameterType::Path);
        p.allowed_roots = vec![root.display().to_string()];
        for below in ["uploads/inner/a.log", "uploads/a.log", "uploads"] {
            let refused = p
                .validate(&format!("{}/{below}", root.display()))
                .unwrap_err();
            assert!(
                refused.reason.contains("directory") && refused.reason.contains("mode 777"),
                "{below}: {refused}"
            );
        }
        assert!(
            p.validate(&format!("{}/ours/a.log", root.display()))
                .is_ok()
        );
        assert!(
            p.validate(&format!("{}/ours/new/a.log", root.display()))
                .is_ok()
        );
    }

    #[test]
    fn unknown_missing_and_default_parameters() {
        let mut days = spec(ParameterType::Integer);
        days.name = "days".into();
        days.required = false;
        days.default = Some("7".into());
        let mut host = spec(ParameterType::Hostname);
        host.name = "host".into();
        let specs = vec![days, host];

        let given = BTreeMap::from([("host".to_owned(), "web-01".to_owned())]);
        let values = validate_params(&specs, &given).unwrap();
        assert_eq!(values["days"], "7");
        let err = validate_params(&specs, &BTreeMap::new()).unwrap_err();
        assert_eq!(
            (err.parameter.as_str(), err.reason.as_str()),
            ("host", "is required")
        );
        let unknown = BTreeMap::from([
            ("host".to_owned(), "web-01".to_owned()),
            ("force".to_owned(), "yes".to_owned()),
        ]);
        assert_eq!(
            validate_params(&specs, &unknown).unwrap_err().parameter,
            "force"
        );
    }

    #[test]
    fn extraction_prefills_only_valid_values() {
        let mut host = spec(ParameterType::Hostname);
        host.extract = Some(r"(?i)server\s+(?P<value>[\w.-]+)".into());
        assert!(host.check_declaration().is_ok());
        assert_eq!(
            host.extract_from("Disk full on server web-01.corp, please help")
                .as_deref(),
            Some("web-01.corp")
        );
        assert_eq!(host.extract_from("server -rf"), None);
        host.extract = Some("no group".into());
        assert!(host.check_declaration().is_err());
    }
}
