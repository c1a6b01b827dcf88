//! `plumb config check` as a user runs it: the shipped defaults and the example file pass;
//! the reference NIOC reservations on 10 GbE uplinks, and an overlay too large for its
//! underlay, fail with the keys to change, in the report and in JSON.

mod common;

use std::path::Path;
use std::process::Output;

use common::process::plumb;

fn check(args: &[&str]) -> Output {
    plumb().args(["config", "check"]).args(args).output().expect("running plumb")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// The example file with `from` replaced by `to` (which must occur).
fn example_with(dir: &Path, from: &str, to: &str) -> String {
    let example = include_str!("../plumb.example.toml");
    assert!(example.contains(from), "the example has {from:?}");
    let path = dir.join("plumb.toml");
    std::fs::write(&path, example.replace(from, to)).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn the_defaults_and_the_example_file_are_valid() {
    let o = check(&[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "no findings");
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/plumb.example.toml");
    let o = check(&["--config", example, "--fail-on", "info"]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn reservations_on_10_gbe_are_refused_with_the_keys_to_change() {
    let dir = tempfile::tempdir().unwrap();
    let file = example_with(dir.path(), "speed_mbps = 25000", "speed_mbps = 10000");
    let o = check(&["--config", &file]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let report = String::from_utf8_lossy(&o.stdout);
    assert!(
        report.starts_with("CRITICAL config.invalid nioc_reservation_over_75pct — nioc dvs-prod"),
        "{report}"
    );
    assert!(
        report.contains("reserved_mbps = 16000, slowest_uplink_mbps = 10000, allowed_mbps = 7500"),
        "{report}"
    );
    assert!(report.contains("topology.nioc[0].traffic[2].reservation_mbps"), "{report}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("1 finding at or above warning"), "{}", text(&o));

    let o = check(&["--config", &file, "--format", "json"]);
    let found: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON findings");
    let found = found.as_array().unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["kind"], "config.invalid");
    assert_eq!(found[0]["severity"], "critical");
    assert_eq!(found[0]["keys"][3], "topology.uplinks[0].speed_mbps");
}

#[test]
fn an_overlay_too_large_for_its_underlay_and_the_fail_on_threshold() {
    let dir = tempfile::tempdir().unwrap();
    // Flannel pods at 1500 over a 1500 underlay: 50 bytes too many.
    let file = example_with(dir.path(), "port = 8472\ninner_mtu = 1450", "port = 8472\ninner_mtu = 1500");
    let o = check(&["--config", &file]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let report = String::from_utf8_lossy(&o.stdout);
    assert!(report.contains("overlay_mtu — overlay flannel"), "{report}");
    assert!(report.contains("gap_bytes = 50"), "{report}");
    assert!(report.contains("topology.overlays[2].inner_mtu"), "{report}");
    // A warning alone passes --fail-on critical.
    let file = example_with(
        dir.path(),
        "name = \"vmk1\"\nport_group = \"vMotion\"\nmtu = 9000",
        "name = \"vmk1\"\nport_group = \"vMotion\"\nmtu = 1500",
    );
    let o = check(&["--config", &file, "--fail-on", "critical"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .starts_with("WARNING  config.invalid vmkernel_mtu_below_port_group"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_misspelt_topology_key_names_itself_and_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = example_with(dir.path(), "reservation_mbps = 5000", "reservation_mpbs = 5000");
    let o = check(&["--config", &file]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("reservation_mpbs") && err.contains("line"), "{err}");
}
