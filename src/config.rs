//! `plumb.toml`: every key, its default, and how it is checked. `plumb.example.toml`
//! documents the same keys for users; a test keeps the two in step.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use plumb_analyzer::topology::Topology;
use plumb_collector::addr::{self, Addr16};
use plumb_collector::listen::capture::CaptureOptions;
use plumb_collector::netflow::state::StateLimits;
use plumb_collector::netflow::{DecoderConfig, SamplingOverride};
use plumb_collector::packet::dissect::{Dissector, MAX_TUNNEL_PORTS, MAX_TUNNELS, UdpTunnel};
use plumb_collector::packet::{geneve, vxlan};
use plumb_collector::pcap::TableConfig;
use plumb_store::{Codec, CompactionConfig, StoreConfig};

/// The ports plumb listens on by default: NetFlow (2055), IPFIX (4739), sFlow (6343).
pub const DEFAULT_LISTEN: [&str; 3] = ["0.0.0.0:2055", "0.0.0.0:4739", "0.0.0.0:6343"];

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub collector: Collector,
    pub store: Store,
    pub metrics: Metrics,
    pub analyzer: Analyzer,
    pub decoder: Decoder,
    pub capture: Capture,
    pub sampling: Vec<Sampling>,
    /// `None` when the file has no `[topology]`: the reference architecture applies.
    pub topology: Option<Topology>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Collector {
    pub listen: Vec<SocketAddr>,
    pub workers: usize,
    pub receive_buffer_bytes: usize,
    pub batch_rows: usize,
    pub batch_interval_ms: u64,
    pub queue_batches: usize,
    pub state_file: Option<PathBuf>,
    pub state_save_interval_secs: u64,
}

