//! The reference architecture plumb assumes when `plumb.toml` has no `[topology]`: a vSphere
//! cluster on one distributed switch with two 25 GbE uplinks per host (Management VLAN 10
//! at 1500, vMotion 20 and Storage 30 at 9000, VM Network 40 at 1500; NIOC Management,
//! vMotion and vSAN High with 1, 5 and 10 Gbps reserved, VM and NFS Normal), beside
//! OpenStack Neutron tenant VXLAN (1450 over 1500) and the Kubernetes overlays (Calico
//! VXLAN on 4789, flannel on 8472, Calico IP-in-IP). `plumb.example.toml` spells out the
//! same values, and a test keeps them equal.
//!
//! The uplinks are 25 GbE because on 10 GbE these reservations (16 Gbps) exceed 75 % of
//! the adapter and vCenter refuses them: `plumb config check` says so for such a file.

use super::{
    Allocation, Encapsulation, IpVersion, NiocPolicy, Overlay, PortGroup, Shares, Switch, SwitchKind,
    Topology, TrafficClass, Uplink, Vmkernel,
};

/// The reference distributed switch's name.
pub const SWITCH: &str = "dvs-prod";

pub fn architecture() -> Topology {
    use TrafficClass::*;
    let group = |name: &str, vlan, mtu, traffic| PortGroup {
        name: name.into(),
        switch: SWITCH.into(),
        vlan: Some(vlan),
        mtu,
        traffic,
        port_keys: Vec::new(),
    };
    let uplink = |name: &str| Uplink {
        name: name.into(),
        switch: SWITCH.into(),
        host: None,
        speed_mbps: 25_000,
        exporter: None,
        if_index: None,
        port_key: None,
        nioc: true,
    };
    let vmk = |name: &str, port_group: &str, mtu, services: &[TrafficClass]| Vmkernel {
        name: name.into(),
        port_group: port_group.into(),
        mtu,
        services: services.to_vec(),
    };
    let share =
        |class, shares, reservation_mbps| Allocation { class, shares, reservation_mbps, limit_mbps: None };
    Topology {
        switches: vec![Switch {
            name: SWITCH.into(),
            kind: SwitchKind::Vds,
            mtu: 9000,
            frame_size: Some(9216),
        }],
        uplinks: vec![uplink("vmnic0"), uplink("vmnic1")],
        port_groups: vec![
            group("Management", 10, 1500, Management),
            group("vMotion", 20, 9000, Vmotion),
            group("Storage", 30, 9000, Vsan),
            group("VM Network", 40, 1500, VirtualMachine),
        ],
        vmkernels: vec![
            vmk("vmk0", "Management", 1500, &[Management]),
            vmk("vmk1", "vMotion", 9000, &[Vmotion]),
            vmk("vmk2", "Storage", 9000, &[Vsan, Nfs]),
        ],
        overlays: vec![
            overlay("neutron-tenant", Encapsulation::Vxlan, Some(4789), 1450),
            overlay("calico-vxlan", Encapsulation::Vxlan, Some(4789), 1450),
            overlay("flannel", Encapsulation::Vxlan, Some(8472), 1450),
            overlay("calico-ipip", Encapsulation::Ipip, None, 1480),
        ],
        nioc: vec![NiocPolicy {
            switch: SWITCH.into(),
            traffic: vec![
                share(Management, Shares::High, 1_000),
                share(Vmotion, Shares::High, 5_000),
                share(Vsan, Shares::High, 10_000),
                share(VirtualMachine, Shares::Normal, 0),
                share(Nfs, Shares::Normal, 0),
            ],
        }],
    }
}

/// An overlay over a 1500-byte IPv4 underlay.
fn overlay(name: &str, encapsulation: Encapsulation, port: Option<u16>, inner_mtu: u32) -> Overlay {
    Overlay {
        name: name.into(),
        encapsulation,
        port,
        inner_mtu,
        underlay_mtu: 1500,
        underlay: IpVersion::Ipv4,
        options_bytes: 0,
        inner_vlan: false,
        gre_key: false,
        gre_ethernet: false,
    }
}
