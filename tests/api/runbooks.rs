//! `switchboard runbook validate | list | run --dry-run` on the shipped runbooks and broken ones.

use crate::helpers::{assert_succeeded, repo, switchboard_command, work_root};

fn runbook(args: &[&str]) -> std::process::Output {
    let data = tempfile::tempdir().unwrap();
    switchboard_command()
        .current_dir(repo())
        .env("SWITCHBOARD_DATA_DIR", data.path())
        .env("SWITCHBOARD_RUNBOOKS__WORK_ROOT", work_root())
        .arg("runbook")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn shipped_runbooks_are_valid_and_listed() {
    let out = runbook(&["validate"]);
    assert_succeeded(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("4 runbooks valid"));
    let list = String::from_utf8_lossy(&runbook(&["list"]).stdout).to_string();
    for id in [
        "clean-old-files",
        "rotate-log",
        "collect-diagnostics",
        "restart-test-service",
    ] {
        assert!(list.contains(id), "{list}");
    }
}

#[test]
fn broken_runbooks_are_reported_with_file_field_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("shell.yaml"),
        r#"
id: shell
version: 1
title: t
description: d
owner: o
risk: high
approval: { mode: auto }
parameters:
  - { name: cmd, type: string }
steps:
  - { name: s, run: [bash, -c, "{cmd}"] }
  - { name: p, run: ["{cmd}"] }
  - { name: u, run: [echo, "{nope}"], timeout: 2y }
"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("typo.yaml"), "id: x\nversoin: 1\n").unwrap();
    let out = runbook(&["validate", dir.path().to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "shell.yaml: approval.mode: only low-risk runbooks",
        "shell.yaml: steps[0].run[0]: bash would run a shell string",
        "shell.yaml: steps[1].run[0]: the program must be fixed",
        "shell.yaml: steps[2].run[1]: {nope} is not a declared parameter",
        "shell.yaml: steps[2].timeout",
        "typo.yaml: -: unknown field `versoin`",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in\n{stderr}"
        );
    }
}

#[test]
fn dry_run_substitutes_values_and_refuses_bad_ones() {
    let root = work_root().display().to_string();
    let scratch = format!("{root}/test-dry-run");
    std::fs::create_dir_all(&scratch).unwrap();
    let directory = format!("directory={scratch}");
    let out = runbook(&[
        "run",
        "clean-old-files",
        "--param",
        &directory,
        "--param",
        "days=3",
        "--dry-run",
    ]);
    assert_succeeded(&out);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["state"], "succeeded", "{report:#}");
    assert_eq!(report["steps"][0]["phase"], "check");
    assert_eq!(report["steps"][0]["argv"][0], "find");
    let plan = &report["plan"];
    assert_eq!(
        plan["steps"][0]["argv"],
        serde_json::json!([
            "find", scratch, "-xdev", "-type", "f", "-mtime", "+3", "-print", "-delete"
        ])
    );
    let inside = format!("directory={root}/x");
    for (params, reason) in [
        (vec![format!("directory={root}/../../etc")], "without '..'"),
        (vec!["directory=/etc".to_owned()], "must be inside"),
        (vec![format!("{inside};reboot")], "metacharacter ';'"),
        (vec![format!("directory={root}/a b")], "may only contain"),
        (
            vec![inside.clone(), "days=$(reboot)".to_owned()],
            "metacharacter",
        ),
        (vec![inside.clone(), "days=0".to_owned()], "at least 1"),
        (
            vec![inside.clone(), "force=yes".to_owned()],
            "not a parameter",
        ),
        (vec!["directory=-rf".to_owned()], "starts with '-'"),
    ] {
        let mut args = vec!["run", "clean-old-files", "--dry-run"];
        for p in &params {
            args.extend(["--param", p.as_str()]);
        }
        let out = runbook(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{params:?} accepted");
        assert!(stderr.contains(reason), "{params:?}: {stderr}");
    }
    let out = runbook(&[
        "run",
        "restart-test-service",
        "--param",
        "service=nginx",
        "--param",
        "target=mail-01",
        "--dry-run",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not in the inventory"));
    let out = runbook(&[
        "run",
        "restart-test-service",
        "--param",
        "service=nginx",
        "--param",
        "target=web-01",
        "--dry-run",
    ]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["plan"]["steps"][0]["argv"][6], "web-01.corp.example");
}

#[test]
fn config_path_cli_token_runbook_secrets_and_binary_variables_in_the_environment_are_no_trouble() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("say.yaml"),
        "id: say-from-config\nversion: 1\ntitle: t\ndescription: d\nowner: o\nrisk: low\n\
         approval: { mode: auto }\nsteps: [ { name: say, run: [echo, hi] } ]\n",
    )
    .unwrap();
    std::fs::copy(
        repo().join("runbooks/inventory.yaml"),
        dir.path().join("inventory.yaml"),
    )
    .unwrap();
    let config = dir.path().join("switchboard.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\n[runbooks]\ndir = {:?}\ninventory = {:?}\n",
            dir.path().join("data"),
            dir.path(),
            dir.path().join("inventory.yaml")
        ),
    )
    .unwrap();
    let out = switchboard_command()
        .env("SWITCHBOARD_CONFIG", &config)
        .env("SWITCHBOARD_TOKEN", "sb_not_a_setting")
        .env("SWITCHBOARD_SECRET_API_TOKEN", "not-a-setting-either")
        .env(
            "SOME_BINARY_VARIABLE",
            <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b"\xff\xfe"),
        )
        .args(["runbook", "list"])
        .output()
        .unwrap();
    assert_succeeded(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("say-from-config"));

    let typo = switchboard_command()
        .env("SWITCHBOARD_CONFIG", &config)
        .env("SWITCHBOARD_RUNBOOKS__DIRR", dir.path())
        .args(["runbook", "list"])
        .output()
        .unwrap();
    assert!(!typo.status.success());
    assert!(
        String::from_utf8_lossy(&typo.stderr).contains("unknown field `dirr`"),
        "{}",
        String::from_utf8_lossy(&typo.stderr)
    );
}
