//! `nioc.contention`: per uplink and minute, what each traffic class sent out of it
//! (`interfaces_1m`, direction `out`, the flows' estimate), against what NIOC entitles it
//! to (docs/domain/nioc.md, "Contention").
//!
//! A minute is in contention when the uplink is at least [`SATURATED`] used and two or more
//! classes are active. A finding needs [`HYSTERESIS_HITS`] such minutes among
//! [`HYSTERESIS_SPAN`] consecutive ones; it names the uplink, the worst minute's
//! utilisation, and each class's measured and entitled rate with its state: share-bound
//! (NIOC holds it back: it uses about all it is entitled to given what the others use),
//! limit-bound, or below its reservation. Storage share-bound under contention is critical.

use std::collections::BTreeMap;

use datafusion::error::Result;
use datafusion::prelude::SessionContext;

use plumb_collector::sflow::drop_reason::CONGESTION;

use super::entitlement::{Claim, given_use, proportional};
use crate::findings::{Evidence, Finding, Severity, kind};
use crate::rows::{Window, query};
use crate::topology::{Topology, TrafficClass, Uplink};

/// Utilisation from which an uplink with two active classes is in contention (θ_sat).
pub const SATURATED: f64 = 0.90;
/// ... or from which it is when the uplink also lost packets for want of room.
pub const CONFIRMED_SATURATED: f64 = 0.70;
/// Contention minutes needed...
pub const HYSTERESIS_HITS: usize = 3;
/// ... among this many consecutive minutes.
pub const HYSTERESIS_SPAN: i64 = 5;
/// A class is share- or limit-bound at this fraction of its entitlement or limit.
const BOUND: f64 = 0.95;
/// Ethernet header and FCS per packet: the rollups count IP bytes, links carry frames.
const FRAME_BYTES: f64 = 18.0;
const MINUTE_US: i64 = 60_000_000;

/// What one class did on an uplink in one minute.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassMinute {
    /// A traffic class, or `unclassified`.
    pub class: String,
    pub measured_bps: f64,
    /// What NIOC gives it when every active class wants more (reservations as floors,
    /// limits as ceilings); none for traffic NIOC has no allocation for.
    pub entitled_bps: Option<f64>,
    pub share_bound: bool,
    pub limit_bound: bool,
    pub below_reservation: bool,
}

/// One uplink in one minute.
#[derive(Clone, Debug, PartialEq)]
pub struct UplinkMinute {
    pub minute_us: i64,
    pub utilisation: f64,
    pub contention: bool,
    /// Packets the uplink discarded (its counters) or dropped for congestion (sFlow
    /// reasons 259-261, 287) in the minute.
    pub losses: u64,
    pub classes: Vec<ClassMinute>,
}

/// NIOC's allocation of a class on an uplink's switch, in bits/s.
fn claim(t: &Topology, u: &Uplink, class: &str) -> Option<(TrafficClass, Claim)> {
    let policy = t.nioc.iter().find(|p| p.switch == u.switch)?;
    let a = policy.traffic.iter().find(|a| a.class.as_str() == class)?;
    let limit = a.limit_mbps.map_or(f64::INFINITY, |l| l as f64 * 1e6);
    Some((
        a.class,
        Claim { shares: a.shares.value() as f64, reservation: a.reservation_mbps as f64 * 1e6, limit },
    ))
}

