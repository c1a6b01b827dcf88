//! The command line: every subcommand, flag and help text.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "plumb",
    version,
    about = "Flow telemetry collector and analyzer for virtualized data centres",
    long_about = "plumb collects NetFlow v5/v9, IPFIX (with VMware vDS and Open vSwitch elements) and \
sFlow v5 flow samples from your switches, and turns packet captures into flows, into a local Parquet store \
that you query with SQL: flows, sFlow interface counters and dropped-packet notifications. `plumb config check` \
checks your topology (MTUs, overlays, NIOC reservations) before any traffic.\n\n\
Start the collector on its defaults (UDP 2055, 4739 and 6343; store in ./data; metrics on \
http://127.0.0.1:9464/metrics):\n    plumb collect\n\
Ask who sent the most:\n    plumb query \"SELECT src_addr, sum(bytes) FROM flows GROUP BY 1 ORDER BY 2 DESC LIMIT 5\"",
    after_help = "Run `plumb help SUBCOMMAND` for the flags of each subcommand."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the collector: receive flow exports over UDP and store them.
    #[command(
        long_about = "Run the collector until Ctrl-C or SIGTERM; both flush every accepted row to the store before exiting.\n\n\
Every listener accepts every protocol (NetFlow v5 and v9, IPFIX, sFlow), told apart by the version field. \
Templates and sampling rates are saved to a state file and reloaded at start.\n\n\
Examples:\n    plumb collect\n    plumb collect --listen 0.0.0.0:2055 --listen [::]:4739 --data /var/lib/plumb\n    plumb collect --config /etc/plumb/plumb.toml"
    )]
    Collect(CollectArgs),
    /// Decode captures (flow exports and ordinary traffic) and raw datagram files into the store.
    #[command(long_about = "Decode files into the store with the same decoders as the collector.\n\n\
