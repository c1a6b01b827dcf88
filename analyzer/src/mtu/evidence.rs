//! The packets behind the MTU findings, counted per kind and segment over a closed window
//! of receive times: the collector's analyzer counts each window once, ending where rows
//! are sure to be in the store, so a packet is counted once however often the detectors
//! read it again (`plumb_mtu_evidence_packets_total`).
//!
//! A segment is where the packets were: the overlay of a tunnel packet, else the port
//! group of its VLAN, else the device that exported it. The first two come from the
//! topology and the third from the exporter label limit, so the set stays bounded.

use std::collections::BTreeMap;

use datafusion::error::Result;
use datafusion::prelude::SessionContext;

use plumb_collector::sflow::drop_reason::{FRAG_NEEDED, PKT_TOO_BIG, forwarding_status};

use super::overlay::{overlay_of, oversize_len};
use crate::findings::kind;
use crate::rows::{Row, Window, query};
use crate::topology::Topology;

/// Where evidence was seen.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Segment {
    Overlay(String),
    PortGroup(String),
    /// The exporting device's address, as text.
    Exporter(String),
}

impl Segment {
    /// The label value: `overlay/NAME`, `port_group/NAME`, `exporter/` and the label the
    /// caller gives the device (the metrics bound exporters).
    pub fn label(&self, exporter: impl FnOnce(&str) -> String) -> String {
        match self {
            Segment::Overlay(n) => format!("overlay/{n}"),
            Segment::PortGroup(n) => format!("port_group/{n}"),
            Segment::Exporter(a) => format!("exporter/{}", exporter(a)),
        }
    }
}

/// Evidence packets of one kind in one segment.
pub type Counts = BTreeMap<(&'static str, Segment), u64>;

/// The evidence of the window, per (kind, segment); kinds without packets are left out.
pub async fn count(ctx: &SessionContext, t: &Topology, w: &Window) -> Result<Counts> {
    let mut out = Counts::new();
    for r in query(ctx, &flows_sql(t, w)).await? {
        let segment = segment_of(t, &r);
        let sums = [
            (kind::MTU_FRAG_NEEDED, r.int("frag_needed")),
            (kind::MTU_DF_DROP, r.int("df_drop")),
            (kind::MTU_FRAGMENTATION, r.int("fragments")),
            (kind::MTU_BLACKHOLE, r.int("resends")),
            (kind::MTU_OVERSIZE_ENCAP, oversize_packets(t, &r)),
        ];
        for (k, n) in sums {
            add(&mut out, k, &segment, n);
        }
    }
    let notified = format!(
        "SELECT ip_to_string(agent) AS exporter, vlan, tunnel_type, tunnel_dst_port AS port, sum(drops) AS df_drop \
         FROM drops WHERE reason_code IN ({FRAG_NEEDED}, {PKT_TOO_BIG}) AND {} GROUP BY 1, 2, 3, 4",
        w.predicate()
    );
    for r in query(ctx, &notified).await? {
        add(&mut out, kind::MTU_DF_DROP, &segment_of(t, &r), r.int("df_drop"));
    }
    Ok(out)
}

fn add(out: &mut Counts, k: &'static str, segment: &Segment, n: Option<i64>) {
    if let Some(n) = n.filter(|&n| n > 0) {
        *out.entry((k, segment.clone())).or_default() += n as u64;
    }
}

/// Flows sums per device, VLAN and tunnel; the lengths of tunnel flows that may be above
/// an underlay are kept apart, the rest collapse into one group.
fn flows_sql(t: &Topology, w: &Window) -> String {
    let outer = t.overlays.iter().map(|o| o.underlay_mtu).min().unwrap_or(u32::MAX);
    let inner =
        t.overlays.iter().map(|o| o.underlay_mtu.saturating_sub(o.overhead())).min().unwrap_or(u32::MAX);
    format!(
        "SELECT ip_to_string(exporter) AS exporter, vlan, tunnel_type, tunnel_dst_port AS port, \
                CASE WHEN tunnel_type IS NOT NULL AND max_ip_len > {outer} THEN max_ip_len END AS outer_len, \
                CASE WHEN tunnel_type IS NOT NULL AND max_ip_len IS NULL AND max_inner_ip_len > {inner} THEN max_inner_ip_len END AS inner_len, \
                sum(CASE WHEN icmp_mtu IS NOT NULL THEN packets ELSE 0 END) AS frag_needed, \
                sum(CASE WHEN forwarding_status = {} THEN packets ELSE 0 END) AS df_drop, \
                sum(fragments) AS fragments, sum(full_size_retransmits) AS resends, sum(packets) AS packets \
         FROM flows WHERE (icmp_mtu IS NOT NULL OR forwarding_status = {0} OR fragments > 0 \
                OR full_size_retransmits > 0 OR (tunnel_type IS NOT NULL AND (max_ip_len > {outer} OR max_inner_ip_len > {inner}))) \
           AND {} \
         GROUP BY 1, 2, 3, 4, 5, 6",
        // forwardingStatus 133: dropped, fragmentation needed and DF set.
        forwarding_status(PKT_TOO_BIG),
        w.predicate()
    )
}

/// The packets of a group of tunnel flows whose largest packet is above its overlay's
/// underlay MTU.
fn oversize_packets(t: &Topology, r: &Row) -> Option<i64> {
    let o = overlay_of(t, &r.text("tunnel_type")?, r.int("port"))?;
    oversize_len(o, r.int("outer_len"), r.int("inner_len"))?;
    r.int("packets")
}

fn segment_of(t: &Topology, r: &Row) -> Segment {
    if let Some(o) = r.text("tunnel_type").and_then(|k| overlay_of(t, &k, r.int("port"))) {
        return Segment::Overlay(o.name.clone());
    }
    let vlan = r.int("vlan");
    if let Some(g) = t.port_groups.iter().find(|g| vlan.is_some() && g.vlan.map(i64::from) == vlan) {
        return Segment::PortGroup(g.name.clone());
    }
    Segment::Exporter(r.name("exporter"))
}
