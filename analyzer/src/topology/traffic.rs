//! NIOC traffic types and share levels, named as vSphere names them
//! (`DistributedVirtualSwitchHostInfrastructureTrafficClass`; shares from `SharesInfo`).

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

/// A vSphere system traffic type, or VM traffic. The names are vSphere's API keys, so a
/// vCenter export can be pasted in; they are also the `traffic_class` values in `flows`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
pub enum TrafficClass {
    #[serde(rename = "management")]
    Management,
    #[serde(rename = "faultTolerance")]
    FaultTolerance,
    #[serde(rename = "vmotion")]
    Vmotion,
    #[serde(rename = "virtualMachine")]
    VirtualMachine,
    #[serde(rename = "iSCSI")]
    Iscsi,
    #[serde(rename = "nfs")]
    Nfs,
    /// vSphere Replication.
    #[serde(rename = "hbr")]
    Hbr,
    #[serde(rename = "vsan")]
    Vsan,
    /// vSphere Data Protection backup.
    #[serde(rename = "vdp")]
    Vdp,
}

impl TrafficClass {
    pub const ALL: [TrafficClass; 9] = [
        TrafficClass::Management,
        TrafficClass::FaultTolerance,
        TrafficClass::Vmotion,
        TrafficClass::VirtualMachine,
        TrafficClass::Iscsi,
        TrafficClass::Nfs,
        TrafficClass::Hbr,
        TrafficClass::Vsan,
        TrafficClass::Vdp,
    ];

    /// The API key (`vmotion`, `virtualMachine`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            TrafficClass::Management => "management",
            TrafficClass::FaultTolerance => "faultTolerance",
            TrafficClass::Vmotion => "vmotion",
            TrafficClass::VirtualMachine => "virtualMachine",
            TrafficClass::Iscsi => "iSCSI",
            TrafficClass::Nfs => "nfs",
            TrafficClass::Hbr => "hbr",
            TrafficClass::Vsan => "vsan",
            TrafficClass::Vdp => "vdp",
        }
    }

    /// Storage traffic: share-bound storage under contention is critical, not a warning.
    pub const fn is_storage(self) -> bool {
        matches!(self, TrafficClass::Vsan | TrafficClass::Nfs | TrafficClass::Iscsi)
    }
}

impl fmt::Display for TrafficClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// NIOC shares of a traffic type: a level or a custom value. For network resources vSphere
/// sets High = 100, Normal = 50, Low = 25.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub enum Shares {
    Low,
    /// vCenter's default for system traffic.
    #[default]
    Normal,
    High,
    /// 1-100 when valid; anything else is reported by the validation, not refused at parse.
    Custom(u32),
}

impl Shares {
    pub const fn value(self) -> u32 {
        match self {
            Shares::Low => 25,
            Shares::Normal => 50,
            Shares::High => 100,
            Shares::Custom(n) => n,
        }
    }
}

impl<'de> Deserialize<'de> for Shares {
    /// `"low"`, `"normal"`, `"high"` or a number.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Shares, D::Error> {
        struct SharesVisitor;
        impl Visitor<'_> for SharesVisitor {
            type Value = Shares;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"low\", \"normal\", \"high\" or a custom value from 1 to 100")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Shares, E> {
                match v {
                    "low" => Ok(Shares::Low),
                    "normal" => Ok(Shares::Normal),
                    "high" => Ok(Shares::High),
                    _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Shares, E> {
                Ok(Shares::Custom(v.clamp(0, u32::MAX as i64) as u32))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Shares, E> {
                Ok(Shares::Custom(v.min(u32::MAX as u64) as u32))
            }
        }
        d.deserialize_any(SharesVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct T {
        shares: Shares,
        class: TrafficClass,
    }

    #[test]
    fn levels_numbers_and_api_keys() {
        let t: T = toml::from_str("shares = \"high\"\nclass = \"virtualMachine\"").unwrap();
        assert_eq!((t.shares.value(), t.class), (100, TrafficClass::VirtualMachine));
        let t: T = toml::from_str("shares = 30\nclass = \"iSCSI\"").unwrap();
        assert_eq!((t.shares, t.class.as_str()), (Shares::Custom(30), "iSCSI"));
        let err = toml::from_str::<T>("shares = \"urgent\"\nclass = \"vsan\"").err().unwrap().to_string();
        assert!(err.contains("\"low\", \"normal\", \"high\""), "{err}");
        let err = toml::from_str::<T>("shares = 1\nclass = \"vMotion\"").err().unwrap().to_string();
        assert!(err.contains("vmotion"), "names the valid keys: {err}");
        for c in TrafficClass::ALL {
            let t: T = toml::from_str(&format!("shares = 1\nclass = \"{c}\"")).unwrap();
            assert_eq!(t.class, c);
        }
    }
}
