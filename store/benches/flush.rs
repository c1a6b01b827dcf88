//! Cost of committing flush files: rows/s through the Parquet writer for each codec, on
//! batches shaped like real IPFIX flows (a typical 15-IE template: most columns null,
//! addresses and counters set), and the bytes each codec leaves on disk.
//!
//! `cargo bench -p plumb-store --bench flush`

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

use plumb_collector::addr;
use plumb_collector::schema::{FlowBuilders, FlowRow};
use plumb_store::{Codec, FlowStore, StoreConfig};

const ROWS: usize = 262_144;

fn batch() -> arrow::array::RecordBatch {
    let mut b = FlowBuilders::with_capacity(ROWS);
    let exporter = addr::parse_text("192.0.2.1").unwrap();
    let mut x = 0x9E37_79B9u32;
    let t0 = 1_741_009_500_000_000i64;
    for i in 0..ROWS {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let t = t0 + (i as i64) * 10;
        let row = FlowRow {
            time_received: Some(t + 5_000_000),
            flow_start: Some(t - 1_000_000),
            flow_end: Some(t),
            exporter: Some(exporter),
            observation_domain: Some(1),
            source_kind: Some("ipfix"),
            sampling_rate: Some(1),
            src_addr: Some(addr::from_v4_bytes([10, (x >> 24) as u8 & 15, (x >> 16) as u8, x as u8])),
            dst_addr: Some(addr::from_v4_bytes([172, 16, (x >> 8) as u8, (x >> 3) as u8])),
            src_port: Some(1024 + (x % 60000) as u16),
            dst_port: Some([443u16, 80, 53, 22][(x % 4) as usize]),
            protocol: Some(if x % 10 < 7 { 6 } else { 17 }),
            tcp_flags: Some(0x18),
            tos: Some(0),
            bytes: Some(40 + (x % 100_000) as u64),
            bytes_reported: Some(40 + (x % 100_000) as u64),
            packets: Some(1 + (x % 70) as u64),
            packets_reported: Some(1 + (x % 70) as u64),
            in_if: Some(x % 48),
            out_if: Some((x >> 8) % 48),
            next_hop: Some(addr::from_v4_bytes([10, 0, 0, 1])),
            src_as: Some(0),
            ..Default::default()
        };
        b.append(&row, []);
    }
    b.finish()
}

fn bench(c: &mut Criterion) {
    let batch = batch();
    let mut g = c.benchmark_group("flush");
    g.sample_size(10);
    g.throughput(Throughput::Elements(ROWS as u64));
    for (name, codec) in [
        ("none", Codec::None),
        ("snappy", Codec::Snappy),
        ("lz4", Codec::Lz4),
        ("zstd1", Codec::Zstd(1)),
        ("zstd3", Codec::Zstd(3)),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = StoreConfig::new(dir.path());
        cfg.codec = codec;
        let mut store = FlowStore::open(cfg).unwrap();
        let mut bytes = 0;
        g.bench_function(BenchmarkId::new("write", name), |b| {
            b.iter(|| {
                store.push(&batch).unwrap();
                bytes = store.flush().unwrap().bytes;
            })
        });
        if bytes > 0 {
            eprintln!("flush/{name}: {:.1} bytes/row", bytes as f64 / ROWS as f64);
        }
    }
    g.finish();
}

/// Where the Parquet encoding time goes, writing to memory (no codec, no dictionary, no
/// statistics): every column, the non-null ones, the non-null ones without the 16-byte
/// address columns, and the address columns alone.
fn columns(c: &mut Criterion) {
    use arrow::datatypes::DataType;
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::{EnabledStatistics, WriterProperties};
    let batch = batch();
    let schema = batch.schema();
    let is_addr = |i: &usize| matches!(schema.field(*i).data_type(), DataType::FixedSizeBinary(_));
    let all: Vec<usize> = (0..batch.num_columns()).collect();
    let set: Vec<usize> = all.iter().copied().filter(|&i| batch.column(i).null_count() < ROWS).collect();
    let no_addr: Vec<usize> = set.iter().copied().filter(|i| !is_addr(i)).collect();
    let addr_only: Vec<usize> = set.iter().copied().filter(is_addr).collect();
    let mut g = c.benchmark_group("parquet_columns");
    g.sample_size(10);
    g.throughput(Throughput::Elements(ROWS as u64));
    let props = || {
        WriterProperties::builder()
            .set_dictionary_enabled(false)
            .set_statistics_enabled(EnabledStatistics::None)
            .build()
    };
    for (name, cols) in
        [("all", all), ("set", set), ("set_without_addresses", no_addr), ("addresses", addr_only)]
    {
        let b = batch.project(&cols).unwrap();
        g.bench_function(name, |bn| {
            bn.iter(|| {
                let mut w =
                    ArrowWriter::try_new(Vec::with_capacity(64 << 20), b.schema(), Some(props())).unwrap();
                w.write(&b).unwrap();
                w.into_inner().unwrap().len()
            })
        });
    }
}

criterion_group!(benches, bench, columns);
criterion_main!(benches);
