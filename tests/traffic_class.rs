//! Every flow gets its NIOC traffic type on the way into the store: a capture of tagged
//! VMkernel and VM traffic through `plumb ingest`, then `flows` and `flows_1m` grouped by
//! `traffic_class`, on the reference topology and on a topology of the user's.

mod common;

use std::path::Path;

use common::process::{query_csv, run};

/// One Ethernet frame from 10.0.0.`host`: an optional 802.1Q tag, IPv4, and a TCP or UDP
/// header with no payload. (Captured flows are keyed by their 5-tuple, not the VLAN: each
/// flow here has a host of its own.)
fn frame(host: u8, vlan: Option<u16>, protocol: u8, dst_port: u16) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
    if let Some(v) = vlan {
        f.extend([0x81, 0x00]);
        f.extend(v.to_be_bytes());
    }
    f.extend([0x08, 0x00]);
    let l4 = if protocol == 6 { 20 } else { 8 };
    let total = (20 + l4) as u16;
    let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, protocol, 0, 0, 10, 0, 0, host, 10, 0, 0, 200];
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    f.extend(ip);
    f.extend(40_000u16.to_be_bytes());
    f.extend(dst_port.to_be_bytes());
    if protocol == 6 {
        f.extend([0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x10, 0xff, 0xff, 0, 0, 0, 0]);
    } else {
        f.extend([0, 8, 0, 0]);
    }
    f
}

/// A pcap of (vlan, protocol, port, packets) flows, one packet a millisecond.
fn write_capture(path: &Path, flows: &[(Option<u16>, u8, u16, u32)]) {
    let mut out = Vec::new();
    for v in [0xa1b2c3d4u32, 0x0004_0002, 0, 0, 65_535, 1] {
        out.extend(v.to_le_bytes());
    }
    let mut t = 0u32;
    for (host, &(vlan, protocol, port, packets)) in (1u8..).zip(flows) {
        for _ in 0..packets {
            let f = frame(host, vlan, protocol, port);
            t += 1;
            for v in [1_700_000_000 + t / 1000, (t % 1000) * 1000, f.len() as u32, f.len() as u32] {
                out.extend(v.to_le_bytes());
            }
            out.extend(f);
        }
    }
    std::fs::write(path, out).unwrap();
}

const FLOWS: &[(Option<u16>, u8, u16, u32)] = &[
    (Some(20), 6, 8000, 5),  // vMotion VLAN
    (Some(30), 17, 2049, 3), // storage VLAN, NFS port
    (Some(30), 6, 2233, 4),  // storage VLAN, vSAN port
    (Some(40), 6, 443, 2),   // VM Network
    (None, 6, 3260, 6),      // untagged iSCSI
    (None, 6, 443, 1),       // nothing says what it is
];

fn ingest(dir: &Path, config: Option<&Path>) -> std::path::PathBuf {
    let pcap = dir.join("vmk.pcap");
    write_capture(&pcap, FLOWS);
    let data = dir.join("data");
    let mut args = vec!["ingest", pcap.to_str().unwrap(), "--data", data.to_str().unwrap(), "--quiet"];
    if let Some(c) = config {
        args.extend(["--config", c.to_str().unwrap()]);
    }
    run(&args);
    data
}

#[test]
fn the_reference_topology_classifies_by_vlan_service_port_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let data = ingest(dir.path(), None);
    let flows =
        query_csv(&data, "SELECT traffic_class, sum(packets) AS packets FROM flows GROUP BY 1 ORDER BY 1");
    assert_eq!(
        flows,
        "traffic_class,packets\niSCSI,6\nnfs,3\nunclassified,1\nvirtualMachine,2\nvmotion,5\nvsan,4\n"
    );
    let rollup =
        query_csv(&data, "SELECT traffic_class, sum(packets) AS packets FROM flows_1m GROUP BY 1 ORDER BY 1");
    assert_eq!(rollup, flows, "the rollup carries the class");
}

#[test]
fn a_topology_of_the_users_decides() {
    let dir = tempfile::tempdir().unwrap();
    // One switch, VLAN 40 carries vSphere Replication; no VMkernel split on VLAN 30.
    let config = dir.path().join("plumb.toml");
    std::fs::write(
        &config,
        "[topology]\n\
         [[topology.switches]]\nname = \"dvs\"\nkind = \"vds\"\nmtu = 9000\n\
         [[topology.port_groups]]\nname = \"Replication\"\nswitch = \"dvs\"\nvlan = 40\nmtu = 1500\ntraffic = \"hbr\"\n\
         [[topology.port_groups]]\nname = \"Storage\"\nswitch = \"dvs\"\nvlan = 30\nmtu = 9000\ntraffic = \"nfs\"\n",
    )
    .unwrap();
    let data = ingest(dir.path(), Some(&config));
    let flows =
        query_csv(&data, "SELECT traffic_class, sum(packets) AS packets FROM flows GROUP BY 1 ORDER BY 1");
    // VLAN 20 is no port group here: vMotion's port still tells.
    assert_eq!(flows, "traffic_class,packets\nhbr,2\niSCSI,6\nnfs,7\nunclassified,1\nvmotion,5\n");
}