/// Judges one minute of an uplink from each class's measured rate and the packets the
/// uplink lost for want of room in it (discards, congestion drops).
pub fn judge(
    t: &Topology,
    u: &Uplink,
    minute_us: i64,
    measured: &[(String, f64)],
    losses: u64,
) -> UplinkMinute {
    let capacity = u.speed_mbps as f64 * 1e6;
    let total: f64 = measured.iter().map(|(_, x)| x).sum();
    let active_floor = (10e6_f64).max(0.005 * capacity);
    let active = measured.iter().filter(|(_, x)| *x >= active_floor).count();
    // NIOC shares out what traffic without an allocation leaves.
    let managed: Vec<(usize, Claim)> =
        measured.iter().enumerate().filter_map(|(i, (c, _))| claim(t, u, c).map(|(_, cl)| (i, cl))).collect();
    let unmanaged: f64 = measured
        .iter()
        .enumerate()
        .filter(|(i, _)| !managed.iter().any(|(j, _)| j == i))
        .map(|(_, (_, x))| x)
        .sum();
    let claims: Vec<Claim> = managed.iter().map(|(_, c)| *c).collect();
    let used: Vec<f64> = managed.iter().map(|(i, _)| measured[*i].1).collect();
    let shared = (capacity - unmanaged).max(0.0);
    // A class below its share is held back by its own demand, not by NIOC; the others are
    // judged against what they could get given what it leaves (E′).
    let at_saturation = proportional(shared, &claims);
    let entitled = given_use(shared, &claims, &used, proportional);
    let utilisation = if capacity > 0.0 { total / capacity } else { 0.0 };
    // Losses confirm contention below saturation: minute averages hide bursts.
    let contention =
        active >= 2 && (utilisation >= SATURATED || (losses > 0 && utilisation >= CONFIRMED_SATURATED));
    let classes = measured
        .iter()
        .enumerate()
        .map(|(i, (class, x))| {
            let at = managed.iter().position(|(j, _)| *j == i);
            let c = at.map(|k| claims[k]);
            let wants_more = at.is_some_and(|k| *x >= BOUND * at_saturation[k] && *x >= BOUND * entitled[k]);
            ClassMinute {
                class: class.clone(),
                measured_bps: *x,
                entitled_bps: at.map(|k| at_saturation[k]),
                share_bound: contention && wants_more,
                limit_bound: c.is_some_and(|c| c.limit.is_finite() && *x >= BOUND * c.limit),
                below_reservation: contention && c.is_some_and(|c| *x < c.reservation),
            }
        })
        .collect();
    UplinkMinute { minute_us, utilisation, contention, losses, classes }
}

/// Every identified uplink's minutes in the window, oldest first.
pub async fn minutes<'t>(
    ctx: &SessionContext,
    t: &'t Topology,
    w: &Window,
) -> Result<Vec<(&'t Uplink, Vec<UplinkMinute>)>> {
    let identified: Vec<&Uplink> =
        t.uplinks.iter().filter(|u| u.if_index.is_some() || u.port_key.is_some()).collect();
    if identified.is_empty() {
        return Ok(Vec::new());
    }
    // Only the identified uplinks' interfaces: the rest of the rollup is not read.
    let interfaces: Vec<String> = identified
        .iter()
        .flat_map(|u| u.if_index.into_iter().chain(u.port_key))
        .map(|n| n.to_string())
        .collect();
    let interfaces = interfaces.join(", ");
    let sql = format!(
        "SELECT minute, ip_to_string(exporter) AS exporter, interface, COALESCE(traffic_class, 'unclassified') AS class, \
                sum(bytes) AS bytes, sum(packets) AS packets \
         FROM interfaces_1m WHERE direction = 'out' AND (source = 'flows' OR source IS NULL) \
           AND interface IN ({interfaces}) AND {} \
         GROUP BY 1, 2, 3, 4 ORDER BY 1",
        w.predicate_on("minute")
    );
    // (uplink, minute) → class → bits/s.
    let mut seen: BTreeMap<(usize, i64), Vec<(String, f64)>> = BTreeMap::new();
    for r in query(ctx, &sql).await? {
        let (Some(minute), Some(interface)) = (r.int("minute"), r.int("interface")) else { continue };
        let exporter = r.text("exporter");
        let Some(u) = identified.iter().position(|u| names(u, exporter.as_deref(), interface)) else {
            continue;
        };
        let bits =
            8.0 * (r.int("bytes").unwrap_or(0) as f64 + FRAME_BYTES * r.int("packets").unwrap_or(0) as f64);
        seen.entry((u, minute)).or_default().push((r.name("class"), bits / 60.0));
    }
    let mut lost: BTreeMap<(usize, i64), u64> = BTreeMap::new();
    for r in query(ctx, &losses_sql(w, &interfaces)).await? {
        let (Some(minute), Some(interface)) = (r.int("minute"), r.int("interface")) else { continue };
        let agent = r.text("agent");
        let Some(u) = identified.iter().position(|u| names(u, agent.as_deref(), interface)) else { continue };
        *lost.entry((u, minute)).or_default() += r.int("losses").unwrap_or(0).max(0) as u64;
    }
    Ok(identified
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let judged = seen
                .range((i, i64::MIN)..=(i, i64::MAX))
                .map(|(&(_, m), c)| judge(t, u, m, c, lost.get(&(i, m)).copied().unwrap_or(0)))
                .collect();
            (*u, judged)
        })
        .collect())
}

