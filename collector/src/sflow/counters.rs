//! The records of a counter sample (sFlow v5 `counter_data`) that plumb reads, into one
//! `interface_counters` row: generic interface (1), Ethernet (2), VLAN (5), processor
//! (1001), Open vSwitch port and name (1004, 1005), host memory (2004), a VM's network
//! I/O (2104, as the VM interface's in/out counters), and Open vSwitch's own process and
//! datapath (2203, 2207). Each is read within its own body; a record cut short is left out
//! and counted, anything else is skipped by length and counted.
//!
//! An agent sends all ones for a counter it does not keep; that is stored as null, never
//! as a count (a 32-bit all-ones would read as four billion discards).

use super::row::Origin;
use super::sample::CounterSample;
use super::stats::{SflowError, SflowStats};
use super::xdr::Xdr;
use crate::schema::interface_counters::CounterRow;
use crate::source_kind::SourceKind;

/// `counter_data` formats read here.
pub mod format {
    pub const GENERIC_INTERFACE: u32 = 1;
    pub const ETHERNET: u32 = 2;
    pub const VLAN: u32 = 5;
    pub const PROCESSOR: u32 = 1001;
    pub const OPENFLOW_PORT: u32 = 1004;
    pub const PORT_NAME: u32 = 1005;
    pub const HOST_MEMORY: u32 = 2004;
    pub const VIRT_NET_IO: u32 = 2104;
    pub const APP_RESOURCES: u32 = 2203;
    pub const OVS_DATAPATH: u32 = 2207;
}

/// Longest port name kept (IF-MIB's ifName is at most 255 octets).
const MAX_NAME: usize = 255;

/// A 32-bit counter: all ones is "not kept".
fn c32(v: u32) -> Option<u64> {
    (v != u32::MAX).then_some(v as u64)
}

/// A 64-bit counter: all ones is "not kept".
fn c64(v: u64) -> Option<u64> {
    (v != u64::MAX).then_some(v)
}

/// The sum of the packet kinds the agent keeps; null when it keeps none.
fn packets(kinds: [Option<u64>; 3]) -> Option<u64> {
    kinds.into_iter().flatten().reduce(|a, b| a.wrapping_add(b))
}

/// Writes the row of one counter sample into `row`; its text points into the datagram.
pub fn counter_row<'a>(row: &mut CounterRow<'a>, o: Origin, s: CounterSample<'a>, stats: &mut SflowStats) {
    *row = CounterRow {
        time_received: Some(o.received_us),
        exporter: Some(o.exporter),
        agent: Some(o.agent),
        sub_agent: Some(o.sub_agent),
        source_kind: Some(SourceKind::Sflow.as_str()),
        sequence: Some(s.sequence),
        source_class: Some(s.source.class.min(u8::MAX as u32) as u8),
        source_index: Some(s.source.index),
        // An ifIndex source names its interface even without a generic record.
        if_index: (s.source.class == 0).then_some(s.source.index),
        ..CounterRow::default()
    };
    let mut records = s.records;
    for e in records.by_ref() {
        if e.enterprise != 0 {
            stats.shared.elements_skipped += 1;
            continue;
        }
        // A record is applied whole or not at all: its fixed length is checked before any
        // field is read (copying the row aside instead cost a tenth of a datagram's time).
        match min_len(e.format) {
            None => stats.shared.elements_skipped += 1,
            Some(n) if e.body.len() < n => stats.error(SflowError::RecordTruncated),
            Some(_) => {
                if read(row, e.format, e.body).is_err() {
                    stats.error(SflowError::RecordTruncated);
                }
            }
        }
    }
    if let Some(e) = records.error() {
        stats.error(e);
    }
}

/// The bytes of a record's fixed fields (a port name's length word for 1005); `None` for a
/// format not read here.
fn min_len(format: u32) -> Option<usize> {
    Some(match format {
        format::GENERIC_INTERFACE => 88,
        format::ETHERNET => 52,
        format::VLAN => 28,
        format::PROCESSOR => 28,
        format::OPENFLOW_PORT => 12,
        format::PORT_NAME => 4,
        format::HOST_MEMORY => 16,
        format::VIRT_NET_IO => 40,
        format::APP_RESOURCES => 16,
        format::OVS_DATAPATH => 24,
        _ => return None,
    })
}

