//! `plumb ingest`: files through the collector's decoders into the store. Flow-export
//! datagrams go to the NetFlow/IPFIX decoder; every other packet of a capture goes through
//! the packet layer into flows of its own (`source_kind = 'pcap'`).

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};

use plumb_analyzer::classify::Classifier;
use plumb_collector::addr;
use plumb_collector::netflow::Decoder;
use plumb_collector::pcap::PacketFlows;
use plumb_collector::schema::{FlowBuilders, Table, TableBatch};
use plumb_store::{FlowStore, FlushReport};

use crate::cli::IngestArgs;
use crate::config::Config;
use crate::input;

/// Rows per batch handed to the store.
const BATCH_ROWS: usize = 65_536;
/// The progress line counts packets in steps of this many.
const PROGRESS_FRAMES: u64 = 1 << 16;

pub fn run(a: IngestArgs) -> Result<()> {
    let cfg = Config::load(a.store.config.as_deref())?;
    let data = a.store.data.clone().unwrap_or_else(|| cfg.store.data_dir.clone());
    let mut store = FlowStore::open(cfg.store_config(&data))?;
    let mut dec = Decoder::new(cfg.decoder_config());
    let classifier = Classifier::new(&cfg.topology());
    if let Some(state) = &a.state {
        dec.state.load(state).with_context(|| format!("cannot load decoder state {}", state.display()))?;
    }
    let total: u64 = a.files.iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum();
    let bar = if a.quiet { ProgressBar::hidden() } else { ProgressBar::new(total) };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut out = FlowBuilders::with_capacity(BATCH_ROWS);
    let observer = addr::from_ip(a.exporter);
    let mut packets =
        (!a.no_packets).then(|| PacketFlows::new(cfg.dissector(), cfg.table_config(), observer, BATCH_ROWS));
    let (mut datagrams, mut records, mut lost) = (0u64, 0u64, 0u64);
    let started = std::time::Instant::now();
    // The store flushes on its own when its buffer fills: every flush counts.
    let mut committed = FlushReport::default();
    for path in &a.files {
        bar.set_message(path.display().to_string());
        let mut store_err = None;
        let mut push = |batch: &TableBatch| {
            if store_err.is_none() {
                match store.push_table(batch) {
                    Ok(flushed) => committed.add(flushed),
                    Err(e) => store_err = Some(e),
                }
            }
        };
        let summary = input::for_each_item(
            path,
            a.exporter,
            &a.port,
            |n| bar.inc(n),
            |item| match item {
                input::Item::Datagram(d) => {
                    let received = d.ts_us.unwrap_or_else(super::now_us);
                    let o = dec.decode(d.payload, addr::from_ip(d.src), received, &mut out);
                    datagrams += 1;
                    records += o.records;
                    lost += o.lost;
                    if out.len() >= BATCH_ROWS {
                        push(&TableBatch::new(Table::Flows, classifier.classify(out.finish())));
                    }
                    if dec.side_rows() >= BATCH_ROWS {
                        dec.finish_side_tables().iter().for_each(&mut push);
                    }
                }
                input::Item::Packet(frame) => {
                    let Some(p) = packets.as_mut() else { return };
                    if let Some(batch) = p.frame(&frame) {
                        push(&TableBatch::new(Table::Flows, classifier.classify(batch)));
                    }
                    if p.stats.frames % PROGRESS_FRAMES == 0 {
                        let rate = p.stats.frames as f64 / started.elapsed().as_secs_f64().max(1e-3);
                        bar.set_message(format!(
                            "{} · {} packets ({rate:.0}/s)",
                            path.display(),
                            p.stats.frames
                        ));
                    }
                }
            },
        )?;
        if let Some(e) = store_err {
            return Err(e).context("writing the store failed");
        }
        if summary.unreadable_frames > 0 {
            bar.suspend(|| {
                eprintln!(
                    "plumb: {}: {} of {} frames could not be read as flow exports: a malformed or cut-short link, IP or UDP header, or a link type plumb does not read",
                    path.display(),
                    summary.unreadable_frames,
                    summary.frames
                )
            });
        }
        if summary.capture && summary.datagrams == 0 && packets.is_none() {
            bar.suspend(|| {
                eprintln!(
                    "plumb: {}: no flow exports on ports {:?} (add yours with --port)",
                    path.display(),
                    input::EXPORT_PORTS
                )
            });
        }
    }
    if !out.is_empty() {
        committed.add(store.push(&classifier.classify(out.finish()))?);
    }
    for side in dec.finish_side_tables() {
        committed.add(store.push_table(&side)?);
    }
    if let Some(p) = packets.as_mut() {
        let rows = p.finish();
        if rows.num_rows() > 0 {
            committed.add(store.push(&classifier.classify(rows))?);
        }
    }
    committed.add(Some(store.flush()?));
    let report = committed;
    bar.finish_and_clear();
    let s = dec.stats.take();
    println!(
        "ingested {} files: {datagrams} datagrams, {records} flow records, {} rows in {} files ({} bytes) under {}",
        a.files.len(),
        report.rows,
        report.files,
        report.bytes,
        data.display()
    );
    let by_table: Vec<String> = Table::ALL
        .iter()
        .filter(|&&t| t != Table::Flows && report.rows_by_table[t as usize] > 0)
        .map(|&t| format!("{} {}", t.name(), report.rows_by_table[t as usize]))
        .collect();
    if !by_table.is_empty() {
        println!("of those rows, beside flows: {}", by_table.join(", "));
    }
    println!(
        "templates {}, options records {}, data sets held for a template {} (released {} records, still waiting {}, evicted {}), \
sequence loss {lost} (resets {}), rows with unknown sampling {}, rows filed by receive time {}",
        s.templates_received,
        s.options_records,
        s.sets_held,
        s.records_released,
        dec.pending_sets(),
        s.sets_evicted,
        s.sequence_resets,
        s.records_unknown_sampling,
        store.implausible_rows,
    );
    if let Some(p) = packets.as_ref().filter(|p| p.stats.frames > 0) {
        print_packets(p);
    }
    let errors: Vec<String> =
        s.errors.iter().map(|(l, n)| format!("{} {} {n}", l.protocol, l.reason)).collect();
    if !errors.is_empty() {
        println!("decode errors: {}", errors.join(", "));
    }
    if report.files > 0 && !a.quiet {
        eprintln!(
            "hint: `plumb compact --data {}` merges these files into one sorted file per hour, for faster queries \
(a running collector does it by itself)",
            data.display()
        );
    }
    Ok(())
}

/// The packet path's summary: packets, flows and why they ended, what could not be read.
fn print_packets(p: &PacketFlows) {
    let t = &p.table.stats;
    println!(
        "packets {}: {} flows (ended idle {}, active timeout {}, FIN/RST {}, end of input {}, evicted {}), \
not IP {}, tunnel ports without a tunnel {}",
        p.stats.frames,
        t.rows(),
        t.ended_idle,
        t.ended_active,
        t.ended_fin,
        t.ended_forced,
        t.evicted,
        t.non_ip_packets,
        p.stats.not_a_tunnel,
    );
    let errors: Vec<String> = p.stats.errors.iter().map(|(l, n)| format!("{} {n}", l.reason)).collect();
    if !errors.is_empty() {
        println!("packets cut short or malformed (kept up to the bad header): {}", errors.join(", "));
    }
}