/// Per (minute, agent, interface): the growth of the interface's outbound discards
/// between consecutive counter samples, and the congestion drop notifications (sFlow
/// `no_buffer_space` 259, `red` 260, `traffic_shaping` 261, and 287) leaving by it.
fn losses_sql(w: &Window, interfaces: &str) -> String {
    format!(
        "SELECT minute, agent, interface, sum(d) AS losses FROM ( \
           SELECT date_trunc('minute', time_received) AS minute, ip_to_string(agent) AS agent, if_index AS interface, \
                  TRY_CAST(out_discards AS BIGINT) - TRY_CAST(lag(out_discards) OVER (PARTITION BY agent, sub_agent, source_index, if_index ORDER BY time_received) AS BIGINT) AS d \
           FROM interface_counters WHERE if_index IN ({interfaces}) AND {} \
         ) WHERE d > 0 GROUP BY 1, 2, 3 \
         UNION ALL \
         SELECT date_trunc('minute', time_received) AS minute, ip_to_string(agent) AS agent, out_if AS interface, count(*) AS losses \
         FROM drops WHERE reason_code IN ({}) AND out_if IN ({interfaces}) AND {} GROUP BY 1, 2, 3",
        w.predicate(),
        CONGESTION.map(|c| c.to_string()).join(", "),
        w.predicate()
    )
}

/// The contention findings of the window.
pub async fn detect(ctx: &SessionContext, t: &Topology, w: &Window) -> Result<Vec<Finding>> {
    Ok(findings(&minutes(ctx, t, w).await?))
}

/// A teammate this much less used than a contended uplink says the team does not spread
/// the load (teaming pins flows to uplinks).
pub const TEAM_IMBALANCE: f64 = 0.5;

/// The contention findings of every uplink, each with its team's imbalance when an uplink
/// of the same host and switch was far less used in the worst minute.
pub fn findings(uplinks: &[(&Uplink, Vec<UplinkMinute>)]) -> Vec<Finding> {
    let mut out = Vec::new();
    for (i, (u, minutes)) in uplinks.iter().enumerate() {
        let (Some(mut f), Some(worst)) = (finding(u, minutes), worst(minutes)) else { continue };
        let teammates = uplinks
            .iter()
            .enumerate()
            .filter(|(j, (o, _))| *j != i && o.switch == u.switch && o.host == u.host);
        // A teammate with no row in that minute may be an exporter gap, not an idle link.
        let at_worst =
            |m: &[UplinkMinute]| m.iter().find(|x| x.minute_us == worst.minute_us).map(|x| x.utilisation);
        let idlest =
            teammates.filter_map(|(_, (o, m))| Some((o, at_worst(m)?))).min_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((o, used)) = idlest.filter(|(_, used)| worst.utilisation - used > TEAM_IMBALANCE) {
            f.evidence
                .push(Evidence::new("idlest_teammate_utilisation_ratio", (used * 1000.0).round() / 1000.0));
            f.explanation.push_str(&format!(
                " Its teammate {} was only {:.0} % used then: the team pins flows to one uplink.",
                o.label(),
                used * 100.0
            ));
            let largest = worst.classes.iter().max_by(|a, b| a.measured_bps.total_cmp(&b.measured_bps));
            f.fix = format!(
                "let the team spread the load (route based on physical NIC load, or a failover order that puts {} on {}); or {}",
                largest.map_or("the largest class", |c| c.class.as_str()),
                o.label(),
                f.fix
            );
        }
        out.extend(at_risk(u, minutes, worst));
        out.push(f);
    }
    out
}

