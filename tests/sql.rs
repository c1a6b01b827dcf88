//! SQL over a store filled from real captures: addresses typed as text, filtered on the
//! stored bytes, shown as text in every output form.

mod common;

use std::path::Path;

use arrow::array::RecordBatch;

use plumb_analyzer::query::{self, output};
use plumb_store::{FlowStore, StoreConfig};

fn store_with_vds_and_ovs(dir: &Path) {
    let mut store = FlowStore::open(StoreConfig::new(dir)).unwrap();
    let vds: Vec<_> = ["tpl", "data264", "data266", "data266_267"]
        .iter()
        .map(|f| common::public(&format!("logstash-codec-netflow/ipfix_test_vmware_vds_{f}.dat")))
        .collect();
    for b in common::decode_group(&vds) {
        store.push(&b).unwrap();
    }
    // The capture's IPFIX and NetFlow v5 rows; its sFlow samples would add 785 rows of
    // the same observation domain 0 to the cases below, which are about addresses.
    for b in common::decode_group(&[common::ovs("ovs-export.pcap")]) {
        let keep: arrow::array::BooleanArray =
            (0..b.num_rows()).map(|r| Some(common::cell(&b, "source_kind", r) != "sflow")).collect();
        store.push(&arrow::compute::filter_record_batch(&b, &keep).unwrap()).unwrap();
    }
    store.flush().unwrap();
}

fn query(dir: &Path, q: &str) -> Result<Vec<RecordBatch>, String> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let ctx = query::session::open(dir).await.map_err(|e| e.to_string())?;
        query::run(&ctx, q).await.map_err(|e| e.to_string())
    })
}