The file type is told by content: pcap/pcapng (magic bytes) or else one or more raw NetFlow/IPFIX datagrams back to \
back, from --exporter.\n\n\
In a capture, UDP datagrams on the usual export ports (2055, 2100, 4739, 4740, 6343, 9995, 9996, 9990-9992, 8096, and \
--port) are decoded as if received from each packet's source address at its capture time. Every other packet is \
walked down through its tunnels (VXLAN, GENEVE, GRE, ERSPAN, IP-in-IP; ports in [capture] of the config) and counted \
into flows keyed by the inner 5-tuple, the tunnel and its endpoints, written with source_kind 'pcap': outer and inner \
headers, and the MTU evidence (max_ip_len of the outer packet, max_inner_ip_len, df_packets, fragments, icmp_mtu from \
frag-needed and packet-too-big, full_size_retransmits, offload_packets for GSO/TSO super-packets, which are kept out \
of the lengths). --no-packets skips that part.\n\n\
Decoder state is carried across the files in argument order, so give template files before data files. \
The collector's state file is read only with --state.\n\n\
Examples:\n    plumb ingest vds_tpl.dat vds_data.dat capture.pcap --data ./data\n    \
plumb ingest node1-uplink.pcap --exporter 10.0.0.11 --data ./data\n    \
plumb query \"SELECT tunnel_type, tunnel_key, max(max_ip_len), sum(full_size_retransmits) FROM flows \
WHERE source_kind = 'pcap' GROUP BY 1, 2\"")]
    Ingest(IngestArgs),
    /// Run SQL over the store (tables `flows`, `interface_counters`, `drops`, `findings`, `flows_1m`, `interfaces_1m`).
    #[command(
        long_about = "Run one SQL statement over the store with DataFusion. Table `flows` holds one row per flow record \
(see the README for its columns), `interface_counters` one per sFlow counter sample (the device's cumulative counters) \
`drops` one per dropped packet a device reported (reason, interfaces, the packet's sizes, DF and tunnel), and \
`findings` one per finding of the collector's analyzer (kind, severity, subject, evidence, fix); `flows_1m` sums flows, packets and bytes per minute, exporter, protocol and traffic class, and `interfaces_1m` per \
minute, exporter, interface, direction ('in'/'out') and source ('flows': the flows' estimate; 'counters': what the \
interface counters moved): ask time series of those, they answer in milliseconds. `date` and `hour` are the \
partition columns of every table.\n\n\
Addresses are stored as 16 bytes and shown as text. Compare them with text and filter blocks with cidr_contains:\n    \
plumb query \"SELECT count(*) FROM flows WHERE src_addr = '10.1.2.3'\"\n    \
plumb query \"SELECT dst_addr, sum(bytes) FROM flows WHERE cidr_contains('10.0.0.0/8', src_addr) GROUP BY 1 ORDER BY 2 DESC LIMIT 5\"\n    \
plumb query \"SELECT reason, count(*) FROM drops GROUP BY reason\"\n    \
plumb query --format json \"SELECT * FROM flows LIMIT 3\"\n    \
plumb query \"SELECT date_bin(INTERVAL '5 minutes', minute) AS t, sum(bytes) FROM flows_1m GROUP BY t ORDER BY t\"\n\n\
Functions: cidr_contains(cidr, addr), ip_to_string(addr), ip(text), mac_to_string(mac); `extra['PEN/ID']` reads \
an information element that has no column (raw bytes)."
    )]
    Query(QueryArgs),
    /// Send the flow exports of a capture or raw file to a collector over UDP.
    #[command(
        long_about = "Send the NetFlow/IPFIX/sFlow datagrams of a pcap/pcapng or raw file to HOST:PORT, each original \
exporter from its own source address (127.0.0.N when sending to loopback) so template scopes stay apart.\n\n\
Examples:\n    plumb replay capture.pcap --to 127.0.0.1:4739\n    plumb replay capture.pcap --to 127.0.0.1:4739 --rate 50000 --duration 60\n    \
plumb replay capture.pcap --to 127.0.0.1:4739 --skip-templates"
    )]
    Replay(ReplayArgs),
    /// Generate a realistic day of flows as an IPFIX capture (benchmarks, pipeline tests).
    #[command(
        long_about = "Write a synthetic day of flows as a pcap of IPFIX datagrams: flows ending over 24 hours \
along a daily curve (quietest at 02:00, busiest at 14:00), Zipf-distributed source and destination hosts, about 9 % \
IPv6, TCP/UDP/ICMP on common service ports (VXLAN and Geneve among them), heavy-tailed packet counts, several \
exporters (192.0.2.1, 192.0.2.2, …) sending to 127.0.0.1:4739. The same seed gives the same file.\n\n\
Feed it to the store directly or through a running collector:\n    \
plumb generate --flows 10000000 --out day.pcap\n    plumb ingest day.pcap\n    \
plumb replay day.pcap --to 127.0.0.1:4739 --rate 20000\n\n\
--scenario mtu-drops writes devices reporting MTU drops instead (sFlow drop notifications with reason pkt_too_big, \
IPFIX records with forwardingStatus 133), stamped now, for `plumb analyze` to find:\n    \
plumb generate --scenario mtu-drops --out drops.pcap\n    plumb replay drops.pcap --to 127.0.0.1:6343\n\n\
--scenario incident writes an afternoon gone wrong, stamped around now: a vMotion saturating an ESXi host's \
25 GbE uplink and squeezing vSAN below its reservation (vDS IPFIX from 192.0.2.31), oversize and fragmented VXLAN \
and ICMP fragmentation-needed (sFlow from 192.0.2.41), and DF drops. It lights up every Grafana dashboard in \
dashboards/ when collected with the topology that names the uplinks:\n    \
plumb collect --config dashboards/demo/plumb.toml\n    \
plumb generate --scenario incident --out incident.pcap && plumb replay incident.pcap --to 127.0.0.1:4739"
    )]
    Generate(GenerateArgs),
    /// Merge the store's small flush files into large sorted files per hour, now.
    #[command(
        long_about = "Compact the store now: every hour's flush files (and compacted files under half of \
store.compaction.target_rows) are merged into one file sorted by store.compaction.sort, and each hour's per-minute \
rollups are summed into one file.\n\n\
The collector does this in the background as hours settle; run this after `plumb ingest`, or to finish a store \
before measuring queries. It is crash-safe and runs beside a collector or queries: each query sees every row \
exactly once. Only one compactor works on a store at a time.\n\n\
Example:\n    plumb compact --data ./data"
    )]
    Compact(CompactArgs),
    /// Find MTU problems and NIOC contention in the store: frag-needed, DF drops, oversize tunnel packets, black holes, saturated uplinks.
    #[command(
        long_about = "Read the store over a window and report what explains vanishing large packets and starved uplinks, each finding \
with what, where, the numbers and the fix:\n\n  \
mtu.frag_needed     a hop sent ICMP fragmentation-needed / Packet Too Big (the path's MTU)\n  \
mtu.df_drop         a device dropped packets for their size and said so (sFlow reasons 4/262, IPFIX forwardingStatus 133)\n  \
mtu.oversize_encap  tunnel packets larger than their overlay's underlay MTU ([topology] overlays)\n  \
mtu.fragmentation   fragmented tunnel packets\n  \
mtu.oversize_frame  packets above their port group's MTU intent (by VLAN)\n  \
mtu.blackhole       TCP full-size segments resent without getting through, and no ICMP\n  \
nioc.contention     an uplink at 90 % or more with classes competing, 3 of 5 minutes; each class's rate against its NIOC entitlement\n  \
nioc.reservation_at_risk  a class squeezed below its reservation during a contention\n\n\
The topology's own problems (`plumb config check`) are reported too. The exit status is 1 when a finding is at or \
above --fail-on, so a pipeline can gate on it. Offload super-packets (GSO/TSO) are kept out of the lengths.\n\n\
Examples:\n    plumb analyze\n    plumb analyze --since 24h --format json\n    \
plumb ingest node1-uplink.pcap --data /tmp/s && plumb analyze --data /tmp/s --since all --fail-on critical"
    )]
    Analyze(AnalyzeArgs),
    /// Check a configuration file: its keys, and the topology against what vSphere and the overlays allow.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Check plumb.toml (or the embedded defaults) and report every problem with the keys to change.
    #[command(
        long_about = "Read the configuration as `plumb collect` would, then check the topology before any traffic \
is seen: every name a section refers to exists; the switch carries every port group's and VMkernel adapter's MTU; \
the physical frame size carries the switch MTU; every overlay's inner MTU plus its encapsulation (VXLAN 50, GENEVE 50 \
+ options, GRE 24-42, IP-in-IP 20, WireGuard 60; +20 over IPv6) fits its underlay; NIOC reservations sum to at most \
75 % of the slowest uplink (vCenter refuses more); no reservation exceeds its limit; custom shares are 1-100.\n\n\
Each problem is a `config.invalid` finding: what is wrong, the numbers, the keys, the fix. The exit status is 1 when \
a finding is at or above --fail-on, so a pipeline can gate a change on it. Without --config the reference \
architecture is checked (valid: its 16 Gbps of reservations fit 25 GbE uplinks).\n\n\
Examples:\n    plumb config check --config /etc/plumb/plumb.toml\n    \
plumb config check --config plumb.toml --format json --fail-on critical"
    )]
    Check(ConfigCheckArgs),
}

