//! Helpers shared by the end-to-end tests: where the repository's fixtures are, decoding
//! files the way `plumb ingest` does, reading columns back as text, and saying so when a
//! test cannot run its real part here ([`skip`]).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use arrow::array::{Array, RecordBatch};
use arrow::util::display::{ArrayFormatter, FormatOptions};

pub mod process;
pub mod skip;

use plumb_collector::addr;
use plumb_collector::netflow::{Decoder, DecoderConfig};
use plumb_collector::packet::datagram::outer_udp;
use plumb_collector::pcap;
use plumb_collector::schema::{FlowBuilders, Table};

/// The repository's `fixtures/` folder (provenance and licences in `fixtures/MANIFEST.md`).
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// A file of the public corpus, `fixtures/public/REL`.
pub fn public(rel: &str) -> PathBuf {
    fixtures().join("public").join(rel)
}

/// A file recorded from a real Open vSwitch, `fixtures/ovs/REL`.
pub fn ovs(rel: &str) -> PathBuf {
    fixtures().join("ovs").join(rel)
}

/// Every file below `dir`, sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let (mut files, mut stack) = (Vec::new(), vec![dir.to_path_buf()]);
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let p = e.unwrap().path();
            if p.is_dir() { stack.push(p) } else { files.push(p) }
        }
    }
    files.sort();
    files
}

/// Export ports `plumb ingest` looks at in captures.
pub const EXPORT_PORTS: &[u16] = &[2055, 2100, 4739, 4740, 6343, 9995, 9996, 9990, 9991, 9992, 8096];

/// Decodes one file (capture or raw datagrams) with `dec`; returns its rows.
pub fn decode_file(dec: &mut Decoder, path: &Path) -> RecordBatch {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = FlowBuilders::with_capacity(1024);
    if pcap::is_capture(&bytes) {
        let _ = pcap::for_each_frame(&bytes[..], |f| {
            let Ok(Some(u)) = outer_udp(f.linktype, f.data) else {
                return;
            };
            if EXPORT_PORTS.contains(&u.dst_port) || EXPORT_PORTS.contains(&u.src_port) {
                dec.decode(u.payload, addr::from_ip(u.src), f.ts_us, &mut out);
            }
        });
    } else {
        let ex = addr::parse_text("127.0.0.1").unwrap();
        dec.decode(&bytes, ex, 1_700_000_000_000_000, &mut out);
    }
    out.finish()
}

/// Decodes files in order through one decoder; returns each file's rows.
pub fn decode_group(paths: &[PathBuf]) -> Vec<RecordBatch> {
    let mut dec = Decoder::new(DecoderConfig::default());
    paths.iter().map(|p| decode_file(&mut dec, p)).collect()
}

/// Decodes files in order through one decoder; returns the rows of `table` (one of the
/// tables beside `flows`), in order.
pub fn decode_side_table(paths: &[PathBuf], table: Table) -> Vec<RecordBatch> {
    let mut dec = Decoder::new(DecoderConfig::default());
    let mut out = Vec::new();
    for p in paths {
        decode_file(&mut dec, p);
        out.extend(
            dec.finish_side_tables().into_iter().filter(|b| b.table == table).map(|b| (*b.batch).clone()),
        );
    }
    out
}

/// (batch, row) of every row of `batches`, in order.
pub fn rows_of(batches: &[RecordBatch]) -> Vec<(usize, usize)> {
    batches.iter().enumerate().flat_map(|(b, batch)| (0..batch.num_rows()).map(move |r| (b, r))).collect()
}

/// A cell as text: addresses as IP text, MACs as aa:bb:.., timestamps as RFC 3339 with
/// milliseconds, null as "".
pub fn cell(batch: &RecordBatch, column: &str, row: usize) -> String {
    let col = batch.column_by_name(column).unwrap_or_else(|| panic!("no column {column}"));
    if col.is_null(row) {
        return String::new();
    }
    match col.data_type() {
        arrow::datatypes::DataType::FixedSizeBinary(16) => {
            let a = col.as_any().downcast_ref::<arrow::array::FixedSizeBinaryArray>().unwrap();
            let mut s = String::new();
            addr::write_text(a.value(row).try_into().unwrap(), &mut s);
            s
        }
        arrow::datatypes::DataType::FixedSizeBinary(6) => {
            let a = col.as_any().downcast_ref::<arrow::array::FixedSizeBinaryArray>().unwrap();
            let mut s = String::new();
            addr::write_mac(a.value(row), &mut s);
            s
        }
        arrow::datatypes::DataType::Timestamp(_, _) => {
            let a = col.as_any().downcast_ref::<arrow::array::TimestampMicrosecondArray>().unwrap();
            let us = a.value(row);
            let secs = us.div_euclid(1_000_000);
            let ms = us.rem_euclid(1_000_000) / 1000;
            format!("{}.{:03}Z", rfc3339_secs(secs), ms)
        }
        _ => {
            let opts = FormatOptions::default();
            ArrayFormatter::try_new(col.as_ref(), &opts).unwrap().value(row).to_string()
        }
    }
}

/// The raw bytes of an `extra` entry as lower-case hex, if present.
pub fn extra(batch: &RecordBatch, key: &str, row: usize) -> Option<String> {
    let m = batch.column_by_name("extra").unwrap();
    let m = m.as_any().downcast_ref::<arrow::array::MapArray>().unwrap();
    let entries = m.value(row);
    let keys = entries.column(0).as_any().downcast_ref::<arrow::array::StringArray>().unwrap();
    let vals = entries.column(1).as_any().downcast_ref::<arrow::array::BinaryArray>().unwrap();
    (0..keys.len())
        .find(|&i| keys.value(i) == key)
        .map(|i| vals.value(i).iter().map(|b| format!("{b:02x}")).collect())
}

fn rfc3339_secs(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S").to_string())
        .unwrap_or_else(|| format!("{secs}s"))
}
