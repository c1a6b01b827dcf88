//! Vendor captures of the logstash NetFlow codec against the values its spec expects
//! (corpus MANIFEST section A, transcribed in `tests/goldens/logstash.json` with each value
//! checked against the bytes).

mod common;

use std::collections::HashMap;

use serde_json::Value;

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[test]
fn vendor_records_match_the_logstash_goldens() {
    let goldens: Vec<Value> = serde_json::from_str(include_str!("goldens/logstash.json")).unwrap();
    let mut vendors_checked = 0;
    let mut failures = Vec::new();
    for g in &goldens {
        let vendor = g["vendor"].as_str().unwrap();
        let files: Vec<String> =
            g["files"].as_array().unwrap().iter().map(|f| f.as_str().unwrap().to_string()).collect();
        let batches = common::decode_group(&files.iter().map(|f| common::public(f)).collect::<Vec<_>>());
        let by_file: HashMap<&str, &arrow::array::RecordBatch> =
            files.iter().map(|f| f.as_str()).zip(batches.iter()).collect();
        if let Some(counts) = g.get("flow_counts").and_then(|c| c.as_object()) {
            for (f, n) in counts {
                let got = by_file[f.as_str()].num_rows() as u64;
                if got != n.as_u64().unwrap() {
                    failures.push(format!("{vendor}: {f}: {got} flow records, expected {n}"));
                }
            }
        }
        let checks = g["checks"].as_array().unwrap();
        if !checks.is_empty() {
            vendors_checked += 1;
        }
        for c in checks {
            let file = c["file"].as_str().unwrap();
            let row = c["record"].as_u64().unwrap() as usize;
            let batch = by_file[file];
            if row >= batch.num_rows() {
                failures.push(format!("{vendor}: {file}: no record {row} ({} decoded)", batch.num_rows()));
                continue;
            }
            for (col, want) in c["expect"].as_object().unwrap() {
                if col == "extra" {
                    for (key, hex) in want.as_object().unwrap() {
                        let got = common::extra(batch, key, row).unwrap_or_default();
                        if got != as_text(hex) {
                            failures
                                .push(format!("{vendor}: {file}#{row} extra[{key}] = {got:?}, want {hex}"));
                        }
                    }
                    continue;
                }
                let got = common::cell(batch, col, row);
                if got != as_text(want) {
                    failures.push(format!("{vendor}: {file}#{row} {col} = {got:?}, want {}", as_text(want)));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
    assert!(vendors_checked >= 10, "at least ten vendors checked, got {vendors_checked}");
}
