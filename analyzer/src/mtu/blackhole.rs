//! `mtu.blackhole`: the TCP signature of a path-MTU black hole (RFC 2923) in captured
//! flows. Full-size segments are resent again and again and make up a large part of the
//! flow (nothing gets through), while no hop told the sender why. Congestion resends
//! too, but among thousands of packets that arrive: a flow counts only when at least
//! one packet in [`RESENT_SHARE`] is a full-size resend. A sender that got an ICMP
//! frag-needed is doing path MTU discovery, not stuck in a black hole.

use datafusion::error::Result;
use datafusion::prelude::SessionContext;
use plumb_collector::packet::ip_protocol;

use crate::findings::{Evidence, Finding, Severity, kind};
use crate::rows::{Row, Window, query};

/// Full-size resends a flow needs at least.
pub const MIN_RESENDS: i64 = 2;
/// ... and at least one packet in this many must be one.
pub const RESENT_SHARE: i64 = 20;

pub async fn stalls(ctx: &SessionContext, w: &Window, told: &[String]) -> Result<Vec<Finding>> {
    let sql = format!(
        "SELECT ip_to_string(COALESCE(inner_src_addr, src_addr)) AS sender, \
                ip_to_string(COALESCE(inner_dst_addr, dst_addr)) AS receiver, \
                COALESCE(inner_dst_port, dst_port) AS port, tunnel_type, \
                ip_to_string(src_addr) AS outer_src, ip_to_string(dst_addr) AS outer_dst, \
                sum(full_size_retransmits) AS resends, sum(packets) AS packets, \
                max(max_ip_len) AS outer_len, max(max_inner_ip_len) AS inner_len, \
                min(time_received) AS first, max(time_received) AS last \
         FROM flows WHERE full_size_retransmits > 0 AND COALESCE(inner_protocol, protocol) = {} AND {} \
         GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY resends DESC LIMIT 1000",
        ip_protocol::TCP,
        w.predicate()
    );
    let rows = query(ctx, &sql).await?;
    Ok(rows
        .iter()
        .filter(|r| stalled(r) && !told.iter().any(|s| *s == r.name("sender") || *s == r.name("outer_src")))
        .map(finding)
        .collect())
}

fn stalled(r: &Row) -> bool {
    let (resends, packets) = (r.int("resends").unwrap_or(0), r.int("packets").unwrap_or(0));
    resends >= MIN_RESENDS && resends * RESENT_SHARE >= packets
}

fn finding(r: &Row) -> Finding {
    let (sender, receiver) = (r.name("sender"), r.name("receiver"));
    let port = r.int("port").map_or_else(String::new, |p| format!(":{p}"));
    let (resends, packets) = (r.int("resends").unwrap_or(0), r.int("packets").unwrap_or(0));
    let tunnel = r.text("tunnel_type");
    let size = match (&tunnel, r.int("inner_len"), r.int("outer_len")) {
        (Some(t), Some(inner), Some(outer)) => format!("{inner}-byte segments ({outer} bytes inside {t})"),
        (_, _, Some(outer)) => format!("{outer}-byte segments"),
        _ => "full-size segments".into(),
    };
    // The hop to find carries the outer packet: its length, and the tunnel's far end.
    let (hop_len, far_end) = match &tunnel {
        Some(_) => (r.int("outer_len"), r.name("outer_dst")),
        None => (r.int("outer_len"), receiver.clone()),
    };
    let mut evidence =
        vec![Evidence::new("full_size_resends", resends as f64), Evidence::new("packets", packets as f64)];
    if let Some(l) = tunnel.as_ref().and(r.int("inner_len")) {
        evidence.push(Evidence::new("segment_ip_len", l as f64));
    }
    if let Some(l) = hop_len {
        evidence.push(Evidence::new("outer_ip_len", l as f64));
    }
    Finding {
        kind: kind::MTU_BLACKHOLE,
        rule: "tcp_full_size_resends",
        severity: Severity::Critical,
        subject: format!("TCP from {sender} to {receiver}{port}"),
        keys: Vec::new(),
        evidence,
        explanation: format!(
            "{sender} resent {size} {resends} times in a flow of {packets} packets without getting them through, and no hop sent ICMP fragmentation-needed: a path-MTU black hole. Small packets pass, large ones vanish."
        ),
        fix: format!(
            "find the hop whose MTU is below {} (tracepath {far_end}); raise its MTU, let ICMP fragmentation-needed through to {sender}, or clamp the TCP MSS on this path",
            hop_len.map_or_else(|| "the segment size".to_string(), |l| format!("{l} bytes"))
        ),
        first_us: r.int("first"),
        last_us: r.int("last"),
    }
}
