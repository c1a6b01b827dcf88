//! `mtu.df_drop`: a device dropped packets because they were too big for the next hop and
//! reported it: sFlow dropped-packet notifications with reason 4 (`frag_needed`) or 262
//! (`pkt_too_big`), and IPFIX/NetFlow records whose forwardingStatus is 133 (dropped:
//! fragmentation needed and DF set). Notifications are rate-limited by the agent: the
//! counts are lower bounds, and `suppressed` says how many more there were.

use datafusion::error::Result;
use datafusion::prelude::SessionContext;

use plumb_collector::sflow::drop_reason::{FRAG_NEEDED, PKT_TOO_BIG, forwarding_status};

use crate::findings::{Evidence, Finding, Severity, kind};
use crate::rows::{Row, Window, query};

pub async fn df_drops(ctx: &SessionContext, w: &Window) -> Result<Vec<Finding>> {
    let notified = format!(
        "SELECT ip_to_string(agent) AS device, in_if, out_if, reason, count(*) AS packets, \
                max(suppressed) - min(suppressed) AS suppressed, max(ip_len) AS ip_len, \
                min(time_received) AS first, max(time_received) AS last \
         FROM drops WHERE reason_code IN ({FRAG_NEEDED}, {PKT_TOO_BIG}) AND {} \
         GROUP BY 1, 2, 3, 4 ORDER BY packets DESC LIMIT 200",
        w.predicate()
    );
    let exported = format!(
        "SELECT ip_to_string(exporter) AS device, in_if, out_if, 'forwardingStatus 133' AS reason, \
                sum(packets) AS packets, max(max_ip_len) AS ip_len, \
                min(time_received) AS first, max(time_received) AS last \
         FROM flows WHERE forwarding_status = {} AND {} \
         GROUP BY 1, 2, 3 ORDER BY packets DESC LIMIT 200",
        // forwardingStatus 133: dropped, fragmentation needed and DF set.
        forwarding_status(PKT_TOO_BIG),
        w.predicate()
    );
    let mut out: Vec<Finding> =
        query(ctx, &notified).await?.iter().map(|r| finding(r, "sflow_drop")).collect();
    out.extend(query(ctx, &exported).await?.iter().map(|r| finding(r, "forwarding_status")));
    Ok(out)
}

fn finding(r: &Row, rule: &'static str) -> Finding {
    let device = r.name("device");
    let interfaces = match (r.int("in_if"), r.int("out_if")) {
        (Some(i), Some(o)) => format!(" from interface {i} to {o}"),
        (_, Some(o)) => format!(" towards interface {o}"),
        _ => String::new(),
    };
    let packets = r.int("packets").unwrap_or(0);
    let mut evidence = vec![Evidence::new("packets", packets as f64)];
    let mut largest = String::new();
    if let Some(len) = r.int("ip_len") {
        evidence.push(Evidence::new("largest_ip_len", len as f64));
        largest = format!("; the largest was {len} bytes");
    }
    if let Some(s) = r.int("suppressed").filter(|&s| s > 0) {
        evidence.push(Evidence::new("suppressed", s as f64));
    }
    let out_if =
        r.int("out_if").map_or_else(|| "its egress interface".to_string(), |o| format!("interface {o}"));
    Finding {
        kind: kind::MTU_DF_DROP,
        rule,
        severity: Severity::Critical,
        subject: format!("device {device}{interfaces}"),
        keys: Vec::new(),
        evidence,
        explanation: format!(
            "{device} dropped {packets} packet{}{interfaces} as too big for the next hop with DF set ({}){largest}.",
            if packets == 1 { "" } else { "s" },
            r.name("reason")
        ),
        fix: format!(
            "raise the MTU of {out_if} on {device} and of the links after it, or lower the MTU of the senders whose packets die there"
        ),
        first_us: r.int("first"),
        last_us: r.int("last"),
    }
}