#[derive(Args, Debug)]
pub struct ConfigCheckArgs {
    /// Configuration file (plumb.toml); the embedded defaults when omitted.
    #[arg(long, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    /// How to print the findings.
    #[arg(long, value_enum, default_value = "table")]
    pub format: ReportFormat,
    /// Exit with status 1 when a finding is at least this severe.
    #[arg(long, value_enum, default_value = "warning", value_name = "SEVERITY")]
    pub fail_on: SeverityArg,
}

#[derive(Args, Debug)]
pub struct AnalyzeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// How far back to look: 90s, 15m, 6h, 7d, or `all`.
    #[arg(long, value_name = "DURATION", default_value = "1h")]
    pub since: String,
    /// How to print the findings.
    #[arg(long, value_enum, default_value = "table")]
    pub format: ReportFormat,
    /// Exit with status 1 when a finding is at least this severe.
    #[arg(long, value_enum, default_value = "critical", value_name = "SEVERITY")]
    pub fail_on: SeverityArg,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum ReportFormat {
    /// What, where, evidence and fix, most severe first.
    Table,
    /// One JSON array of findings.
    Json,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum SeverityArg {
    Info,
    Warning,
    Critical,
}

#[derive(Args, Debug)]
pub struct CompactArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Only the hours the collector would compact now (settled, or with many flush files).
    #[arg(long)]
    pub settled_only: bool,
    /// Threads for sorting (default: every core).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// The capture to write.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Flows in the day.
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    pub flows: u64,
    /// The day (UTC) the flows end in.
    #[arg(long, value_name = "YYYY-MM-DD", default_value = "2025-03-03")]
    pub date: String,
    /// Seed of the generator: the same seed writes the same file.
    #[arg(long, value_name = "N", default_value_t = 42)]
    pub seed: u64,
    /// Exporters the flows are spread over (by source host).
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub exporters: u8,
    /// What to write: a day of flows, or devices reporting MTU drops (10 sFlow
    /// notifications with reason pkt_too_big from 192.0.2.21, 10 IPFIX records with
    /// forwardingStatus 133 from 192.0.2.22, stamped now) for testing `plumb analyze`.
    #[arg(long, value_enum, default_value = "day")]
    pub scenario: Scenario,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// A day of flows (--flows, --date, --seed, --exporters).
    Day,
    /// Devices that drop packets too big for the next hop and say so.
    MtuDrops,
    /// NIOC contention on an ESXi uplink and MTU trouble on an overlay, for the dashboards
    /// (topology: dashboards/demo/plumb.toml).
    Incident,
}

