//! Static checks of a topology, before any traffic: each problem is a `config.invalid`
//! finding naming the keys to change and how (docs/domain/nioc.md, "Configuration
//! checks"). The rules:
//!
//! - every name a section refers to exists, and names are unique;
//! - MTU: the switch carries every port group's and VMkernel adapter's MTU, the physical
//!   frame size carries the switch's MTU, and every overlay's inner MTU plus its
//!   encapsulation fits its underlay;
//! - NIOC: reservations sum to at most 75 % of the slowest counted uplink (vCenter refuses
//!   more), no reservation exceeds its limit, custom shares are 1-100.

use std::collections::HashSet;

use super::encap::{FRAME_OVERHEAD, VLAN_TAG};
use super::{NiocPolicy, Shares, SwitchKind, Topology};
use crate::findings::{Evidence, Finding, Severity, kind};

/// The share of the slowest adapter that NIOC reservations may take together.
pub const MAX_RESERVED_FRACTION: f64 = 0.75;

/// Every problem of `t`; empty when it is consistent.
pub fn check(t: &Topology) -> Vec<Finding> {
    let mut out = Vec::new();
    names(t, &mut out);
    mtus(t, &mut out);
    overlays(t, &mut out);
    for (i, p) in t.nioc.iter().enumerate() {
        nioc(t, i, p, &mut out);
    }
    out
}

/// A `config.invalid` finding.
fn invalid(rule: &'static str, severity: Severity, subject: String, keys: Vec<String>) -> Finding {
    Finding {
        kind: kind::CONFIG_INVALID,
        rule,
        severity,
        subject,
        keys,
        evidence: Vec::new(),
        explanation: String::new(),
        fix: String::new(),
        first_us: None,
        last_us: None,
    }
}