/// Minutes before the worst one whose median a class's rate is compared with.
const HISTORY: usize = 15;
/// A class below its reservation fell this far under its median...
const FELL: f64 = 0.7;

/// A class below its reservation in the worst minute of a contention, with the evidence
/// that it wanted more.
struct Squeeze<'m> {
    class: &'m ClassMinute,
    /// Its median rate in the minutes before.
    median: Option<f64>,
    /// The class that grew while it fell (none when the uplink's losses are the evidence).
    grew: Option<&'m ClassMinute>,
}

/// The classes the reservation rule names: below their reservation in the worst minute,
/// and either fallen below 70 % of their median of the previous minutes while another
/// class grew above its own, or on an uplink that lost packets.
fn squeezed<'m>(minutes: &'m [UplinkMinute], worst: &'m UplinkMinute) -> Vec<Squeeze<'m>> {
    let before: Vec<&UplinkMinute> =
        minutes.iter().filter(|m| m.minute_us < worst.minute_us).rev().take(HISTORY).collect();
    let median_of = |class: &str| -> Option<f64> {
        let mut v: Vec<f64> = before
            .iter()
            .map(|m| m.classes.iter().find(|c| c.class == class).map_or(0.0, |c| c.measured_bps))
            .collect();
        v.sort_by(f64::total_cmp);
        (!v.is_empty()).then(|| v[v.len() / 2])
    };
    let grew = worst.classes.iter().find(|c| median_of(&c.class).is_some_and(|m| c.measured_bps > m / FELL));
    worst
        .classes
        .iter()
        .filter(|c| c.below_reservation)
        .filter_map(|c| {
            let median = median_of(&c.class);
            let fell = median.filter(|&m| c.measured_bps < FELL * m);
            let squeezed = fell.is_some() && grew.is_some_and(|g| g.class != c.class);
            if !squeezed && worst.losses == 0 {
                return None;
            }
            Some(Squeeze { class: c, median, grew: grew.filter(|_| squeezed) })
        })
        .collect()
}

/// The classes of an uplink at risk of their reservation in the window (those the
/// `nioc.reservation_at_risk` findings name).
pub fn classes_at_risk(minutes: &[UplinkMinute]) -> Vec<&str> {
    match worst(minutes) {
        Some(w) => squeezed(minutes, w).into_iter().map(|s| s.class.class.as_str()).collect(),
        None => Vec::new(),
    }
}

/// `nioc.reservation_at_risk`: a finding per squeezed class of the worst minute.
fn at_risk(u: &Uplink, minutes: &[UplinkMinute], worst: &UplinkMinute) -> Vec<Finding> {
    squeezed(minutes, worst)
        .into_iter()
        .map(|Squeeze { class: c, median, grew }| {
            let mut evidence = vec![Evidence::new("measured_bps", c.measured_bps.round())];
            if let Some(m) = median {
                evidence.push(Evidence::new("median_before_bps", m.round()));
            }
            if worst.losses > 0 {
                evidence.push(Evidence::new("packets_lost", worst.losses as f64));
            }
            let why = match grew {
                Some(g) => format!(
                    "it fell to {:.2} Gbps from a median of {:.2} while {} grew",
                    c.measured_bps / 1e9,
                    median.unwrap_or(0.0) / 1e9,
                    g.class
                ),
                None => format!("the uplink lost {} packets for want of room", worst.losses),
            };
            Finding {
            kind: kind::NIOC_RESERVATION_AT_RISK,
            rule: "below_reservation_under_contention",
            severity: Severity::Critical,
            subject: format!("{} on uplink {}", c.class, u.label()),
            keys: Vec::new(),
            evidence,
            explanation: format!(
                "{} got {:.2} Gbps on {} while the uplink was {:.0} % used, below what its reservation promises, and it wanted more: {why}.",
                c.class,
                c.measured_bps / 1e9,
                u.label(),
                worst.utilisation * 100.0
            ),
            fix: format!(
                "check that NIOC on {} really holds the reservation for {} (vCenter refuses reservations above 75 % of the slowest uplink), and move the class that grew elsewhere",
                u.switch, c.class
            ),
            first_us: Some(worst.minute_us),
            last_us: Some(worst.minute_us + MINUTE_US),
        }
    })
        .collect()
}

