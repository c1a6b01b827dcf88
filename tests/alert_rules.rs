//! The Prometheus alert rules plumb ships (`dashboards/prometheus/plumb.rules.yml`) pass
//! `promtool check rules`, and each alert fires on its scenario and not on its control
//! (`promtool test rules` on `plumb.rules.test.yml`). Every alert has a runbook section.

mod common;

use std::path::Path;
use std::process::Command;

use common::process::have;

fn promtool(args: &[&str]) -> (bool, String) {
    assert!(have("promtool"), "promtool is missing: run scripts/test.sh, which installs it");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards/prometheus");
    let out = Command::new("promtool").args(args).current_dir(dir).output().expect("running promtool");
    (
        out.status.success(),
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    )
}

#[test]
fn the_rules_are_valid_and_every_alert_passes_its_unit_test() {
    let (ok, text) = promtool(&["check", "rules", "plumb.rules.yml"]);
    assert!(ok && text.contains("SUCCESS"), "{text}");
    let (ok, text) = promtool(&["test", "rules", "plumb.rules.test.yml"]);
    assert!(ok && text.contains("SUCCESS"), "{text}");
}

#[test]
fn every_alert_has_a_unit_test_and_a_runbook_section() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards");
    let rules = std::fs::read_to_string(root.join("prometheus/plumb.rules.yml")).unwrap();
    let tests = std::fs::read_to_string(root.join("prometheus/plumb.rules.test.yml")).unwrap();
    let runbook = std::fs::read_to_string(root.join("RUNBOOK.md")).unwrap();
    let alerts: Vec<&str> = rules.lines().filter_map(|l| l.trim().strip_prefix("- alert: ")).collect();
    assert!(alerts.len() >= 9, "{alerts:?}");
    for a in alerts {
        assert!(tests.contains(&format!("alertname: {a}")), "{a} has no unit test");
        assert!(runbook.contains(&format!("## {a}")), "{a} has no runbook section");
        assert!(rules.contains(&format!("RUNBOOK.md#{}", a.to_lowercase())), "{a} does not link its runbook");
    }
}
