//! `plumb collect`: listeners → decoders → batches → sinks, until Ctrl-C or SIGTERM.
//!
//! One thread per (listen address, worker) owns a socket, a decoder and Arrow builders; it
//! hands each finished batch to every sink through a bounded queue and never blocks on a
//! full one (the batch is dropped for that sink and counted). The store sink runs on its
//! own thread, the compactor and the analyzer (MTU and NIOC findings every minute) on
//! theirs. On shutdown every worker sends its last batch (blocking: nothing accepted is
//! lost), saves its decoder state, and the store commits everything.

mod analyzer;
mod capture;
mod compaction;
mod sink;
mod state;
mod worker;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};

use plumb_analyzer::classify::Classifier;
use plumb_collector::addr;
use plumb_collector::listen::bind_udp;
use plumb_collector::listen::capture::LiveCapture;
use plumb_collector::pcap::PacketFlows;
use plumb_exporters::prometheus::Metrics;
use plumb_store::FlowStore;

use crate::cli::CollectArgs;
use crate::config::Config;

pub fn run(a: CollectArgs) -> Result<()> {
    let mut cfg = Config::load(a.store.config.as_deref())?;
    let classifier = Arc::new(Classifier::new(&cfg.topology()));
    if !a.listen.is_empty() {
        cfg.collector.listen = a.listen.clone();
    }
    if let Some(w) = a.workers {
        cfg.collector.workers = w.clamp(1, 64);
    }
    if let Some(m) = a.metrics_listen {
        cfg.metrics.listen = Some(m);
    }
    if let Some(f) = a.flush_interval {
        cfg.store.flush_interval_secs = f;
    }
    if !a.interface.is_empty() {
        cfg.capture.interfaces = a.interface.clone();
    }
    // Open the interfaces before anything else starts: a missing one or a missing
    // permission is an error at start, not a log line later.
    let mut captures = Vec::new();
    for name in &cfg.capture.interfaces {
        captures.push(LiveCapture::open(name, cfg.capture_options())?);
    }
    let data = a.store.data.clone().unwrap_or_else(|| cfg.store.data_dir.clone());
    let state_dir = a
        .state
        .clone()
        .or_else(|| cfg.collector.state_file.clone().map(|p| if p.is_relative() { data.join(p) } else { p }))
        .unwrap_or_else(|| data.join("state"));
    std::fs::create_dir_all(&state_dir)
        .with_context(|| format!("cannot create state folder {}", state_dir.display()))?;

    let metrics = Arc::new(Metrics::new(cfg.metrics.max_exporters));
    metrics.declare_errors(plumb_collector::netflow::stats::error_labels());
    metrics.declare_errors(plumb_collector::sflow::stats::error_labels());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let metrics_listener = match cfg.metrics.listen {
        Some(addr) => Some(rt.block_on(plumb_exporters::prometheus::http::bind(addr))?),
        None => None,
    };
    // Signal handlers first: a SIGTERM that arrives during start-up must still flush.
    let signals = {
        let _guard = rt.enter();
        use tokio::signal::unix::{SignalKind, signal};
        (signal(SignalKind::interrupt())?, signal(SignalKind::terminate())?)
    };
    let store = FlowStore::open(cfg.store_config(&data))?;
    let shutdown = Arc::new(AtomicBool::new(false));
    let (store_tx, store_thread) = sink::spawn_store(store, cfg.collector.queue_batches, metrics.clone())?;
    let sinks = vec![sink::Sink { name: "store", tx: store_tx }];
    for s in &sinks {
        metrics.sink_batches_dropped.with_label_values(&[s.name]);
    }
    let compactor = if cfg.store.compaction.enabled {
        let interval = Duration::from_secs(cfg.store.compaction.interval_secs.max(1));
        Some(compaction::spawn(
            data.clone(),
            cfg.compaction_config(),
            interval,
            metrics.clone(),
            shutdown.clone(),
        )?)
    } else {
        None
    };

    let saved = state::load_all(&state_dir);
    let mut workers = Vec::new();
    for addr in &cfg.collector.listen {
        for i in 0..cfg.collector.workers {
            let bound = bind_udp(*addr, cfg.collector.receive_buffer_bytes, Duration::from_millis(100))?;
            if let Some(w) = &bound.warning
                && i == 0
            {
                tracing::warn!("{w}");
            }
            let label = addr.to_string();
            metrics.socket_receive_buffer.with_label_values(&[&label]).set(bound.receive_buffer as i64);
            let ctx = worker::WorkerContext {
                label,
                state_file: state_dir.join(format!("worker-{}-{i}.json", addr.port())),
                batch_rows: cfg.collector.batch_rows,
                batch_interval: Duration::from_millis(cfg.collector.batch_interval_ms.max(1)),
                state_save_interval: Duration::from_secs(cfg.collector.state_save_interval_secs.max(1)),
                metrics: metrics.clone(),
                classifier: classifier.clone(),
                sinks: sinks.clone(),
                shutdown: shutdown.clone(),
            };
            let mut dec = plumb_collector::netflow::Decoder::new(cfg.decoder_config());
            state::restore(&mut dec, &saved);
            workers.push(
                std::thread::Builder::new()
                    .name(format!("recv-{}-{i}", addr.port()))
                    .spawn(move || worker::run(bound.socket, dec, ctx))?,
            );
        }
    }
    for live in captures {
        let name = live.interface().to_string();
        let observer = addr::from_ip(cfg.capture.observer);
        let ctx = capture::CaptureContext {
            flows: PacketFlows::new(cfg.dissector(), cfg.table_config(), observer, cfg.collector.batch_rows),
            batch_interval: Duration::from_millis(cfg.collector.batch_interval_ms.max(1)),
            metrics: metrics.clone(),
            classifier: classifier.clone(),
            sinks: sinks.clone(),
            shutdown: shutdown.clone(),
        };
        tracing::info!("capturing on {name}");
        workers.push(
            std::thread::Builder::new()
                .name(format!("capture-{name}"))
                .spawn(move || capture::run(live, ctx))?,
        );
    }
    let analyzer = if cfg.analyzer.enabled {
        Some(analyzer::spawn(analyzer::AnalyzerContext {
            data: data.clone(),
            topology: cfg.topology(),
            interval: Duration::from_secs(cfg.analyzer.interval_secs),
            lookback: Duration::from_secs(cfg.analyzer.lookback_secs),
            overlap: Duration::from_secs(
                cfg.capture.active_timeout_secs.max(cfg.capture.idle_timeout_secs)
                    + cfg.collector.batch_interval_ms / 1000
                    + cfg.store.flush_interval_secs
                    + 30,
            ),
            metrics: metrics.clone(),
            sinks: sinks.clone(),
            shutdown: shutdown.clone(),
        })?)
    } else {
        super::config::warn_about_topology(&cfg);
        None
    };
    drop(sinks);
    tracing::info!(
        "listening on {} (udp), store {}, metrics {}",
        cfg.collector.listen.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", "),
        data.display(),
        cfg.metrics.listen.map(|m| format!("http://{m}/metrics")).unwrap_or_else(|| "off".into())
    );

    let result = rt.block_on(serve_until_signal(metrics_listener, metrics.clone(), signals));
    shutdown.store(true, Ordering::SeqCst);
    for w in workers {
        let _ = w.join();
    }
    // Before the store: it stops once every sender, the analyzer's too, is gone.
    if let Some(a) = analyzer {
        let _ = a.join();
    }
    let report = store_thread.join().map_err(|_| anyhow::anyhow!("store thread panicked"))??;
    if let Some(c) = compactor {
        let _ = c.join();
    }
    tracing::info!("stopped; {} rows committed in total", report);
    result
}

/// Serves metrics until SIGINT or SIGTERM.
async fn serve_until_signal(
    listener: Option<tokio::net::TcpListener>,
    metrics: Arc<Metrics>,
    (mut int, mut term): (tokio::signal::unix::Signal, tokio::signal::unix::Signal),
) -> Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = listener.map(|l| {
        tokio::spawn(plumb_exporters::prometheus::http::serve(l, metrics, async move {
            let _ = stop_rx.await;
        }))
    });
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down: flushing every accepted row");
    let _ = stop_tx.send(());
    if let Some(s) = server
        && let Ok(Err(e)) = s.await
    {
        return Err(e.into());
    }
    Ok(())
}
