//! `mtu.oversize_frame`: packets on a VLAN larger than the MTU its port group is meant for
//! (a guest or VMkernel adapter set larger than the network it is on). TCP packets more
//! than 64 bytes above the intent are left out: those are offload super-packets that a
//! capture on the sending host sees before the NIC cuts them, not packets on a wire.

use datafusion::error::Result;
use datafusion::prelude::SessionContext;
use plumb_collector::packet::ip_protocol;

use crate::findings::{Evidence, Finding, Severity, kind};
use crate::rows::{Window, query};
use crate::topology::{PortGroup, Topology};

/// How far above the intent a TCP packet may be and still be taken for a real one.
const OFFLOAD_MARGIN: i64 = 64;

pub async fn oversize(ctx: &SessionContext, t: &Topology, w: &Window) -> Result<Vec<Finding>> {
    let Some(smallest) = t.port_groups.iter().filter(|g| g.vlan.is_some()).map(|g| g.mtu).min() else {
        return Ok(Vec::new());
    };
    let sql = format!(
        "SELECT vlan, ip_to_string(src_addr) AS src, protocol, max(max_ip_len) AS len, sum(packets) AS packets, \
                min(time_received) AS first, max(time_received) AS last \
         FROM flows WHERE vlan IS NOT NULL AND tunnel_type IS NULL AND max_ip_len > {smallest} AND {} \
         GROUP BY 1, 2, 3 ORDER BY packets DESC LIMIT 1000",
        w.predicate()
    );
    let mut out = Vec::new();
    for r in query(ctx, &sql).await? {
        let (Some(vlan), Some(len)) = (r.int("vlan"), r.int("len")) else { continue };
        let Some(g) = t.port_groups.iter().find(|g| g.vlan.map(i64::from) == Some(vlan)) else { continue };
        let mtu = g.mtu as i64;
        let tcp = r.int("protocol") == Some(ip_protocol::TCP as i64);
        if len <= mtu || (tcp && len > mtu + OFFLOAD_MARGIN) {
            continue;
        }
        out.push(finding(
            g,
            vlan,
            len,
            &r.name("src"),
            r.int("packets").unwrap_or(0),
            (r.int("first"), r.int("last")),
        ));
    }
    Ok(out)
}

fn finding(
    g: &PortGroup,
    vlan: i64,
    len: i64,
    src: &str,
    packets: i64,
    (first, last): (Option<i64>, Option<i64>),
) -> Finding {
    Finding {
        kind: kind::MTU_OVERSIZE_FRAME,
        rule: "above_port_group_mtu",
        severity: Severity::Warning,
        subject: format!("{src} on port group {} (VLAN {vlan})", g.name),
        keys: Vec::new(),
        evidence: vec![
            Evidence::new("ip_len", len as f64),
            Evidence::new("port_group_mtu", g.mtu as f64),
            Evidence::new("packets", packets as f64),
        ],
        explanation: format!(
            "{src} sends packets of {len} bytes on {} (VLAN {vlan}), which is meant for an MTU of {}: wherever the network holds to that, they are dropped.",
            g.name, g.mtu
        ),
        fix: format!(
            "set the MTU of {src} to {} (or, if {len} is meant, raise the port group's MTU intent and every hop on it)",
            g.mtu
        ),
        first_us: first,
        last_us: last,
    }
}