impl Finding {
    fn with(mut self, evidence: &[(&'static str, f64)], explanation: String, fix: String) -> Finding {
        self.evidence = evidence.iter().map(|&(name, value)| Evidence::new(name, value)).collect();
        (self.explanation, self.fix) = (explanation, fix);
        self
    }
}

fn names(t: &Topology, out: &mut Vec<Finding>) {
    let switch_ref = |section: &str, i: usize, switch: &str, out: &mut Vec<Finding>| {
        if t.switch(switch).is_none() {
            let key = format!("topology.{section}[{i}].switch");
            out.push(
                invalid("unknown_switch", Severity::Critical, format!("{section}[{i}]"), vec![key]).with(
                    &[],
                    format!(
                        "{section}[{i}] is on switch {switch:?}, which no [[topology.switches]] entry names."
                    ),
                    format!("add a [[topology.switches]] entry named {switch:?}, or correct the name"),
                ),
            );
        }
    };
    for (i, u) in t.uplinks.iter().enumerate() {
        switch_ref("uplinks", i, &u.switch, out);
    }
    for (i, g) in t.port_groups.iter().enumerate() {
        switch_ref("port_groups", i, &g.switch, out);
    }
    for (i, p) in t.nioc.iter().enumerate() {
        switch_ref("nioc", i, &p.switch, out);
    }
    for (i, v) in t.vmkernels.iter().enumerate() {
        if !t.port_groups.iter().any(|g| g.name == v.port_group) {
            let key = format!("topology.vmkernels[{i}].port_group");
            out.push(
                invalid("unknown_port_group", Severity::Critical, format!("vmkernel {}", v.name), vec![key])
                    .with(
                        &[],
                        format!(
                            "{} is on port group {:?}, which no [[topology.port_groups]] entry names.",
                            v.name, v.port_group
                        ),
                        "add the port group, or correct the name".into(),
                    ),
            );
        }
    }
    port_keys(t, out);
    duplicates("switches", t.switches.iter().map(|s| s.name.clone()), out);
    duplicates("port_groups", t.port_groups.iter().map(|g| format!("{}/{}", g.switch, g.name)), out);
    duplicates("uplinks", t.uplinks.iter().map(|u| format!("{}/{}", u.switch, u.label())), out);
    duplicates("vmkernels", t.vmkernels.iter().map(|v| v.name.clone()), out);
    duplicates("overlays", t.overlays.iter().map(|o| o.name.clone()), out);
    duplicates("nioc", t.nioc.iter().map(|p| p.switch.clone()), out);
}

/// vDS port key ranges: first ≤ last, and no key in two port groups.
fn port_keys(t: &Topology, out: &mut Vec<Finding>) {
    let ranges: Vec<(usize, usize, u32, u32)> = t
        .port_groups
        .iter()
        .enumerate()
        .flat_map(|(i, g)| g.port_keys.iter().enumerate().map(move |(j, r)| (i, j, r[0], r[1])))
        .collect();
    for (k, &(i, j, first, last)) in ranges.iter().enumerate() {
        let key = format!("topology.port_groups[{i}].port_keys[{j}]");
        let name = &t.port_groups[i].name;
        if first > last {
            out.push(
                invalid(
                    "port_keys_reversed",
                    Severity::Critical,
                    format!("port group {name}"),
                    vec![key.clone()],
                )
                .with(
                    &[("first", first as f64), ("last", last as f64)],
                    format!("the port key range [{first}, {last}] of {name} ends before it starts."),
                    format!("write it as [{last}, {first}]"),
                ),
            );
        }
        if let Some(&(other, ..)) =
            ranges[..k].iter().find(|&&(o, _, f, l)| o != i && first <= l && f <= last)
        {
            let other_name = &t.port_groups[other].name;
            out.push(invalid("port_keys_overlap", Severity::Critical, format!("port group {name}"), vec![key]).with(
                &[],
                format!("port keys [{first}, {last}] of {name} overlap those of {other_name}: a port belongs to one port group."),
                "correct the ranges from the vDS's port list".into(),
            ));
        }
    }
}

/// Reports the second and later entries of a section that repeat a name.
fn duplicates(section: &str, names: impl Iterator<Item = String>, out: &mut Vec<Finding>) {
    let mut seen = HashSet::new();
    for (i, name) in names.enumerate() {
        if !seen.insert(name.clone()) {
            out.push(invalid("duplicate", Severity::Critical, format!("{section} {name}"), vec![format!("topology.{section}[{i}]")]).with(
                &[],
                format!("topology.{section} names {name} twice; the later entry would silently replace the first."),
                "remove or rename one of them".into(),
            ));
        }
    }
}

fn mtus(t: &Topology, out: &mut Vec<Finding>) {
    for (i, g) in t.port_groups.iter().enumerate() {
        let Some((si, s)) = t.switches.iter().enumerate().find(|(_, s)| s.name == g.switch) else { continue };
        if g.mtu > s.mtu {
            let keys = vec![format!("topology.port_groups[{i}].mtu"), format!("topology.switches[{si}].mtu")];
            out.push(invalid("port_group_mtu_above_switch", Severity::Critical, format!("port group {}", g.name), keys).with(
                &[("port_group_mtu", g.mtu as f64), ("switch_mtu", s.mtu as f64), ("gap_bytes", (g.mtu - s.mtu) as f64)],
                format!("{} traffic ({}) is meant to use an MTU of {} but switch {} carries at most {}: its larger packets are dropped without ICMP.", g.name, g.traffic, g.mtu, s.name, s.mtu),
                format!("raise the MTU of switch {} to at least {}, or lower the port group's MTU", s.name, g.mtu),
            ));
        }
    }
    for (i, v) in t.vmkernels.iter().enumerate() {
        let Some(g) = t.port_groups.iter().find(|g| g.name == v.port_group) else { continue };
        if let Some((si, s)) = t.switches.iter().enumerate().find(|(_, s)| s.name == g.switch)
            && v.mtu > s.mtu
        {
            let keys = vec![format!("topology.vmkernels[{i}].mtu"), format!("topology.switches[{si}].mtu")];
            out.push(invalid("vmkernel_mtu_above_switch", Severity::Critical, format!("vmkernel {}", v.name), keys).with(
                &[("vmkernel_mtu", v.mtu as f64), ("switch_mtu", s.mtu as f64), ("gap_bytes", (v.mtu - s.mtu) as f64)],
                format!("{} sends packets of up to {} bytes but switch {} carries at most {}: they are dropped without ICMP.", v.name, v.mtu, s.name, s.mtu),
                format!("raise the MTU of switch {} to at least {}, or set {} to {}", s.name, v.mtu, v.name, s.mtu),
            ));
        }
        if v.mtu < g.mtu {
            let keys = vec![format!("topology.vmkernels[{i}].mtu")];
            out.push(invalid("vmkernel_mtu_below_port_group", Severity::Warning, format!("vmkernel {}", v.name), keys).with(
                &[("vmkernel_mtu", v.mtu as f64), ("port_group_mtu", g.mtu as f64)],
                format!("{} uses an MTU of {} on {}, meant for {}: its peers send it larger packets than it accepts.", v.name, v.mtu, g.name, g.mtu),
                format!("set {} to an MTU of {}", v.name, g.mtu),
            ));
        }
    }
    for (si, s) in t.switches.iter().enumerate() {
        let Some(frame) = s.frame_size else { continue };
        let tagged = t.port_groups.iter().any(|g| g.switch == s.name && g.vlan.is_some());
        let need = s.mtu.saturating_add(FRAME_OVERHEAD + if tagged { VLAN_TAG } else { 0 });
        if frame < need {
            let keys =
                vec![format!("topology.switches[{si}].frame_size"), format!("topology.switches[{si}].mtu")];
            out.push(invalid("frame_size_below_switch_mtu", Severity::Critical, format!("switch {}", s.name), keys).with(
                &[("frame_size", frame as f64), ("needed_frame_size", need as f64), ("switch_mtu", s.mtu as f64)],
                format!("switch {} passes IP packets of {} bytes, which need frames of {} ({} bytes of Ethernet header, FCS{}), but its physical ports accept {}: full-size packets die at the physical switch.", s.name, s.mtu, need, need - s.mtu, if tagged { " and tag" } else { "" }, frame),
                format!("raise the physical ports' frame size to at least {need}, or lower the switch MTU to {}", frame.saturating_sub(need - s.mtu)),
            ));
        }
    }
}

fn overlays(t: &Topology, out: &mut Vec<Finding>) {
    for (i, o) in t.overlays.iter().enumerate() {
        let overhead = o.overhead();
        let need = o.inner_mtu.saturating_add(overhead);
        if need <= o.underlay_mtu {
            continue;
        }
        let keys =
            vec![format!("topology.overlays[{i}].inner_mtu"), format!("topology.overlays[{i}].underlay_mtu")];
        out.push(invalid("overlay_mtu", Severity::Critical, format!("overlay {}", o.name), keys).with(
            &[
                ("inner_mtu", o.inner_mtu as f64),
                ("overhead_bytes", overhead as f64),
                ("underlay_mtu", o.underlay_mtu as f64),
                ("gap_bytes", (need - o.underlay_mtu) as f64),
            ],
            format!("{} packets of {} bytes become {} with {} encapsulation, {} more than the underlay's MTU of {}: they are fragmented or dropped.", o.name, o.inner_mtu, need, o.encapsulation.as_str(), need - o.underlay_mtu, o.underlay_mtu),
            format!("set the overlay MTU to {} or less, or raise the underlay MTU to {} or more", o.underlay_mtu.saturating_sub(overhead), need),
        ));
    }
}

fn nioc(t: &Topology, i: usize, p: &NiocPolicy, out: &mut Vec<Finding>) {
    let subject = format!("nioc {}", p.switch);
    if t.switch(&p.switch).is_some_and(|s| s.kind != SwitchKind::Vds) {
        out.push(
            invalid(
                "nioc_not_on_vds",
                Severity::Warning,
                subject.clone(),
                vec![format!("topology.nioc[{i}].switch")],
            )
            .with(
                &[],
                format!(
                    "{} is not a vSphere Distributed Switch; Network I/O Control exists only there.",
                    p.switch
                ),
                "remove this [[topology.nioc]] entry, or set the switch's kind to \"vds\"".into(),
            ),
        );
    }
    let mut seen = HashSet::new();
    for (j, a) in p.traffic.iter().enumerate() {
        let key = |field: &str| format!("topology.nioc[{i}].traffic[{j}].{field}");
        if !seen.insert(a.class) {
            out.push(invalid("duplicate", Severity::Critical, subject.clone(), vec![key("class")]).with(
                &[],
                format!("traffic type {} appears twice for {}.", a.class, p.switch),
                "keep one entry per traffic type".into(),
            ));
        }
        if let Shares::Custom(n) = a.shares
            && !(1..=100).contains(&n)
        {
            out.push(
                invalid("shares_out_of_range", Severity::Critical, subject.clone(), vec![key("shares")])
                    .with(
                        &[("shares", n as f64)],
                        format!("custom shares of {} are {n}; vSphere accepts 1 to 100.", a.class),
                        "use a value from 1 to 100, or \"low\" (25), \"normal\" (50), \"high\" (100)".into(),
                    ),
            );
        }
        if let Some(limit) = a.limit_mbps
            && a.reservation_mbps > limit
        {
            out.push(invalid("reservation_above_limit", Severity::Critical, subject.clone(), vec![key("reservation_mbps"), key("limit_mbps")]).with(
                &[("reservation_mbps", a.reservation_mbps as f64), ("limit_mbps", limit as f64)],
                format!("{} reserves {} Mbps but is limited to {} Mbps; vSphere refuses a reservation above the limit.", a.class, a.reservation_mbps, limit),
                format!("lower the reservation to {limit} Mbps or raise the limit"),
            ));
        }
    }
    reservations(t, i, p, out);
}

/// The 75 % rule: vCenter refuses reservations above 75 % of the slowest counted adapter.
fn reservations(t: &Topology, i: usize, p: &NiocPolicy, out: &mut Vec<Finding>) {
    let reserved: u64 = p.traffic.iter().fold(0u64, |sum, a| sum.saturating_add(a.reservation_mbps));
    if reserved == 0 {
        return;
    }
    let subject = format!("nioc {}", p.switch);
    let slowest = t
        .uplinks
        .iter()
        .enumerate()
        .filter(|(_, u)| u.switch == p.switch && u.nioc)
        .min_by_key(|(_, u)| u.speed_mbps);
    let Some((ui, u)) = slowest else {
        out.push(invalid("nioc_without_uplinks", Severity::Warning, subject, vec![format!("topology.nioc[{i}].switch")]).with(
            &[("reserved_mbps", reserved as f64)],
            format!("{} reserves {reserved} Mbps but has no uplinks in the topology: neither the 75 % rule nor contention can be checked.", p.switch),
            format!("add its uplinks as [[topology.uplinks]] with switch = {:?} and their speed_mbps", p.switch),
        ));
        return;
    };
    let allowed = u.speed_mbps as f64 * MAX_RESERVED_FRACTION;
    if reserved as f64 <= allowed {
        return;
    }
    let mut keys: Vec<String> = p
        .traffic
        .iter()
        .enumerate()
        .filter(|(_, a)| a.reservation_mbps > 0)
        .map(|(j, _)| format!("topology.nioc[{i}].traffic[{j}].reservation_mbps"))
        .collect();
    keys.push(format!("topology.uplinks[{ui}].speed_mbps"));
    let needed_speed = (reserved as f64 / MAX_RESERVED_FRACTION).ceil();
    out.push(invalid("nioc_reservation_over_75pct", Severity::Critical, subject, keys).with(
        &[("reserved_mbps", reserved as f64), ("slowest_uplink_mbps", u.speed_mbps as f64), ("allowed_mbps", allowed)],
        format!("The NIOC reservations of {} sum to {reserved} Mbps, above 75 % of its slowest uplink ({}, {} Mbps: {allowed} Mbps); vCenter refuses this, so the reservations you planned are not in force.", p.switch, u.label(), u.speed_mbps),
        format!("lower the reservations to {allowed} Mbps in all, or use uplinks of at least {needed_speed} Mbps (25 GbE carries these)"),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::{Encapsulation, Overlay};

    fn rules(t: &Topology) -> Vec<&'static str> {
        check(t).iter().map(|f| f.rule).collect()
    }

    fn on_speed(mbps: u64) -> Topology {
        let mut t = Topology::reference();
        for u in &mut t.uplinks {
            u.speed_mbps = mbps;
        }
        t
    }

    #[test]
    fn the_reference_architecture_is_valid_on_25_gbe_and_refused_on_10() {
        assert!(check(&Topology::reference()).is_empty(), "{:#?}", check(&Topology::reference()));
        assert!(check(&on_speed(25_000)).is_empty());
        let found = check(&on_speed(10_000));
        assert_eq!(found.len(), 1, "{found:#?}");
        let f = &found[0];
        assert_eq!(
            (f.kind, f.rule, f.severity),
            ("config.invalid", "nioc_reservation_over_75pct", Severity::Critical)
        );
        assert_eq!(f.evidence("reserved_mbps"), Some(16_000.0));
        assert_eq!(f.evidence("allowed_mbps"), Some(7_500.0));
        assert!(f.keys.contains(&"topology.nioc[0].traffic[2].reservation_mbps".to_string()), "{:?}", f.keys);
        assert!(f.keys.contains(&"topology.uplinks[0].speed_mbps".to_string()), "{:?}", f.keys);
        assert!(f.fix.contains("21334"), "{}", f.fix);
        // One slow adapter is enough, unless NIOC leaves it out.
        let mut t = Topology::reference();
        t.uplinks[1].speed_mbps = 1_000;
        assert_eq!(rules(&t), ["nioc_reservation_over_75pct"]);
        t.uplinks[1].nioc = false;
        assert!(rules(&t).is_empty());
    }

    #[test]
    fn an_overlay_that_does_not_fit_its_underlay() {
        let mut t = Topology::reference();
        // Calico VXLAN pods at 1500 on a 1500 underlay: 50 bytes too many.
        t.overlays[1].inner_mtu = 1500;
        let found = check(&t);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].rule, "overlay_mtu");
        assert_eq!(found[0].subject, "overlay calico-vxlan");
        assert_eq!(found[0].evidence("gap_bytes"), Some(50.0));
        assert!(found[0].fix.contains("1450"), "{}", found[0].fix);
        // OVN's Geneve at 1450 needs 1508: 1442 is the most that fits.
        let ovn = Overlay { encapsulation: Encapsulation::Geneve, options_bytes: 8, ..t.overlays[0].clone() };
        let found = check(&Topology { overlays: vec![ovn], ..Topology::reference() });
        assert_eq!(found[0].evidence("gap_bytes"), Some(8.0));
        assert!(found[0].fix.contains("1442"), "{}", found[0].fix);
    }

    #[test]
    fn mtus_above_the_switch_and_frames_too_small() {
        let mut t = Topology::reference();
        t.switches[0].mtu = 1500;
        let found = rules(&t);
        // vMotion and Storage port groups, vmk1 and vmk2.
        assert_eq!(found.iter().filter(|r| **r == "port_group_mtu_above_switch").count(), 2, "{found:?}");
        assert_eq!(found.iter().filter(|r| **r == "vmkernel_mtu_above_switch").count(), 2, "{found:?}");
        let mut t = Topology::reference();
        // 9000 + 18 + a tag = 9022 > 9018.
        t.switches[0].frame_size = Some(9018);
        let found = check(&t);
        assert_eq!(found.len(), 1);
        assert_eq!(
            (found[0].rule, found[0].evidence("needed_frame_size")),
            ("frame_size_below_switch_mtu", Some(9022.0))
        );
        let mut t = Topology::reference();
        t.vmkernels[1].mtu = 1500;
        assert_eq!(rules(&t), ["vmkernel_mtu_below_port_group"]);
    }

    #[test]
    fn port_key_ranges_are_ordered_and_apart() {
        let mut t = Topology::reference();
        t.port_groups[0].port_keys = vec![[0, 31]];
        t.port_groups[1].port_keys = vec![[32, 63], [90, 80]];
        assert_eq!(rules(&t), ["port_keys_reversed"]);
        t.port_groups[1].port_keys = vec![[16, 40]];
        assert_eq!(rules(&t), ["port_keys_overlap"]);
    }

    #[test]
    fn nioc_rules_and_names() {
        let mut t = Topology::reference();
        let traffic = &mut t.nioc[0].traffic;
        traffic[3].shares = Shares::Custom(0);
        traffic[4].limit_mbps = Some(100);
        traffic[4].reservation_mbps = 200;
        traffic.push(traffic[0].clone());
        let found = rules(&t);
        for r in ["shares_out_of_range", "reservation_above_limit", "duplicate"] {
            assert!(found.contains(&r), "{r}: {found:?}");
        }
        let mut t = Topology::reference();
        t.uplinks[0].switch = "dvs-test".into();
        t.vmkernels[0].port_group = "Mgmt".into();
        let found = rules(&t);
        assert!(found.contains(&"unknown_switch") && found.contains(&"unknown_port_group"), "{found:?}");
        let t = Topology { uplinks: Vec::new(), ..Topology::reference() };
        assert_eq!(rules(&t), ["nioc_without_uplinks"]);
    }
}
