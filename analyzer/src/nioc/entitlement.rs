//! What NIOC gives each traffic class on a saturated uplink. VMware does not publish its
//! scheduler; two models are offered (docs/domain/nioc.md):
//!
//! - **proportional** (the default): weighted water-filling, reservations as floors and
//!   limits as ceilings. Find λ with Σ clamp(λ·shares, reservation, limit) = capacity.
//! - **additive**: each class gets its reservation, and what is left is split by shares,
//!   capped by limits (the capped remainder is split again).
//!
//! Both agree while reservations stay under the proportional share. Rates are in bits/s.

/// One active class on an uplink.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Claim {
    pub shares: f64,
    pub reservation: f64,
    /// `f64::INFINITY` when unlimited.
    pub limit: f64,
}

impl Claim {
    fn clamp(&self, v: f64) -> f64 {
        // A limit below the reservation is a configuration error (reported by the
        // validation); the limit wins, as it is enforced even on an idle link.
        v.max(self.reservation).min(self.limit)
    }
}

/// The proportional model. Reservations summing to the capacity or more are scaled down
/// to it; classes that are all limited below the capacity get their limits.
pub fn proportional(capacity: f64, claims: &[Claim]) -> Vec<f64> {
    if claims.is_empty() {
        return Vec::new();
    }
    let reserved: f64 = claims.iter().map(|c| c.reservation.min(c.limit)).sum();
    if reserved >= capacity {
        return claims
            .iter()
            .map(|c| c.reservation.min(c.limit) * capacity / reserved.max(f64::MIN_POSITIVE))
            .collect();
    }
    let served = |lambda: f64| -> f64 { claims.iter().map(|c| c.clamp(lambda * c.shares)).sum() };
    // Above this λ every class is at its limit or has the whole link.
    let min_shares = claims.iter().map(|c| c.shares).filter(|&s| s > 0.0).fold(f64::INFINITY, f64::min);
    let mut hi = if min_shares.is_finite() { capacity / min_shares } else { 0.0 };
    if served(hi) <= capacity {
        return claims.iter().map(|c| c.clamp(hi * c.shares)).collect();
    }
    let mut lo = 0.0;
    // served() is continuous and non-decreasing in λ: bisect to well below a bit/s.
    for _ in 0..200 {
        let mid = (lo + hi) / 2.0;
        if served(mid) < capacity {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    claims.iter().map(|c| c.clamp(hi * c.shares)).collect()
}

/// The additive model: reservation plus a share of what the reservations leave, capped by
/// limits, the excess of capped classes split again among the others.
pub fn additive(capacity: f64, claims: &[Claim]) -> Vec<f64> {
    let mut out: Vec<f64> = claims.iter().map(|c| c.reservation.min(c.limit)).collect();
    let reserved: f64 = out.iter().sum();
    if reserved >= capacity {
        return out.iter().map(|r| r * capacity / reserved.max(f64::MIN_POSITIVE)).collect();
    }
    let mut left = capacity - reserved;
    let mut open: Vec<usize> = (0..claims.len()).filter(|&i| out[i] < claims[i].limit).collect();
    // Each round caps at least one class or hands out everything: at most n rounds.
    while left > 0.0 && !open.is_empty() {
        let shares: f64 = open.iter().map(|&i| claims[i].shares).sum();
        if shares <= 0.0 {
            break;
        }
        let mut capped = Vec::new();
        let mut handed = 0.0;
        for &i in &open {
            let give = left * claims[i].shares / shares;
            let room = claims[i].limit - out[i];
            let g = give.min(room);
            out[i] += g;
            handed += g;
            if give >= room {
                capped.push(i);
            }
        }
        left -= handed;
        if capped.is_empty() {
            break;
        }
        open.retain(|i| !capped.contains(i));
    }
    out
}

/// The entitlement given what each class actually used: a class using less than its
/// entitlement is capped at its use, and the others share what it leaves. A class is
/// share-bound when it uses about all of this (it wants more than NIOC gives it).
pub fn given_use(
    capacity: f64,
    claims: &[Claim],
    used: &[f64],
    model: fn(f64, &[Claim]) -> Vec<f64>,
) -> Vec<f64> {
    let first = model(capacity, claims);
    let demand_limited: Vec<Claim> = claims
        .iter()
        .zip(used)
        .zip(&first)
        .map(|((c, &x), &e)| {
            if x < e { Claim { limit: c.limit.min(x), reservation: c.reservation.min(x), ..*c } } else { *c }
        })
        .collect();
    model(capacity, &demand_limited)
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: f64 = 1e9;

    /// The reference architecture's NIOC: Management, vMotion, vSAN High with 1, 5, 10 Gbps
    /// reserved; VM and NFS Normal.
    fn reference() -> Vec<Claim> {
        let c = |shares, reservation| Claim { shares, reservation: reservation * G, limit: f64::INFINITY };
        vec![c(100.0, 1.0), c(100.0, 5.0), c(100.0, 10.0), c(50.0, 0.0), c(50.0, 0.0)]
    }

    fn close(got: &[f64], want: &[f64]) {
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            assert!(
                (g / G - w).abs() < 1e-6,
                "got {:?}, want {want:?}",
                got.iter().map(|g| g / G).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn the_worked_example_on_25_gbe() {
        // vSAN's floor binds, then vMotion's; Management, VM and NFS share the rest 2:1:1.
        close(&proportional(25.0 * G, &reference()), &[5.0, 5.0, 10.0, 2.5, 2.5]);
        close(&additive(25.0 * G, &reference()), &[3.25, 7.25, 12.25, 1.125, 1.125]);
    }

    #[test]
    fn equal_shares_split_evenly_and_limits_cap() {
        let c = |shares, limit| Claim { shares, reservation: 0.0, limit };
        // The documentation's example: FT and iSCSI at 100, a third at 50: 40/40/20.
        let three = [c(100.0, f64::INFINITY), c(100.0, f64::INFINITY), c(50.0, f64::INFINITY)];
        close(&proportional(10.0 * G, &three), &[4.0, 4.0, 2.0]);
        close(&additive(10.0 * G, &three), &[4.0, 4.0, 2.0]);
        // A limit of 1 Gbps: the rest goes to the others by their shares.
        let limited = [c(100.0, 1.0 * G), c(100.0, f64::INFINITY), c(50.0, f64::INFINITY)];
        close(&proportional(10.0 * G, &limited), &[1.0, 6.0, 3.0]);
        close(&additive(10.0 * G, &limited), &[1.0, 6.0, 3.0]);
        // Everyone limited below the link: each gets its limit, the rest stays idle.
        let all = [c(100.0, 1.0 * G), c(50.0, 2.0 * G)];
        close(&proportional(10.0 * G, &all), &[1.0, 2.0]);
    }

    #[test]
    fn reservations_beyond_the_link_are_scaled_to_it() {
        // 16 Gbps reserved on 10 GbE (the configuration vCenter refuses).
        let e = proportional(10.0 * G, &reference());
        close(&e, &[0.625, 3.125, 6.25, 0.0, 0.0]);
        close(&additive(10.0 * G, &reference()), &[0.625, 3.125, 6.25, 0.0, 0.0]);
    }

    #[test]
    fn an_idle_class_leaves_its_share_to_the_others() {
        // VM and NFS use 0.5 Gbps each: Management takes what they leave.
        let used = [20.0 * G, 20.0 * G, 20.0 * G, 0.5 * G, 0.5 * G];
        let e = given_use(25.0 * G, &reference(), &used, proportional);
        close(&e, &[7.0, 7.0, 10.0, 0.5, 0.5]);
        assert!((e.iter().sum::<f64>() - 25.0 * G).abs() < 1.0);
    }

    #[test]
    fn no_claims_and_zero_shares() {
        assert!(proportional(G, &[]).is_empty());
        let z = [Claim { shares: 0.0, reservation: 0.0, limit: f64::INFINITY }];
        assert_eq!(proportional(G, &z), [0.0]);
        assert_eq!(additive(G, &z), [0.0]);
    }
}
