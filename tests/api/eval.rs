//! `switchboard eval` as a real process on the sample data and a fixture with known answers.

use crate::helpers::{assert_succeeded, repo, switchboard_command};

const KNOWN: &str = "id,title,description,assignment_group,category\n\
T1,VPN keeps dropping,GlobalProtect VPN disconnects every few minutes at home,Network Operations,network\n\
T2,Locked out of Windows,my AD account is locked after wrong passwords,Identity & Access,access\n\
T3,Outlook not syncing,no new mail arrives in Outlook since this morning,Messaging & Collaboration,email\n\
T4,Printer paper jam,the floor printer has paper stuck in tray 2,Desktop Support,hardware\n\
T5,SAP user locked,SAP ERP says my user is locked,ERP Support,application\n\
T6,Disk almost full,monitoring: /var filesystem on app-prd-01 is 96% full,Server Operations,server\n\
T7,Replication lag,replica db-prd-02 is far behind the primary,Database Administration,database\n\
T8,Malware alert,endpoint protection quarantined a trojan on my laptop,Security Operations,security\n";

/// The `report.json` that `eval --report DIR` wrote.
fn read_report(dir: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap()
}

#[test]
fn eval_scores_known_answers_and_writes_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let test_file = dir.path().join("known.csv");
    std::fs::write(&test_file, KNOWN).unwrap();
    let report = dir.path().join("report");
    let out = switchboard_command()
        .args(["eval", "--train"])
        .arg(repo().join("sample/incidents.csv"))
        .arg("--test")
        .arg(&test_file)
        .args([
            "--label",
            "assignment_group",
            "--label",
            "category",
            "--target-precision",
            "0.9",
            "--report",
        ])
        .arg(&report)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_succeeded(&out);
    assert!(
        stdout.contains("target precision 0.90 -> threshold"),
        "{stdout}"
    );

    let json = read_report(&report);
    for field in ["assignment_group", "category"] {
        let scores = &json[field]["scores"];
        assert_eq!(scores["support"], 8);
        assert_eq!(scores["accuracy"], 1.0, "{field}: {stdout}");
        assert_eq!(json[field]["classes"].as_array().unwrap().len(), 8);
        assert_eq!(
            json[field]["precision_coverage"].as_array().unwrap().len(),
            21
        );
        let threshold = json[field]["calibrated"]["threshold"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&threshold));
        // The estimate made without the test file, printed next to its scores.
        let cross_fitted = &json[field]["calibrated"]["cross_fitted"];
        let accuracy = cross_fitted["accuracy"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&accuracy), "{cross_fitted}");
        assert!(
            stdout.contains(&format!(
                "{field}: cross-fitted train: accuracy {accuracy:.4}"
            )),
            "{stdout}"
        );
        let svg = std::fs::read_to_string(report.join(format!("{field}.svg"))).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("<polyline"),
            "{field}.svg"
        );
    }
}

#[test]
fn eval_refuses_a_target_precision_outside_0_1() {
    let out = switchboard_command()
        .args([
            "eval",
            "--train",
            "a.csv",
            "--test",
            "b.csv",
            "--label",
            "x",
            "--target-precision",
            "1.5",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a number between 0 and 1"));
}

#[test]
fn calibration_never_lets_a_training_ticket_vote_for_itself() {
    // Every ticket has a label no other ticket has: only a head trained on the
    // ticket itself could predict it, so no threshold may reach the target.
    let dir = tempfile::tempdir().unwrap();
    let train = dir.path().join("unique.csv");
    let rows: String = (0..40)
        .map(|i| format!("U{i},system{i} broken,the system{i} host does not answer,Team {i}\n"))
        .collect();
    std::fs::write(
        &train,
        format!("id,title,description,assignment_group\n{rows}"),
    )
    .unwrap();
    let report = dir.path().join("report");
    let out = switchboard_command()
        .env("SWITCHBOARD_TRIAGE__CLASSIFIER__MIN_INCIDENTS", "2")
        .env("SWITCHBOARD_TRIAGE__CLASSIFIER__WEIGHT", "1.0")
        .args(["eval", "--train"])
        .arg(&train)
        .arg("--test")
        .arg(&train)
        .args([
            "--label",
            "assignment_group",
            "--target-precision",
            "0.5",
            "--calibration-folds",
            "4",
            "--report",
        ])
        .arg(&report)
        .output()
        .unwrap();
    assert_succeeded(&out);
    let json = read_report(&report);
    let calibrated = &json["assignment_group"]["calibrated"];
    assert_eq!(calibrated["threshold"], 1.0, "{calibrated}");
    assert_eq!(calibrated["calibration"]["coverage"], 0.0, "{calibrated}");
}

#[test]
fn eval_reports_how_often_near_duplicate_training_tickets_agree() {
    // Two pairs of identical tickets: one pair labelled alike, one not; the
    // other tickets have no near-duplicate.
    let dir = tempfile::tempdir().unwrap();
    let train = dir.path().join("train.csv");
    std::fs::write(
        &train,
        "id,title,description,category\n\
         P1,Printer paper jam,the floor printer has paper stuck in tray 2,hardware\n\
         P2,Printer paper jam,the floor printer has paper stuck in tray 2,facilities\n\
         V1,VPN keeps dropping,GlobalProtect VPN disconnects every few minutes at home,network\n\
         V2,VPN keeps dropping,GlobalProtect VPN disconnects every few minutes at home,network\n\
         S1,SAP user locked,SAP ERP says my user is locked,application\n\
         D1,Disk almost full,monitoring: /var filesystem on app-prd-01 is 96% full,server\n",
    )
    .unwrap();
    let report = dir.path().join("report");
    let out = switchboard_command()
        .env("SWITCHBOARD_TRIAGE__CLASSIFIER__ENABLED", "false")
        .args(["eval", "--train"])
        .arg(&train)
        .arg("--test")
        .arg(&train)
        .args(["--label", "category", "--report"])
        .arg(&report)
        .output()
        .unwrap();
    assert_succeeded(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("train labels agree on 50.0% of 2 near-duplicate pairs"),
        "{stdout}"
    );
    let agreement = &read_report(&report)["category"]["label_agreement"];
    assert_eq!(agreement["pairs"], 2, "{agreement}");
    assert_eq!(agreement["agreement"], 0.5, "{agreement}");
    assert_eq!(agreement["similarity"], 0.97, "{agreement}");
}

#[test]
fn a_label_no_row_carries_is_refused_before_any_embedding_naming_the_labels_there() {
    let dir = tempfile::tempdir().unwrap();
    let test_file = dir.path().join("known.csv");
    std::fs::write(&test_file, KNOWN).unwrap();
    let out = switchboard_command()
        .args(["eval", "--train"])
        .arg(repo().join("sample/incidents.csv"))
        .arg("--test")
        .arg(&test_file)
        .args(["--label", "category", "--label", "assigment_group"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("has the label `assigment_group`")
            && stderr.contains("assignment_group, category"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("store train"),
        "embedded before refusing: {stderr}"
    );
}