/// Reads one record of at least [`min_len`] bytes into `row`; false for a format not read
/// here. Only a port name can still fail (its length runs past the record), before it
/// writes anything.
fn read<'a>(row: &mut CounterRow<'a>, format: u32, body: &'a [u8]) -> Result<bool, SflowError> {
    let x = &mut Xdr::new(body);
    match format {
        format::GENERIC_INTERFACE => generic(row, x)?,
        format::ETHERNET => {
            let mut w = [None; 13];
            for v in &mut w {
                *v = c32(x.u32()?);
            }
            let r = row;
            (r.alignment_errors, r.fcs_errors, r.single_collision_frames, r.multiple_collision_frames) =
                (w[0], w[1], w[2], w[3]);
            (r.sqe_test_errors, r.deferred_transmissions, r.late_collisions, r.excessive_collisions) =
                (w[4], w[5], w[6], w[7]);
            (r.internal_mac_transmit_errors, r.carrier_sense_errors, r.frames_too_long) = (w[8], w[9], w[10]);
            (r.internal_mac_receive_errors, r.symbol_errors) = (w[11], w[12]);
        }
        format::VLAN => {
            let (vlan, octets) = (x.u32()?, c64(x.u64()?));
            let kinds = [c32(x.u32()?), c32(x.u32()?), c32(x.u32()?)];
            row.vlan = u16::try_from(vlan).ok();
            (row.vlan_octets, row.vlan_packets, row.vlan_discards) = (octets, packets(kinds), c32(x.u32()?));
        }
        format::PROCESSOR => {
            let cpu = |v: u32| (v != u32::MAX).then_some(v);
            (row.cpu_5s, row.cpu_1m, row.cpu_5m) = (cpu(x.u32()?), cpu(x.u32()?), cpu(x.u32()?));
            (row.memory_total, row.memory_free) = (c64(x.u64()?), c64(x.u64()?));
        }
        format::OPENFLOW_PORT => (row.of_datapath, row.of_port) = (Some(x.u64()?), Some(x.u32()?)),
        format::PORT_NAME => {
            let name = x.opaque()?;
            row.if_name = Some(&name[..name.len().min(MAX_NAME)]);
        }
        format::HOST_MEMORY => (row.memory_total, row.memory_free) = (c64(x.u64()?), c64(x.u64()?)),
        format::VIRT_NET_IO => {
            // What the VM received is what its interface took in.
            (row.in_octets, row.in_packets) = (c64(x.u64()?), c32(x.u32()?));
            (row.in_errors, row.in_discards) = (c32(x.u32()?), c32(x.u32()?));
            (row.out_octets, row.out_packets) = (c64(x.u64()?), c32(x.u32()?));
            (row.out_errors, row.out_discards) = (c32(x.u32()?), c32(x.u32()?));
        }
        format::APP_RESOURCES => {
            (row.app_user_ms, row.app_system_ms) = (c32(x.u32()?), c32(x.u32()?));
            row.app_memory_used = c64(x.u64()?);
        }
        format::OVS_DATAPATH => {
            (row.dp_hits, row.dp_missed, row.dp_lost) = (c32(x.u32()?), c32(x.u32()?), c32(x.u32()?));
            (row.dp_mask_hits, row.dp_flows, row.dp_masks) = (c32(x.u32()?), c32(x.u32()?), c32(x.u32()?));
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// Record 1: the IF-MIB counters of one interface.
fn generic(row: &mut CounterRow<'_>, x: &mut Xdr<'_>) -> Result<(), SflowError> {
    let (index, kind, speed, direction, status) = (x.u32()?, x.u32()?, x.u64()?, x.u32()?, x.u32()?);
    row.if_index = Some(index);
    row.if_type = Some(kind);
    // All ones is "faster than can be said" in IF-MIB's ifSpeed; here it is unknown.
    row.if_speed = c64(speed).filter(|&s| s != u32::MAX as u64);
    row.if_direction = u8::try_from(direction).ok();
    (row.if_admin_up, row.if_oper_up) = (Some((status & 1) as u8), Some((status >> 1 & 1) as u8));
    let r = row;
    r.in_octets = c64(x.u64()?);
    (r.in_unicast, r.in_multicast, r.in_broadcast) = (c32(x.u32()?), c32(x.u32()?), c32(x.u32()?));
    (r.in_discards, r.in_errors, r.in_unknown_protos) = (c32(x.u32()?), c32(x.u32()?), c32(x.u32()?));
    r.out_octets = c64(x.u64()?);
    (r.out_unicast, r.out_multicast, r.out_broadcast) = (c32(x.u32()?), c32(x.u32()?), c32(x.u32()?));
    (r.out_discards, r.out_errors) = (c32(x.u32()?), c32(x.u32()?));
    r.in_packets = packets([r.in_unicast, r.in_multicast, r.in_broadcast]);
    r.out_packets = packets([r.out_unicast, r.out_multicast, r.out_broadcast]);
    r.promiscuous = Some((x.u32()? != 0) as u8);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sflow::sample::{CounterSample, SourceId};
    use crate::sflow::xdr::Xdr;

    fn words(w: &[u32]) -> Vec<u8> {
        w.iter().flat_map(|v| v.to_be_bytes()).collect()
    }

    fn record(format: u32, body: &[u8]) -> Vec<u8> {
        let mut r = words(&[format, body.len() as u32]);
        r.extend_from_slice(body);
        r
    }

    fn origin() -> Origin {
        Origin { exporter: [1; 16], agent: [2; 16], sub_agent: 7, received_us: 5 }
    }

    fn sample(records: &[Vec<u8>]) -> Vec<u8> {
        records.concat()
    }

    fn decode<'a>(records: &'a [u8], n: u32, stats: &mut SflowStats) -> CounterRow<'a> {
        let s = CounterSample {
            sequence: 3,
            source: SourceId { class: 0, index: 2 },
            records: Xdr::new(records).elements(n),
        };
        let mut row = CounterRow::default();
        counter_row(&mut row, origin(), s, stats);
        row
    }

    /// Open vSwitch's generic record for port vm1 (`sflow-samples.txt`, datagram 4).
    fn ovs_generic() -> Vec<u8> {
        let mut b = words(&[2, 6]);
        b.extend(10_000_000_000u64.to_be_bytes());
        b.extend(words(&[1, 3]));
        b.extend(1188u64.to_be_bytes());
        b.extend(words(&[14, 0, u32::MAX, 0, 0, 0]));
        b.extend(2130u64.to_be_bytes());
        b.extend(words(&[25, u32::MAX, u32::MAX, 0, 0, 0]));
        b
    }

    #[test]
    fn generic_counters_keep_what_the_agent_keeps() {
        let mut name = words(&[3]);
        name.extend(b"vm1\0");
        let recs = sample(&[record(1005, &name), record(1, &ovs_generic())]);
        let mut stats = SflowStats::default();
        let r = decode(&recs, 2, &mut stats);
        assert_eq!((r.if_index, r.if_name, r.if_speed), (Some(2), Some(&b"vm1"[..]), Some(10_000_000_000)));
        assert_eq!((r.if_admin_up, r.if_oper_up, r.if_direction), (Some(1), Some(1), Some(1)));
        assert_eq!((r.in_octets, r.in_packets, r.in_broadcast), (Some(1188), Some(14), None));
        assert_eq!((r.out_octets, r.out_packets, r.out_multicast), (Some(2130), Some(25), None));
        assert_eq!((r.in_discards, r.out_errors, r.promiscuous), (Some(0), Some(0), Some(0)));
        assert_eq!((r.sequence, r.source_index, r.sub_agent), (Some(3), Some(2), Some(7)));
    }

    #[test]
    fn a_cut_record_is_left_out_and_the_rest_kept() {
        let generic = ovs_generic();
        let mut cut = record(1, &generic[..40]);
        cut.extend(record(1004, &words(&[0, 0xc226_2bca, 2])));
        let mut stats = SflowStats::default();
        let r = decode(&cut, 2, &mut stats);
        assert_eq!((r.in_octets, r.if_type), (None, None), "nothing of the cut record");
        assert_eq!((r.of_datapath, r.of_port), (Some(0xc226_2bca), Some(2)));
        let mut shared = crate::stats::DecodeStats::default();
        stats.drain_into(&mut shared);
        assert_eq!(shared.errors.total(), 1);
    }

    #[test]
    fn datapath_process_vlan_and_vm_records() {
        let dp = record(2207, &words(&[4310, 30, 0, u32::MAX, 30, u32::MAX]));
        let mut app = words(&[27, 64]);
        app.extend(18_800_640u64.to_be_bytes());
        app.extend(0u64.to_be_bytes());
        app.extend(words(&[0, 0, 0, 0]));
        let mut vlan = words(&[30]);
        vlan.extend(9000u64.to_be_bytes());
        vlan.extend(words(&[5, 1, u32::MAX, 2]));
        let mut vm = 100u64.to_be_bytes().to_vec();
        vm.extend(words(&[3, 0, 1]));
        vm.extend(200u64.to_be_bytes());
        vm.extend(words(&[4, 0, 0]));
        let recs = sample(&[dp, record(2203, &app), record(5, &vlan), record(2104, &vm), record(9999, &[])]);
        let mut stats = SflowStats::default();
        let r = decode(&recs, 5, &mut stats);
        assert_eq!(
            (r.dp_hits, r.dp_missed, r.dp_lost, r.dp_mask_hits),
            (Some(4310), Some(30), Some(0), None)
        );
        assert_eq!((r.app_user_ms, r.app_memory_used), (Some(27), Some(18_800_640)));
        assert_eq!(
            (r.vlan, r.vlan_octets, r.vlan_packets, r.vlan_discards),
            (Some(30), Some(9000), Some(6), Some(2))
        );
        assert_eq!(
            (r.in_octets, r.in_packets, r.in_discards, r.out_octets),
            (Some(100), Some(3), Some(1), Some(200))
        );
        assert_eq!(stats.shared.elements_skipped, 1);
    }
}