#[derive(Args, Debug)]
pub struct StoreArgs {
    /// Store folder (overrides store.data_dir).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Configuration file (plumb.toml); embedded defaults when omitted.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct CollectArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// UDP address to listen on; repeat for several. Replaces the configured list.
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Vec<SocketAddr>,
    /// Where to serve /metrics and /healthz.
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics_listen: Option<SocketAddr>,
    /// Receiving threads per listen address.
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// Decoder state file (default: DATA/state).
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Seconds between store flushes.
    #[arg(long, value_name = "SECS")]
    pub flush_interval: Option<u64>,
    /// Also capture packets on this interface (repeatable; needs root or CAP_NET_RAW):
    /// they are walked through their tunnels into flows, as `plumb ingest` does with a
    /// capture file. Replaces `[capture] interfaces` of the config.
    #[arg(long, value_name = "IF")]
    pub interface: Vec<String>,
}

#[derive(Args, Debug)]
pub struct IngestArgs {
    /// Files to decode, in order (template files before data files).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Source address for raw datagram files, and the `exporter` of the flows built from
    /// the packets of a capture (name the host it was taken on).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    pub exporter: std::net::IpAddr,
    /// Extra UDP port that carries flow exports in captures (repeatable).
    #[arg(long, value_name = "PORT")]
    pub port: Vec<u16>,
    /// Load decoder state from this file first (the collector's state file, for example).
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Read only the flow exports in captures; skip aggregating their other packets.
    #[arg(long)]
    pub no_packets: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum OutputFormat {
    Table,
    Csv,
    Json,
}

#[derive(Args, Debug)]
pub struct QueryArgs {
    /// The SQL statement.
    #[arg(value_name = "SQL")]
    pub sql: String,
    /// Store folder.
    #[arg(long, value_name = "DIR", default_value = "data")]
    pub data: PathBuf,
    /// Output format: table, csv, or json (one object per row).
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutputFormat,
    /// Print elapsed time, and rows and bytes the scans read, to stderr.
    #[arg(long)]
    pub timing: bool,
    /// Print the query plan (with --timing: the executed plan with its metrics).
    #[arg(long)]
    pub explain: bool,
}

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// pcap/pcapng or raw datagram file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Collector to send to.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:2055")]
    pub to: String,
    /// Datagrams per second; 0 sends as fast as possible.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub rate: u64,
    /// Send the file this many times (0 = until --duration ends).
    #[arg(long = "loop", value_name = "N", default_value_t = 1)]
    pub loops: u64,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Send data records only: template sets are removed and template-only datagrams skipped.
    #[arg(long)]
    pub skip_templates: bool,
    /// Make a looped file look like a live exporter: each loop after the first continues
    /// every exporter's sequence numbers where the file left them and moves the export
    /// times in the message headers on by the file's span (NetFlow v5/v9, IPFIX).
    #[arg(long)]
    pub rewrite_sequence: bool,
    /// Extra UDP port that carries flow exports in captures (repeatable).
    #[arg(long, value_name = "PORT")]
    pub port: Vec<u16>,
    /// Pin the sending thread to this CPU (benchmarks).
    #[arg(long, value_name = "CPU")]
    pub cpu: Option<usize>,
}
