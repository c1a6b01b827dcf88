//! The whole public corpus through the decoders: every file decodes without a panic, and
//! every file that holds flow records yields exactly the expected number
//! (`tests/corpus/netflow_expected.tsv`, derived from `fixtures/public/MANIFEST.md` and
//! checked against the logstash, telegraf and NetGauze expectations).

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use plumb_collector::netflow::{Decoder, DecoderConfig};

struct Row {
    order: u32,
    file: String,
    flows: usize,
}

fn expectations() -> BTreeMap<String, Vec<Row>> {
    let text = include_str!("corpus/netflow_expected.tsv");
    let mut groups: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        groups.entry(cols[0].to_string()).or_default().push(Row {
            order: cols[1].parse().unwrap(),
            file: cols[2].to_string(),
            flows: cols[3].parse().unwrap(),
        });
    }
    for rows in groups.values_mut() {
        rows.sort_by_key(|r| r.order);
    }
    groups
}

#[test]
fn every_flow_file_yields_its_expected_records() {
    let mut failures = Vec::new();
    let mut total = 0;
    for (group, rows) in expectations() {
        let mut dec = Decoder::new(DecoderConfig::default());
        for r in rows {
            let batch = common::decode_file(&mut dec, &common::public(&r.file));
            total += batch.num_rows();
            if batch.num_rows() != r.flows {
                failures.push(format!(
                    "{group}: {} gave {} records, expected {}",
                    r.file,
                    batch.num_rows(),
                    r.flows
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
    assert!(total > 750, "the corpus holds over 750 flow records, decoded {total}");
}

/// Every file under `fixtures/`, whatever it holds, through one decoder as raw datagrams
/// and as captures: no panic, and errors are counted, not thrown.
#[test]
fn no_file_of_the_corpus_panics_the_decoder() {
    let files = common::files_under(&common::fixtures());
    assert!(files.len() > 150);
    let mut dec = Decoder::new(DecoderConfig::default());
    for f in &files {
        common::decode_file(&mut dec, f);
        // Every byte of every file also as one raw datagram, whatever it is.
        let bytes = std::fs::read(f).unwrap();
        let mut out = plumb_collector::schema::FlowBuilders::with_capacity(16);
        for chunk in bytes.chunks(65_507).take(8) {
            dec.decode(chunk, [0; 16], 0, &mut out);
        }
    }
    assert!(dec.stats.total_errors() > 0, "malformed inputs are counted");
}

/// The two corrupt NetFlow v5 files are refused with a typed, counted error.
#[test]
fn corrupt_v5_headers_are_counted_errors() {
    for f in [
        "logstash-codec-netflow/netflow5_test_invalid01.dat",
        "logstash-codec-netflow/netflow5_test_invalid02.dat",
    ] {
        let mut dec = Decoder::new(DecoderConfig::default());
        let b = common::decode_file(&mut dec, &common::public(f));
        assert_eq!(b.num_rows(), 0);
        assert_eq!(dec.stats.error_count("bad_v5"), 1, "{f}");
    }
}

/// Decodes `paths` in order with the column-first path on and off.
fn both_ways(paths: &[PathBuf]) -> (Vec<arrow::array::RecordBatch>, Vec<arrow::array::RecordBatch>, usize) {
    let mut columnar = Decoder::new(DecoderConfig::default());
    let mut rows = Decoder::new(DecoderConfig { columnar: false, ..Default::default() });
    let a: Vec<_> = paths.iter().map(|p| common::decode_file(&mut columnar, p)).collect();
    let b: Vec<_> = paths.iter().map(|p| common::decode_file(&mut rows, p)).collect();
    let simple = columnar
        .state
        .to_saved()
        .templates
        .iter()
        .filter(|(_, t)| {
            plumb_collector::netflow::plan::record_plan::RecordPlan::compile(t).columnar.is_some()
        })
        .count();
    (a, b, simple)
}

fn first_difference(a: &arrow::array::RecordBatch, b: &arrow::array::RecordBatch) -> String {
    if a.num_rows() != b.num_rows() {
        return format!("{} rows against {}", a.num_rows(), b.num_rows());
    }
    for (i, f) in a.schema().fields().iter().enumerate() {
        if a.column(i) != b.column(i) {
            return format!("column {}: {:?} against {:?}", f.name(), a.column(i), b.column(i));
        }
    }
    "schema".into()
}

/// The column-first decoder gives exactly the row path's batches on every file of the
/// fixtures (the corpus groups in their template order, then every file on its own).
#[test]
fn column_first_decoding_equals_the_row_path() {
    let mut groups: Vec<Vec<PathBuf>> = expectations()
        .into_values()
        .map(|rows| rows.iter().map(|r| common::public(&r.file)).collect())
        .collect();
    let files = common::files_under(&common::fixtures());
    groups.extend(files.into_iter().map(|f| vec![f]));
    let (mut simple_templates, mut rows, mut failures) = (0, 0, Vec::new());
    for paths in &groups {
        let (a, b, simple) = both_ways(paths);
        simple_templates += simple;
        for ((x, y), p) in a.iter().zip(&b).zip(paths) {
            rows += x.num_rows();
            if x != y {
                failures.push(format!("{}: {}", p.display(), first_difference(x, y)));
            }
        }
    }
    assert!(failures.is_empty(), "{} files differ:\n{}", failures.len(), failures.join("\n"));
    assert!(simple_templates >= 20, "only {simple_templates} templates took the column-first path");
    assert!(rows > 1000, "{rows}");
}