/// Whether flows name this uplink: its interface index or vDS port key, from its exporter
/// when the topology gives one.
fn names(u: &Uplink, exporter: Option<&str>, interface: i64) -> bool {
    let from = u.exporter.is_none_or(|e| exporter == Some(e.to_string().as_str()));
    let port = u.if_index.map(i64::from) == Some(interface) || u.port_key.map(i64::from) == Some(interface);
    from && port
}

/// Contention minutes that have enough others within the span before them.
fn sustained(minutes: &[UplinkMinute]) -> Vec<&UplinkMinute> {
    let hits: Vec<&UplinkMinute> = minutes.iter().filter(|m| m.contention).collect();
    hits.iter()
        .enumerate()
        .filter(|(k, m)| {
            let start = m.minute_us - (HYSTERESIS_SPAN - 1) * MINUTE_US;
            hits[..=*k].iter().filter(|h| h.minute_us >= start).count() >= HYSTERESIS_HITS
        })
        .map(|(_, m)| *m)
        .collect()
}

/// The finding of an uplink's minutes, when contention lasted (3 of 5 minutes).
/// The most used of the minutes that count towards a finding.
fn worst(minutes: &[UplinkMinute]) -> Option<&UplinkMinute> {
    sustained(minutes).into_iter().max_by(|a, b| a.utilisation.total_cmp(&b.utilisation))
}