fn csv(dir: &Path, q: &str) -> String {
    let batches = query(dir, q).unwrap_or_else(|e| panic!("{q}: {e}"));
    let mut out = Vec::new();
    output::write(&mut out, &batches, output::Format::Csv).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn address_forms() {
    let dir = tempfile::tempdir().unwrap();
    store_with_vds_and_ovs(dir.path());
    let d = dir.path();
    let cases: &[(&str, &str)] = &[
        // equality with text, shown as text
        (
            "SELECT src_addr, dst_port FROM flows WHERE src_addr = '172.18.65.21' ORDER BY dst_port",
            "src_addr,dst_port\n172.18.65.21,5355\n172.18.65.21,5985\n",
        ),
        // literal on the left, and <>
        ("SELECT count(*) AS n FROM flows WHERE '172.18.65.91' = src_addr", "n\n2\n"),
        (
            "SELECT count(*) AS n FROM flows WHERE source_kind = 'ipfix' AND exporter = '127.0.0.1' AND src_addr <> '172.18.65.91' AND src_addr IS NOT NULL AND observation_domain = 0",
            "n\n3\n",
        ),
        // IN lists, IPv6 in any spelling
        (
            "SELECT count(*) AS n FROM flows WHERE src_addr IN ('172.18.65.91', 'FE80:0:0:0:5187:5cd8:d750:cdc9')",
            "n\n3\n",
        ),
        // CIDR blocks (IPv4 and IPv6)
        ("SELECT count(*) AS n FROM flows WHERE cidr_contains('172.18.0.0/16', src_addr)", "n\n4\n"),
        (
            "SELECT count(*) AS n FROM flows WHERE cidr_contains('fe80::/10', src_addr) AND observation_domain = 0",
            "n\n1\n",
        ),
        (
            "SELECT count(*) AS n FROM flows WHERE NOT cidr_contains('172.18.65.0/24', dst_addr) AND observation_domain = 0",
            "n\n2\n",
        ),
        // CAST to text, and string functions on it
        ("SELECT CAST(dst_addr AS VARCHAR) AS d FROM flows WHERE dst_port = 5985", "d\n172.18.65.211\n"),
        ("SELECT count(*) AS n FROM flows WHERE CAST(src_addr AS VARCHAR) LIKE '172.18.%'", "n\n4\n"),
        // GROUP BY on the stored bytes, output as text, IPv6 in RFC 5952 form
        (
            "SELECT src_addr, sum(bytes) AS b FROM flows WHERE observation_domain = 0 GROUP BY src_addr ORDER BY b DESC, src_addr",
            "src_addr,b\n172.18.65.91,458\n172.18.65.21,204\nfe80::5187:5cd8:d750:cdc9,144\n",
        ),
        // MACs as text, filtered as text
        (
            "SELECT DISTINCT src_mac FROM flows WHERE src_mac = '86:42:12:9C:F9:30'",
            "src_mac\n86:42:12:9c:f9:30\n",
        ),
        // OVS tunnel columns
        (
            "SELECT DISTINCT tunnel_type, tunnel_key, tunnel_src, inner_src_addr FROM flows WHERE tunnel_type = 'vxlan' AND inner_src_addr = '10.200.0.2'",
            "tunnel_type,tunnel_key,tunnel_src,inner_src_addr\nvxlan,5001,172.31.1.2,10.200.0.2\n",
        ),
        // functions directly
        ("SELECT ip_to_string(ip('2001:0db8::0001')) AS a", "a\n2001:db8::1\n"),
    ];
    let mut failures = Vec::new();
    for (q, want) in cases {
        let got = csv(d, q);
        if got != *want {
            failures.push(format!("{q}\n  want {want:?}\n  got  {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn extra_entries_are_readable() {
    let dir = tempfile::tempdir().unwrap();
    store_with_vds_and_ovs(dir.path());
    // maximumTTL (IE 53) of the vDS records has no column: raw bytes in `extra`.
    let got = csv(dir.path(), "SELECT encode(extra['0/53'], 'hex') AS ttl FROM flows WHERE dst_port = 5985");
    assert_eq!(got, "ttl\n80\n");
}

#[test]
fn filters_run_on_stored_bytes() {
    let dir = tempfile::tempdir().unwrap();
    store_with_vds_and_ovs(dir.path());
    let plan = csv(
        dir.path(),
        "EXPLAIN SELECT count(*) FROM flows WHERE src_addr = '10.1.2.3' OR cidr_contains('10.0.0.0/8', dst_addr)",
    );
    assert!(!plan.contains("ip_to_string"), "no formatting on the filter path:\n{plan}");
    assert!(
        plan.contains("src_addr = FixedSizeBinary(16, \"\"0,0,0,0,0,0,0,0,0,0,255,255,10,1,2,3\"\")"),
        "{plan}"
    );
    assert!(plan.contains("dst_addr >= FixedSizeBinary(16"), "a CIDR block is a byte range:\n{plan}");
    assert!(
        plan.contains("pruning_predicate=src_addr_null_count"),
        "statistics prune address filters:\n{plan}"
    );
}

#[test]
fn bad_sql_explains_itself() {
    let dir = tempfile::tempdir().unwrap();
    store_with_vds_and_ovs(dir.path());
    let e = query(dir.path(), "SELECT * FROM flows WHERE src_addr = 'not-an-ip'").unwrap_err();
    assert!(e.contains("not an IP address"), "{e}");
    let e =
        query(dir.path(), "SELECT * FROM flows WHERE cidr_contains('10.0.0.0/99', src_addr)").unwrap_err();
    assert!(e.contains("not a CIDR block"), "{e}");
}

#[test]
fn json_has_one_object_per_row_with_text_addresses() {
    let dir = tempfile::tempdir().unwrap();
    store_with_vds_and_ovs(dir.path());
    let batches = query(
        dir.path(),
        "SELECT src_addr, dst_addr, bytes FROM flows WHERE observation_domain = 0 ORDER BY bytes",
    )
    .unwrap();
    let mut out = Vec::new();
    output::write(&mut out, &batches, output::Format::Json).unwrap();
    let text = String::from_utf8(out).unwrap();
    let rows: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[0]["src_addr"], "172.18.65.21");
    assert_eq!(rows[4]["dst_addr"], "172.18.65.255");
}

#[test]
fn an_empty_store_is_an_empty_table() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(csv(dir.path(), "SELECT count(*) AS n FROM flows"), "n\n0\n");
}

/// The rollups answer what the raw flows answer, and take addresses as text too (the
/// README's examples).
#[test]
fn rollups_agree_with_the_flows_they_sum() {
    let dir = tempfile::tempdir().unwrap();
    store_with_vds_and_ovs(dir.path());
    let d = dir.path();
    let per_exporter = |table: &str, filter: &str| {
        csv(
            d,
            &format!(
                "SELECT exporter, sum(flows) AS flows, sum(bytes) AS bytes FROM {table} {filter} GROUP BY exporter ORDER BY exporter"
            ),
        )
    };
    let raw = csv(
        d,
        "SELECT exporter, count(*) AS flows, sum(bytes) AS bytes FROM flows GROUP BY exporter ORDER BY exporter",
    );
    assert!(raw.lines().count() >= 2, "{raw}");
    assert_eq!(per_exporter("flows_1m", ""), raw);
    assert_eq!(per_exporter("interfaces_1m", "WHERE direction = 'in'"), raw);
    assert_eq!(per_exporter("interfaces_1m", "WHERE direction = 'out'"), raw);
    let series = csv(
        d,
        "SELECT date_bin(INTERVAL '5 minutes', minute) AS t, sum(bytes) AS b FROM flows_1m WHERE exporter = '127.0.0.1' GROUP BY t ORDER BY t",
    );
    assert!(series.lines().count() > 1, "{series}");
}
