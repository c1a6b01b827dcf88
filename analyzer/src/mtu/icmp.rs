//! `mtu.frag_needed`: a hop could not forward a DF packet and said so (ICMP type 3 code 4
//! with its next-hop MTU, or ICMPv6 Packet Too Big). The message is its own flow, from
//! the hop to the sender of the big packet; inside a tunnel, the inner addresses are the
//! hop and the sender.

use datafusion::error::Result;
use datafusion::prelude::SessionContext;

use crate::findings::{Evidence, Finding, Severity, kind};
use crate::rows::{Window, query};

/// The frag-needed findings, and the senders that were told (a stalled connection of one
/// of them is PMTU discovery at work, not a black hole).
pub async fn frag_needed(ctx: &SessionContext, w: &Window) -> Result<(Vec<Finding>, Vec<String>)> {
    let sql = format!(
        "SELECT ip_to_string(COALESCE(inner_src_addr, src_addr)) AS hop, \
                ip_to_string(COALESCE(inner_dst_addr, dst_addr)) AS sender, \
                min(icmp_mtu) AS mtu, sum(packets) AS messages, \
                min(time_received) AS first, max(time_received) AS last \
         FROM flows WHERE icmp_mtu IS NOT NULL AND {} \
         GROUP BY 1, 2 ORDER BY messages DESC, hop, sender LIMIT 200",
        w.predicate()
    );
    let mut findings = Vec::new();
    let mut senders = Vec::new();
    for r in query(ctx, &sql).await? {
        let (hop, sender) = (r.name("hop"), r.name("sender"));
        let (mtu, messages) = (r.int("mtu").unwrap_or(0), r.int("messages").unwrap_or(0));
        let v6 = sender.contains(':');
        let header = if v6 { 60 } else { 40 };
        findings.push(Finding {
            kind: kind::MTU_FRAG_NEEDED,
            rule: if v6 { "packet_too_big" } else { "fragmentation_needed" },
            severity: Severity::Warning,
            subject: format!("path from {sender} through {hop}"),
            keys: Vec::new(),
            evidence: vec![
                Evidence::new("next_hop_mtu", mtu as f64),
                Evidence::new("messages", messages as f64),
            ],
            explanation: format!(
                "{hop} could not forward packets from {sender} larger than {mtu} bytes (DF set) and said so {messages} time{}: the path's MTU is {mtu}. Path MTU discovery recovers where the message reaches the sender; where a firewall drops it, TCP stalls.",
                if messages == 1 { "" } else { "s" }
            ),
            fix: if mtu > header {
                format!(
                    "if {mtu} is not the MTU intended after {hop}, raise that link's MTU; if it is, lower the senders' MTU or clamp the TCP MSS to {} on this path",
                    mtu - header
                )
            } else {
                format!("{hop} reports an MTU of {mtu}, which no link has: check who sends these ICMP messages")
            },
            first_us: r.int("first"),
            last_us: r.int("last"),
        });
    }
    // Every sender that was told, not only those of the findings listed.
    let told = format!(
        "SELECT DISTINCT ip_to_string(COALESCE(inner_dst_addr, dst_addr)) AS sender FROM flows \
         WHERE icmp_mtu IS NOT NULL AND {}",
        w.predicate()
    );
    for r in query(ctx, &told).await? {
        senders.push(r.name("sender"));
    }
    Ok((findings, senders))
}
