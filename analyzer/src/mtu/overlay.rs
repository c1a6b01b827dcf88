//! Tunnel traffic against the overlays of the topology: `mtu.oversize_encap` when an
//! encapsulated packet is larger than its underlay's MTU (the outer length where the source
//! saw it, otherwise the inner length plus the overlay's overhead), and `mtu.fragmentation`
//! when tunnel packets arrive fragmented. Offload super-packets are already kept out of
//! the lengths by the packet layer.

use datafusion::error::Result;
use datafusion::prelude::SessionContext;

use crate::findings::{Evidence, Finding, Severity, kind};
use crate::rows::{Row, Window, query};
use crate::topology::{Overlay, Topology};

pub async fn check(ctx: &SessionContext, t: &Topology, w: &Window) -> Result<Vec<Finding>> {
    let sql = format!(
        "SELECT tunnel_type, tunnel_dst_port AS port, ip_to_string(tunnel_src) AS src, ip_to_string(tunnel_dst) AS dst, \
                max(max_ip_len) AS outer_len, max(max_inner_ip_len) AS inner_len, sum(df_packets) AS df, \
                sum(packets) AS packets, sum(fragments) AS fragments, \
                min(time_received) AS first, max(time_received) AS last \
         FROM flows WHERE tunnel_type IS NOT NULL AND {} \
         GROUP BY 1, 2, 3, 4 ORDER BY packets DESC LIMIT 1000",
        w.predicate()
    );
    let mut out = Vec::new();
    for r in query(ctx, &sql).await? {
        if let Some(o) = r.text("tunnel_type").and_then(|k| overlay_of(t, &k, r.int("port"))) {
            out.extend(oversize(&r, o));
        }
        out.extend(fragmented(&r));
    }
    Ok(out)
}

/// The overlay a tunnel's traffic belongs to: same encapsulation, and same UDP port when
/// the overlay names one; of several, the one with the smallest underlay.
pub(crate) fn overlay_of<'a>(t: &'a Topology, kind: &str, port: Option<i64>) -> Option<&'a Overlay> {
    t.overlays
        .iter()
        .filter(|o| o.encapsulation.as_str() == kind && o.port.is_none_or(|p| Some(p as i64) == port))
        .min_by_key(|o| o.underlay_mtu)
}

/// The length of a tunnel packet on the underlay (the outer length where the source saw
/// it, else the inner length plus the overlay's overhead), when it exceeds the underlay's MTU.
pub(crate) fn oversize_len(o: &Overlay, outer: Option<i64>, inner: Option<i64>) -> Option<i64> {
    let outer = outer.or(inner.map(|i| i + o.overhead() as i64))?;
    (outer > o.underlay_mtu as i64).then_some(outer)
}

fn oversize(r: &Row, o: &Overlay) -> Option<Finding> {
    let overhead = o.overhead() as i64;
    let inner = r.int("inner_len");
    let outer = oversize_len(o, r.int("outer_len"), inner)?;
    let underlay = o.underlay_mtu as i64;
    let (src, dst, gap) = (r.name("src"), r.name("dst"), outer - underlay);
    let df = r.int("df").unwrap_or(0);
    let mut evidence = vec![
        Evidence::new("outer_ip_len", outer as f64),
        Evidence::new("underlay_mtu", underlay as f64),
        Evidence::new("gap_bytes", gap as f64),
    ];
    if let Some(i) = inner {
        evidence.push(Evidence::new("inner_ip_len", i as f64));
    }
    evidence.push(Evidence::new("df_packets", df as f64));
    let fate = if df > 0 {
        "with DF set they are dropped at the first hop that carries the underlay MTU, silently if that hop is a switch"
    } else {
        "they are fragmented or dropped on the way"
    };
    Some(Finding {
        kind: kind::MTU_OVERSIZE_ENCAP,
        rule: "outer_above_underlay",
        severity: Severity::Critical,
        subject: format!("overlay {} from {src} to {dst}", o.name),
        keys: Vec::new(),
        evidence,
        explanation: format!(
            "{} packets from {src} to {dst} reach {outer} bytes, {gap} more than the underlay MTU of {underlay} that overlay {} is set for: {fate}.",
            o.encapsulation.as_str(),
            o.name
        ),
        fix: format!(
            "lower the MTU inside {} to {}{}, or raise the underlay MTU to at least {outer}",
            o.name,
            underlay - overhead,
            if underlay - overhead > 40 {
                format!(" (or clamp the TCP MSS to {})", underlay - overhead - 40)
            } else {
                String::new()
            }
        ),
        first_us: r.int("first"),
        last_us: r.int("last"),
    })
}

fn fragmented(r: &Row) -> Option<Finding> {
    let fragments = r.int("fragments").filter(|&f| f > 0)?;
    let (src, dst, kind_name) = (r.name("src"), r.name("dst"), r.name("tunnel_type"));
    Some(Finding {
        kind: kind::MTU_FRAGMENTATION,
        rule: "tunnel_fragments",
        severity: Severity::Warning,
        subject: format!("{kind_name} tunnel from {src} to {dst}"),
        keys: Vec::new(),
        evidence: vec![
            Evidence::new("fragments", fragments as f64),
            Evidence::new("packets", r.int("packets").unwrap_or(0) as f64),
        ],
        explanation: format!(
            "{fragments} fragmented packets in the {kind_name} tunnel from {src} to {dst}: encapsulated packets exceed an MTU on the way and are split, which costs the endpoints reassembly and loses whole packets when one fragment is lost."
        ),
        fix: "lower the overlay's MTU by the encapsulation overhead, or raise the underlay's MTU".into(),
        first_us: r.int("first"),
        last_us: r.int("last"),
    })
}
