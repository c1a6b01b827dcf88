//! The user's network as plumb needs it to judge flows: switches and their MTU, uplinks and
//! their speed and identity, port groups with VLAN and MTU intent, VMkernel adapters,
//! overlays with their encapsulation and underlay MTU, and NIOC allocations. It comes from
//! `[topology]` in `plumb.toml`; without that section plumb uses the reference
//! architecture ([`reference`]). [`validate`] checks it before any traffic is seen.
//!
//! Speeds, reservations and limits are in Mbps, as vCenter shows them; MTUs are IP MTUs
//! (IP header and payload), frame sizes count the Ethernet header and FCS.

pub mod encap;
pub mod reference;
pub mod traffic;
pub mod validate;

use std::net::IpAddr;

use serde::Deserialize;

pub use encap::{EncapDetails, Encapsulation};
pub use traffic::{Shares, TrafficClass};

/// Everything under `[topology]`. A list left out is empty: the reference architecture is
/// the default for the whole section, never mixed into a user's own.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Topology {
    pub switches: Vec<Switch>,
    pub uplinks: Vec<Uplink>,
    pub port_groups: Vec<PortGroup>,
    pub vmkernels: Vec<Vmkernel>,
    pub overlays: Vec<Overlay>,
    pub nioc: Vec<NiocPolicy>,
}

/// What kind of virtual switch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SwitchKind {
    /// vSphere Distributed Switch: exports IPFIX, schedules uplinks with NIOC.
    Vds,
    /// Open vSwitch (OpenStack Neutron, OVN, KVM hosts): IPFIX, sFlow, NetFlow v5.
    Ovs,
}

/// A virtual switch. On vSphere the MTU belongs to the switch as a whole; a port group has
/// none of its own, only the intent of what runs on it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Switch {
    pub name: String,
    pub kind: SwitchKind,
    /// The switch's IP MTU (the vDS "MTU" setting).
    pub mtu: u32,
    /// The largest frame the physical ports under it accept (Ethernet header and FCS
    /// included; 9216 on most jumbo-capable switches). Unset: not checked.
    #[serde(default)]
    pub frame_size: Option<u32>,
}

/// A physical adapter of a host on a switch.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Uplink {
    /// The adapter (`vmnic0`, `eth1`, `bond0`).
    pub name: String,
    pub switch: String,
    /// The host it belongs to; uplinks of different hosts may share a name.
    #[serde(default)]
    pub host: Option<String>,
    /// Link speed; the vDS exports none, so it comes from here.
    pub speed_mbps: u64,
    /// How flows name it: the exporter (the host's address) with the interface index, or
    /// the vDS port key of the uplink's dvPort.
    #[serde(default)]
    pub exporter: Option<IpAddr>,
    #[serde(default)]
    pub if_index: Option<u32>,
    #[serde(default)]
    pub port_key: Option<u32>,
    /// Counted in NIOC's bandwidth model; vSphere lets low-capacity adapters be left out,
    /// and the 75 % reservation rule then ignores them.
    #[serde(default = "yes")]
    pub nioc: bool,
}

fn yes() -> bool {
    true
}

impl Uplink {
    /// `host/name`, or the name alone.
    pub fn label(&self) -> String {
        match &self.host {
            Some(h) => format!("{h}/{}", self.name),
            None => self.name.clone(),
        }
    }
}

/// A port group (or an OVS network): its VLAN, the MTU its traffic is meant to use, and the
/// NIOC traffic type it carries.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortGroup {
    pub name: String,
    pub switch: String,
    #[serde(default)]
    pub vlan: Option<u16>,
    /// The IP MTU of the guests or VMkernel adapters on it.
    pub mtu: u32,
    pub traffic: TrafficClass,
    /// The vDS port keys of its ports, as inclusive ranges (`[[100, 131]]`): a vDS record
    /// whose ingress port is one of them belongs to this port group, whatever its VLAN.
    #[serde(default)]
    pub port_keys: Vec<[u32; 2]>,
}

/// A VMkernel adapter: the host's own interface for management, vMotion, storage.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vmkernel {
    /// `vmk0`, `vmk1`, ...
    pub name: String,
    pub port_group: String,
    pub mtu: u32,
    /// The services enabled on it; several (management and vMotion) are told apart by port.
    pub services: Vec<TrafficClass>,
}

/// The IP version of an underlay.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IpVersion {
    #[default]
    Ipv4,
    Ipv6,
}

/// An overlay network: tenant networks of Neutron, a CNI's pod network, NSX segments.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overlay {
    pub name: String,
    pub encapsulation: Encapsulation,
    /// The UDP port of UDP encapsulations (VXLAN 4789, flannel 8472, GENEVE 6081).
    #[serde(default)]
    pub port: Option<u16>,
    /// The IP MTU inside the overlay (the tenant network's, the pods').
    pub inner_mtu: u32,
    /// The IP MTU of the network that carries it.
    pub underlay_mtu: u32,
    #[serde(default)]
    pub underlay: IpVersion,
    /// GENEVE option bytes: 8 for OVN; NSX varies (it asks for 1600 underlays, 1700 advised).
    #[serde(default)]
    pub options_bytes: u32,
    /// Inner frames carry an 802.1Q tag (VLAN trunking inside the overlay).
    #[serde(default)]
    pub inner_vlan: bool,
    /// GRE with the key field (Neutron and Open vSwitch set it).
    #[serde(default)]
    pub gre_key: bool,
    /// GRE carrying Ethernet frames (L2 GRE, NVGRE).
    #[serde(default)]
    pub gre_ethernet: bool,
}

impl Overlay {
    pub fn details(&self) -> EncapDetails {
        EncapDetails {
            underlay_v6: self.underlay == IpVersion::Ipv6,
            options_bytes: self.options_bytes,
            inner_vlan: self.inner_vlan,
            gre_key: self.gre_key,
            gre_ethernet: self.gre_ethernet,
        }
    }

    /// What the encapsulation adds to each inner packet.
    pub fn overhead(&self) -> u32 {
        encap::overhead(self.encapsulation, self.details())
    }
}

/// Network I/O Control on one switch: shares, reservation and limit per traffic type,
/// each per physical adapter.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NiocPolicy {
    pub switch: String,
    pub traffic: Vec<Allocation>,
}

/// One traffic type's allocation.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allocation {
    pub class: TrafficClass,
    #[serde(default)]
    pub shares: Shares,
    /// Guaranteed on each physical adapter.
    #[serde(default)]
    pub reservation_mbps: u64,
    /// The most it gets on each adapter, even when the link is idle; unset is unlimited.
    #[serde(default)]
    pub limit_mbps: Option<u64>,
}

impl Topology {
    /// The reference architecture: what plumb assumes without a `[topology]` section.
    pub fn reference() -> Topology {
        reference::architecture()
    }

    pub fn switch(&self, name: &str) -> Option<&Switch> {
        self.switches.iter().find(|s| s.name == name)
    }

    /// The uplinks of a switch that NIOC counts.
    pub fn nioc_uplinks<'a>(&'a self, switch: &'a str) -> impl Iterator<Item = &'a Uplink> + 'a {
        self.uplinks.iter().filter(move |u| u.switch == switch && u.nioc)
    }
}