fn finding(u: &Uplink, minutes: &[UplinkMinute]) -> Option<Finding> {
    let sustained = sustained(minutes);
    let worst = worst(minutes)?;
    let in_contention = minutes.iter().filter(|m| m.contention).count();
    let mut evidence = vec![
        Evidence::new("utilisation_ratio", (worst.utilisation * 1000.0).round() / 1000.0),
        Evidence::new("capacity_bps", u.speed_mbps as f64 * 1e6),
        Evidence::new("minutes_in_contention", in_contention as f64),
        Evidence::new("minutes_seen", minutes.len() as f64),
    ];
    let losses: u64 = sustained.iter().map(|m| m.losses).sum();
    if losses > 0 {
        evidence.push(Evidence::new("packets_lost", losses as f64));
    }
    // Largest first: the class to move or hold is the one that fills the link.
    let mut classes: Vec<&ClassMinute> = worst.classes.iter().collect();
    classes.sort_by(|a, b| b.measured_bps.total_cmp(&a.measured_bps));
    let mut states = Vec::new();
    for c in &classes {
        evidence.push(Evidence::new(format!("{}_measured_bps", c.class), c.measured_bps.round()));
        if let Some(e) = c.entitled_bps {
            evidence.push(Evidence::new(format!("{}_entitled_bps", c.class), e.round()));
        }
        let gbps = |v: f64| format!("{:.2} Gbps", v / 1e9);
        let entitled = c.entitled_bps.map_or(String::new(), |e| format!(" of {} entitled", gbps(e)));
        let state = match (c.share_bound, c.limit_bound, c.below_reservation) {
            (_, true, _) => " (limit-bound)",
            (true, _, _) => " (share-bound)",
            (_, _, true) => " (below its reservation; demand unknown)",
            _ => "",
        };
        states.push(format!("{} {}{entitled}{state}", c.class, gbps(c.measured_bps)));
    }
    let storage_bound = classes
        .iter()
        .any(|c| c.share_bound && TrafficClass::ALL.iter().any(|k| k.as_str() == c.class && k.is_storage()));
    let bound: Vec<&str> = classes.iter().filter(|c| c.share_bound).map(|c| c.class.as_str()).collect();
    Some(Finding {
        kind: kind::NIOC_CONTENTION,
        rule: "saturated_uplink",
        severity: if storage_bound { Severity::Critical } else { Severity::Warning },
        subject: format!("uplink {}", u.label()),
        keys: Vec::new(),
        evidence,
        explanation: format!(
            "{} was {:.0} % used with {} classes competing in {in_contention} of {} minutes; at worst: {}. {}",
            u.label(),
            worst.utilisation * 100.0,
            classes.iter().filter(|c| c.measured_bps > 0.0).count(),
            minutes.len(),
            states.join(", "),
            if bound.is_empty() {
                "No class is held at its share.".to_string()
            } else {
                format!("NIOC holds back {}: they get their share and want more.", bound.join(" and "))
            }
        ),
        fix: format!(
            "spread the load: move {} to another uplink (teaming, or load-based teaming), schedule it off-peak, or give the class that must not wait higher shares or a reservation; at this rate the uplink needs more than {} Mbps",
            bound.first().copied().unwrap_or("the largest class"),
            u.speed_mbps
        ),
        first_us: sustained.first().map(|m| m.minute_us),
        last_us: sustained.last().map(|m| m.minute_us + MINUTE_US),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ten_gbe() -> (Topology, Uplink) {
        let mut t = Topology::reference();
        t.uplinks[0].speed_mbps = 10_000;
        // Reservations that fit 10 GbE: 1 + 2 + 3 Gbps.
        for (a, r) in t.nioc[0].traffic.iter_mut().zip([1_000, 2_000, 3_000, 0, 0]) {
            a.reservation_mbps = r;
        }
        let u = t.uplinks[0].clone();
        (t, u)
    }

    fn minute(t: &Topology, u: &Uplink, at: i64, classes: &[(&str, f64)]) -> UplinkMinute {
        let c: Vec<(String, f64)> = classes.iter().map(|(n, g)| (n.to_string(), g * 1e9)).collect();
        judge(t, u, at * MINUTE_US, &c, 0)
    }

    #[test]
    fn vmotion_and_vm_traffic_filling_10_gbe_are_share_bound() {
        let (t, u) = ten_gbe();
        let m = minute(&t, &u, 0, &[("vmotion", 6.5), ("virtualMachine", 3.3)]);
        assert!(m.contention && (m.utilisation - 0.98).abs() < 1e-9, "{m:#?}");
        let vmotion = &m.classes[0];
        // High 100 against Normal 50 on 10 Gbps: 6.67 and 3.33.
        assert!((vmotion.entitled_bps.unwrap() / 1e9 - 20.0 / 3.0).abs() < 1e-6, "{vmotion:#?}");
        assert!(m.classes.iter().all(|c| c.share_bound), "{m:#?}");
        // Half the link: no contention, nothing bound.
        let calm = minute(&t, &u, 0, &[("vmotion", 3.0), ("virtualMachine", 1.5)]);
        assert!(!calm.contention && calm.classes.iter().all(|c| !c.share_bound));
        // One class alone filling the link is not contention.
        assert!(!minute(&t, &u, 0, &[("vmotion", 9.5)]).contention);
    }

    #[test]
    fn a_finding_needs_three_of_five_minutes() {
        let (t, u) = ten_gbe();
        let busy = |at| minute(&t, &u, at, &[("vmotion", 6.5), ("virtualMachine", 3.3)]);
        let calm = |at| minute(&t, &u, at, &[("vmotion", 1.0), ("virtualMachine", 1.0)]);
        assert!(finding(&u, &[busy(0), calm(1), busy(2), calm(3), calm(4), busy(5)]).is_none(), "2 in any 5");
        let f = finding(&u, &[busy(0), calm(1), busy(2), busy(3), calm(4)]).unwrap();
        assert_eq!((f.kind, f.severity), ("nioc.contention", Severity::Warning));
        assert_eq!(f.subject, "uplink vmnic0");
        assert_eq!(f.evidence("minutes_in_contention"), Some(3.0));
        assert_eq!(f.evidence("vmotion_measured_bps"), Some(6.5e9));
        assert!(f.explanation.contains("NIOC holds back vmotion and virtualMachine"), "{}", f.explanation);
        assert_eq!((f.first_us, f.last_us), (Some(3 * MINUTE_US), Some(4 * MINUTE_US)));
    }

    #[test]
    fn losses_confirm_contention_below_saturation() {
        let (t, u) = ten_gbe();
        let c = |g: f64| vec![("vmotion".to_string(), g * 0.6e9), ("virtualMachine".to_string(), g * 0.4e9)];
        assert!(!judge(&t, &u, 0, &c(8.0), 0).contention, "80 % without losses");
        let m = judge(&t, &u, 0, &c(8.0), 12);
        assert!(m.contention && m.losses == 12, "{m:#?}");
        assert!(!judge(&t, &u, 0, &c(6.0), 12).contention, "60 %: the losses are someone else's");
    }

    #[test]
    fn an_idle_teammate_is_named_with_the_contention() {
        let (t, u) = ten_gbe();
        let mate = Uplink { name: "vmnic1".into(), ..u.clone() };
        let busy: Vec<UplinkMinute> =
            (0..3).map(|at| minute(&t, &u, at, &[("vmotion", 6.5), ("virtualMachine", 3.3)])).collect();
        let idle: Vec<UplinkMinute> =
            (0..3).map(|at| minute(&t, &mate, at, &[("virtualMachine", 0.8)])).collect();
        let found = findings(&[(&u, busy.clone()), (&mate, idle)]);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].evidence("idlest_teammate_utilisation_ratio"), Some(0.08));
        assert!(
            found[0].explanation.contains("Its teammate vmnic1 was only 8 % used"),
            "{}",
            found[0].explanation
        );
        assert!(found[0].fix.starts_with("let the team spread the load"), "{}", found[0].fix);
        // A teammate as busy: no imbalance to report.
        let found = findings(&[(&u, busy.clone()), (&mate, busy)]);
        assert_eq!(found.len(), 2);
        assert!(found.iter().all(|f| f.evidence("idlest_teammate_utilisation_ratio").is_none()));
    }

    #[test]
    fn a_class_squeezed_below_its_reservation_is_at_risk() {
        let (t, u) = ten_gbe();
        // vSAN (3 Gbps reserved) steady at 4, then squeezed to 2 by a vMotion burst.
        let mut m: Vec<UplinkMinute> =
            (0..6).map(|at| minute(&t, &u, at, &[("vsan", 4.0), ("vmotion", 2.0)])).collect();
        m.extend((6..9).map(|at| minute(&t, &u, at, &[("vsan", 2.0), ("vmotion", 7.5)])));
        let found = findings(&[(&u, m)]);
        let risk: Vec<_> = found.iter().filter(|f| f.kind == "nioc.reservation_at_risk").collect();
        assert_eq!(risk.len(), 1, "{found:#?}");
        assert_eq!(
            (risk[0].subject.as_str(), risk[0].severity),
            ("vsan on uplink vmnic0", Severity::Critical)
        );
        assert_eq!(risk[0].evidence("median_before_bps"), Some(4e9));
        assert!(risk[0].explanation.contains("while vmotion grew"), "{}", risk[0].explanation);
        // Always at 2: below its reservation, but no sign it wanted more.
        let steady: Vec<UplinkMinute> =
            (0..9).map(|at| minute(&t, &u, at, &[("vsan", 2.0), ("vmotion", 7.5)])).collect();
        assert!(findings(&[(&u, steady)]).iter().all(|f| f.kind != "nioc.reservation_at_risk"));
    }

    #[test]
    fn storage_held_at_its_share_is_critical_and_limits_bind_at_any_load() {
        let (mut t, u) = ten_gbe();
        // vMotion uses less than its half: vSAN may take the rest, and is held there.
        let busy = |t: &Topology, at| minute(t, &u, at, &[("vsan", 5.3), ("vmotion", 4.5)]);
        let m = busy(&t, 0);
        assert!(m.classes[0].share_bound && !m.classes[1].share_bound, "{m:#?}");
        assert!((m.classes[0].entitled_bps.unwrap() - 5.0e9).abs() < 1.0, "{m:#?}");
        let f = finding(&u, &[busy(&t, 0), busy(&t, 1), busy(&t, 2)]).unwrap();
        assert_eq!(f.severity, Severity::Critical, "{f:#?}");
        t.nioc[0].traffic[1].limit_mbps = Some(2_000);
        let m = minute(&t, &u, 0, &[("vmotion", 1.95), ("virtualMachine", 0.5)]);
        assert!(!m.contention && m.classes[0].limit_bound, "{m:#?}");
    }
}