impl Default for Collector {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN.iter().map(|s| s.parse().expect("valid default")).collect(),
            workers: 1,
            receive_buffer_bytes: 32 << 20,
            batch_rows: 65_536,
            batch_interval_ms: 1_000,
            queue_batches: 16,
            state_file: None,
            state_save_interval_secs: 60,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Store {
    pub data_dir: PathBuf,
    pub flush_interval_secs: u64,
    pub max_buffered_rows: usize,
    pub codec: String,
    pub compaction: Compaction,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Compaction {
    pub enabled: bool,
    pub interval_secs: u64,
    pub settle_secs: u64,
    pub max_flush_files: usize,
    pub target_rows: u64,
    pub memory_limit_bytes: usize,
    pub codec: String,
    pub row_group_rows: usize,
    pub sort: Vec<String>,
}

impl Default for Compaction {
    fn default() -> Self {
        let d = CompactionConfig::default();
        Self {
            enabled: true,
            interval_secs: 30,
            settle_secs: d.settle.as_secs(),
            max_flush_files: d.max_flush_files,
            target_rows: d.target_rows,
            memory_limit_bytes: d.memory_limit,
            codec: "lz4".into(),
            row_group_rows: d.row_group_rows,
            sort: d.sort,
        }
    }
}

impl Default for Store {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            flush_interval_secs: 10,
            max_buffered_rows: 1 << 18,
            codec: "lz4".into(),
            compaction: Compaction::default(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Metrics {
    pub listen: Option<SocketAddr>,
    pub max_exporters: usize,
}

impl Default for Metrics {
    fn default() -> Self {
        Self { listen: Some("127.0.0.1:9464".parse().expect("valid default")), max_exporters: 64 }
    }
}

/// The collector's analyzer thread.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Analyzer {
    pub enabled: bool,
    pub interval_secs: u64,
    pub lookback_secs: u64,
}

impl Default for Analyzer {
    fn default() -> Self {
        Self { enabled: true, interval_secs: 60, lookback_secs: 360 }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Decoder {
    pub max_templates: usize,
    pub pending_max_bytes: usize,
    pub pending_max_sets: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        let d = DecoderConfig::default();
        Self {
            max_templates: d.limits.max_templates,
            pending_max_bytes: d.pending_max_bytes,
            pending_max_sets: d.pending_max_sets,
        }
    }
}

/// Packet captures (`plumb ingest` of ordinary traffic, `plumb collect --interface`): how
/// tunnels are recognised and how packets become flows.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Capture {
    /// Interfaces `plumb collect` captures on (`--interface` replaces the list).
    pub interfaces: Vec<String>,
    /// The `exporter` of flows from captured packets: the host that captured them.
    pub observer: IpAddr,
    pub snaplen: u32,
    pub buffer_bytes: u32,
    pub promiscuous: bool,
    pub vxlan_ports: Vec<u16>,
    pub geneve_ports: Vec<u16>,
    pub max_tunnels: usize,
    pub idle_timeout_secs: u64,
    pub active_timeout_secs: u64,
    pub max_flows: usize,
}

impl Default for Capture {
    fn default() -> Self {
        let t = TableConfig::default();
        let o = CaptureOptions::default();
        Self {
            interfaces: Vec::new(),
            observer: IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            snaplen: o.snaplen as u32,
            buffer_bytes: o.buffer_bytes as u32,
            promiscuous: o.promiscuous,
            vxlan_ports: vxlan::PORTS.to_vec(),
            geneve_ports: vec![geneve::PORT],
            max_tunnels: MAX_TUNNELS,
            idle_timeout_secs: (t.idle_us / 1_000_000) as u64,
            active_timeout_secs: (t.active_us / 1_000_000) as u64,
            max_flows: t.max_flows,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sampling {
    pub exporter: IpAddr,
    pub rate: u32,
    /// The rate is a vSphere Distributed Switch samplingRate: factor = rate + 1.
    #[serde(default)]
    pub vds: bool,
    #[serde(default)]
    pub force: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl Config {
    /// Reads `path`; with `None`, the embedded defaults.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let Some(path) = path else {
            return Ok(Config::default());
        };
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.into(), source })?;
        Self::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let cfg: Config = toml::from_str(text)
            .map_err(|e| ConfigError::Parse { path: path.into(), message: e.to_string() })?;
        cfg.validate().map_err(|message| ConfigError::Invalid { path: path.into(), message })?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), String> {
        if self.collector.workers == 0 || self.collector.workers > 64 {
            return Err("collector.workers must be between 1 and 64".into());
        }
        if self.analyzer.interval_secs == 0 || !(60..=7 * 86_400).contains(&self.analyzer.lookback_secs) {
            return Err("analyzer: interval_secs must be at least 1 and lookback_secs between 60 (one rollup minute) and 604800 (a week)".into());
        }
        if self.collector.batch_rows == 0 || self.collector.batch_rows > 1 << 20 {
            return Err("collector.batch_rows must be between 1 and 1048576".into());
        }
        if self.collector.queue_batches == 0 {
            return Err("collector.queue_batches must be at least 1".into());
        }
        if Codec::parse(&self.store.codec).is_none() {
            return Err(format!(
                "store.codec = {:?}: use none, snappy, lz4, zstd or zstd:LEVEL (1-22)",
                self.store.codec
            ));
        }
        let c = &self.store.compaction;
        if Codec::parse(&c.codec).is_none() {
            return Err(format!(
                "store.compaction.codec = {:?}: use none, snappy, lz4, zstd or zstd:LEVEL (1-22)",
                c.codec
            ));
        }
        if c.target_rows == 0 || c.row_group_rows == 0 || c.max_flush_files == 0 {
            return Err(
                "store.compaction: target_rows, row_group_rows and max_flush_files must be at least 1".into(),
            );
        }
        if c.memory_limit_bytes < 16 << 20 {
            return Err("store.compaction.memory_limit_bytes must be at least 16777216 (16 MiB)".into());
        }
        for col in &c.sort {
            if plumb_collector::schema::flows_schema().index_of(col).is_err() {
                return Err(format!(
                    "store.compaction.sort names {col:?}, which is not a flows column (see `plumb query \"DESCRIBE flows\"`)"
                ));
            }
        }
        let cap = &self.capture;
        if cap.vxlan_ports.len() + cap.geneve_ports.len() + 2 > MAX_TUNNEL_PORTS {
            return Err(format!("capture: at most {} VXLAN and GENEVE ports in all", MAX_TUNNEL_PORTS - 2));
        }
        if cap.max_tunnels == 0 || cap.max_tunnels > MAX_TUNNELS {
            return Err(format!("capture.max_tunnels must be between 1 and {MAX_TUNNELS}"));
        }
        if cap.idle_timeout_secs == 0 || cap.active_timeout_secs == 0 || cap.max_flows == 0 {
            return Err(
                "capture: idle_timeout_secs, active_timeout_secs and max_flows must be at least 1".into()
            );
        }
        for s in &self.sampling {
            if s.rate == 0 && !s.vds {
                return Err(format!("sampling for {}: rate must be at least 1 (1 = unsampled)", s.exporter));
            }
        }
        Ok(())
    }

    /// The topology the analyzer judges traffic against: the file's, or the reference
    /// architecture.
    pub fn topology(&self) -> Topology {
        self.topology.clone().unwrap_or_else(Topology::reference)
    }

    pub fn decoder_config(&self) -> DecoderConfig {
        let overrides: HashMap<Addr16, SamplingOverride> = self
            .sampling
            .iter()
            .map(|s| {
                let factor = if s.vds { s.rate.saturating_add(1) } else { s.rate };
                (addr::from_ip(s.exporter), SamplingOverride { factor, force: s.force })
            })
            .collect();
        DecoderConfig {
            limits: StateLimits { max_templates: self.decoder.max_templates, ..StateLimits::default() },
            pending_max_bytes: self.decoder.pending_max_bytes,
            pending_max_sets: self.decoder.pending_max_sets,
            sampling_overrides: overrides,
            dissector: self.dissector(),
            ..DecoderConfig::default()
        }
    }

    /// The packet walk: the default tunnel ports with the configured VXLAN and GENEVE ones.
    pub fn dissector(&self) -> Dissector {
        let c = &self.capture;
        let mut d = Dissector::default().with_max_tunnels(c.max_tunnels);
        for &p in &c.vxlan_ports {
            d.add_port(p, UdpTunnel::Vxlan);
        }
        for &p in &c.geneve_ports {
            d.add_port(p, UdpTunnel::Geneve);
        }
        d
    }

    pub fn capture_options(&self) -> CaptureOptions {
        let c = &self.capture;
        CaptureOptions {
            snaplen: c.snaplen.clamp(64, 262_144) as i32,
            buffer_bytes: c.buffer_bytes.clamp(1 << 20, 1 << 30) as i32,
            promiscuous: c.promiscuous,
            ..CaptureOptions::default()
        }
    }

    pub fn table_config(&self) -> TableConfig {
        let c = &self.capture;
        TableConfig {
            idle_us: c.idle_timeout_secs.saturating_mul(1_000_000).min(i64::MAX as u64) as i64,
            active_us: c.active_timeout_secs.saturating_mul(1_000_000).min(i64::MAX as u64) as i64,
            max_flows: c.max_flows,
        }
    }

    pub fn store_config(&self, data_dir: &Path) -> StoreConfig {
        let mut s = StoreConfig::new(data_dir);
        s.flush_interval = std::time::Duration::from_secs(self.store.flush_interval_secs.max(1));
        s.max_buffered_rows = self.store.max_buffered_rows.max(1);
        s.codec = Codec::parse(&self.store.codec).unwrap_or(Codec::Lz4);
        s
    }

    pub fn compaction_config(&self) -> CompactionConfig {
        let c = &self.store.compaction;
        CompactionConfig {
            settle: std::time::Duration::from_secs(c.settle_secs),
            max_flush_files: c.max_flush_files,
            target_rows: c.target_rows,
            memory_limit: c.memory_limit_bytes,
            codec: Codec::parse(&c.codec).unwrap_or(Codec::Lz4),
            row_group_rows: c.row_group_rows,
            sort: c.sort.clone(),
            ..CompactionConfig::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_parses_and_matches_the_defaults_it_documents() {
        let text = include_str!("../plumb.example.toml");
        let cfg = Config::parse(text, Path::new("plumb.example.toml")).unwrap();
        let d = Config::default();
        assert_eq!(cfg.collector.listen, d.collector.listen);
        assert_eq!(cfg.collector.receive_buffer_bytes, d.collector.receive_buffer_bytes);
        assert_eq!(cfg.store.flush_interval_secs, d.store.flush_interval_secs);
        let (c, dc) = (&cfg.store.compaction, &d.store.compaction);
        assert_eq!(
            (c.enabled, c.interval_secs, c.settle_secs),
            (dc.enabled, dc.interval_secs, dc.settle_secs)
        );
        assert_eq!(
            (c.max_flush_files, c.target_rows, c.row_group_rows),
            (dc.max_flush_files, dc.target_rows, dc.row_group_rows)
        );
        assert_eq!((&c.codec, &c.sort, c.memory_limit_bytes), (&dc.codec, &dc.sort, dc.memory_limit_bytes));
        assert_eq!(cfg.metrics.listen, d.metrics.listen);
        let (a, da) = (&cfg.analyzer, &d.analyzer);
        assert_eq!(
            (a.enabled, a.interval_secs, a.lookback_secs),
            (da.enabled, da.interval_secs, da.lookback_secs)
        );
        let (c, dc) = (&cfg.capture, &d.capture);
        assert_eq!(
            (&c.vxlan_ports, &c.geneve_ports, c.max_tunnels),
            (&dc.vxlan_ports, &dc.geneve_ports, dc.max_tunnels)
        );
        assert_eq!(
            (c.idle_timeout_secs, c.active_timeout_secs, c.max_flows),
            (dc.idle_timeout_secs, dc.active_timeout_secs, dc.max_flows)
        );
        assert_eq!((&c.interfaces, c.observer, c.snaplen), (&dc.interfaces, dc.observer, dc.snaplen));
        assert_eq!((c.buffer_bytes, c.promiscuous), (dc.buffer_bytes, dc.promiscuous));
        assert_eq!(cfg.sampling.len(), 1);
        let dc = cfg.decoder_config();
        let vds = dc.sampling_overrides.values().next().unwrap();
        assert_eq!(vds.factor, 4096);
        assert!(cfg.topology.is_some(), "the example spells out the topology");
        assert_eq!(cfg.topology(), d.topology(), "the example's topology is the reference architecture");
    }

    #[test]
    fn a_topology_section_replaces_the_reference_whole() {
        let text = "[topology]\n[[topology.switches]]\nname = \"br-int\"\nkind = \"ovs\"\nmtu = 1500\n";
        let t = Config::parse(text, Path::new("x.toml")).unwrap().topology();
        assert_eq!(t.switches.len(), 1);
        assert!(t.uplinks.is_empty() && t.nioc.is_empty(), "nothing of the reference is mixed in");
        let err = Config::parse(
            "[topology]\n[[topology.uplinks]]\nname = \"vmnic0\"\nswitch = \"a\"\nspeed = 10\n",
            Path::new("x.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("speed") && err.contains("line"), "{err}");
    }

    #[test]
    fn unknown_keys_are_named_with_their_line() {
        let err =
            Config::parse("[store]\nflush_intervall = 3\n", Path::new("x.toml")).unwrap_err().to_string();
        assert!(err.contains("flush_intervall"), "{err}");
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn bad_values_say_what_to_do() {
        let err = Config::parse("[store]\ncodec = \"gzip\"\n", Path::new("x.toml")).unwrap_err().to_string();
        assert!(err.contains("zstd"), "{err}");
    }
}
