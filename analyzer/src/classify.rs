//! Which NIOC traffic type a flow belongs to, written into `traffic_class` as each batch
//! passes to the store, so `flows`, `flows_1m` and `interfaces_1m` all carry it and the
//! contention windows read the rollups. First match wins (docs/domain/nioc.md,
//! "Classification"):
//!
//! 1. **Port identity**: a vDS record (one with interface attributes) whose ingress port
//!    key is in a port group's `port_keys` belongs to that port group.
//! 2. **VLAN**: the port group of the flow's VLAN gives its type.
//!
//!    In both, a port group whose VMkernel adapters carry several services (vSAN and NFS
//!    on one storage vmk) is split among them by port (rule 3), falling back to the port
//!    group's own type.
//! 3. **VMkernel service ports**: vMotion TCP 8000, vSAN TCP 2233 and UDP 12321/12345/23451,
//!    NFS 2049, iSCSI TCP 3260, FT 8100/8200/8300 and UDP 8301-8302, vSphere Replication
//!    TCP 31031/44046, management TCP/UDP 902. Ports VMs use as much as hosts (443, 80)
//!    are left to the other rules.
//! 4. **VM port**: a vDS record whose ingress or egress port is a VM's access port
//!    (interface attribute 0x02) is `virtualMachine`.
//!
//! Anything else is `unclassified`: a large share of it says the topology is incomplete.

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, UInt8Array, UInt16Array, UInt32Array};
use arrow::datatypes::{UInt8Type, UInt16Type, UInt32Type};
use plumb_collector::packet::ip_protocol;
use plumb_collector::schema::{ColumnKind, Label};

use crate::topology::{Topology, TrafficClass};

/// The `traffic_class` of a flow no rule placed.
pub const UNCLASSIFIED: &str = "unclassified";
/// The vDS interface attribute of a VM's access port.
const VM_PORT_ATTR: u16 = 0x02;
/// VLAN ids (12 bits).
const VLANS: usize = 4096;

/// What a VLAN says: its port group's type, and the services its VMkernel adapters carry
/// when there are several to tell apart by port.
#[derive(Clone, Debug, Default)]
struct VlanRule {
    class: Option<TrafficClass>,
    services: Vec<TrafficClass>,
}

/// The rules of one topology, ready to run per row.
#[derive(Clone, Debug)]
pub struct Classifier {
    vlans: Box<[VlanRule]>,
    /// (first, last port key, the port group's rule), in the topology's order.
    ports: Vec<(u32, u32, VlanRule)>,
}

impl Classifier {
    pub fn new(t: &Topology) -> Classifier {
        let mut vlans = vec![VlanRule::default(); VLANS].into_boxed_slice();
        let mut ports = Vec::new();
        for g in &t.port_groups {
            let own = VlanRule { class: Some(g.traffic), services: services(t, &g.name) };
            for &[first, last] in &g.port_keys {
                ports.push((first, last, own.clone()));
            }
            let Some(vlan) = g.vlan.filter(|&v| (v as usize) < VLANS) else { continue };
            let rule = &mut vlans[vlan as usize];
            rule.class.get_or_insert(g.traffic);
            for s in own.services {
                if !rule.services.contains(&s) {
                    rule.services.push(s);
                }
            }
        }
        Classifier { vlans, ports }
    }

    /// The port group rule of a vDS record's ingress port key.
    fn by_port_key(&self, f: &FlowFacts) -> Option<&VlanRule> {
        let key = f.in_if.filter(|_| f.in_if_attr.is_some())?;
        self.ports.iter().find(|(first, last, _)| (*first..=*last).contains(&key)).map(|(_, _, r)| r)
    }

    /// The class of one flow; `None` is unclassified.
    pub fn class_of(&self, f: &FlowFacts) -> Option<TrafficClass> {
        let by_vlan = || f.vlan.and_then(|v| self.vlans.get(v as usize));
        if let Some(rule) = self.by_port_key(f).or_else(by_vlan)
            && let Some(class) = rule.class
        {
            if rule.services.len() > 1 {
                let by_port = service_port(f.protocol, f.src_port, f.dst_port);
                return Some(by_port.filter(|c| rule.services.contains(c)).unwrap_or(class));
            }
            return Some(class);
        }
        if let Some(class) = service_port(f.protocol, f.src_port, f.dst_port) {
            return Some(class);
        }
        (f.in_if_attr == Some(VM_PORT_ATTR) || f.out_if_attr == Some(VM_PORT_ATTR))
            .then_some(TrafficClass::VirtualMachine)
    }

    /// `batch` (a `flows` batch) with `traffic_class` filled; a batch without the columns
    /// the rules read comes back as it is.
    pub fn classify(&self, batch: RecordBatch) -> RecordBatch {
        let Some(at) = batch.schema().index_of("traffic_class").ok() else { return batch };
        let Some(cols) = Columns::of(&batch) else { return batch };
        let mut b = Label::builder(batch.num_rows());
        for i in 0..batch.num_rows() {
            let class = self.class_of(&cols.row(i));
            Label::push(&mut b, class.map_or(UNCLASSIFIED, TrafficClass::as_str));
        }
        let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
        columns[at] = Label::finish(&mut b);
        RecordBatch::try_new(batch.schema(), columns).unwrap_or(batch)
    }
}

/// What the rules read of one flow.
#[derive(Clone, Copy, Debug, Default)]
pub struct FlowFacts {
    pub vlan: Option<u16>,
    /// The ingress interface: a vDS port key in vDS records.
    pub in_if: Option<u32>,
    pub protocol: Option<u8>,
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
    pub in_if_attr: Option<u16>,
    pub out_if_attr: Option<u16>,
}

/// The services of the VMkernel adapters on a port group.
fn services(t: &Topology, port_group: &str) -> Vec<TrafficClass> {
    let mut out = Vec::new();
    for v in t.vmkernels.iter().filter(|v| v.port_group == port_group) {
        for &s in &v.services {
            if !out.contains(&s) {
                out.push(s);
            }
        }
    }
    out
}

/// The VMkernel service a port belongs to, on either end of the flow.
fn service_port(protocol: Option<u8>, src: Option<u16>, dst: Option<u16>) -> Option<TrafficClass> {
    let protocol = protocol?;
    let tcp = protocol == ip_protocol::TCP;
    let udp = protocol == ip_protocol::UDP;
    let of = |port: u16| -> Option<TrafficClass> {
        use TrafficClass::*;
        Some(match port {
            8000 if tcp => Vmotion,
            2233 if tcp => Vsan,
            12321 | 12345 | 23451 if udp => Vsan,
            2049 if tcp || udp => Nfs,
            3260 if tcp => Iscsi,
            8100 | 8200 | 8300 if tcp || udp => FaultTolerance,
            8301 | 8302 if udp => FaultTolerance,
            31031 | 44046 if tcp => Hbr,
            902 if tcp || udp => Management,
            _ => return None,
        })
    };
    // The server's port decides: the destination's first, then the source's (replies).
    dst.and_then(of).or_else(|| src.and_then(of))
}

/// The columns of a `flows` batch the rules read.
struct Columns<'a> {
    vlan: &'a UInt16Array,
    in_if: &'a UInt32Array,
    protocol: &'a UInt8Array,
    src_port: &'a UInt16Array,
    dst_port: &'a UInt16Array,
    in_if_attr: &'a UInt16Array,
    out_if_attr: &'a UInt16Array,
}

impl<'a> Columns<'a> {
    fn of(b: &'a RecordBatch) -> Option<Columns<'a>> {
        let u16s = |name: &str| b.column_by_name(name)?.as_primitive_opt::<UInt16Type>();
        Some(Columns {
            vlan: u16s("vlan")?,
            in_if: b.column_by_name("in_if")?.as_primitive_opt::<UInt32Type>()?,
            protocol: b.column_by_name("protocol")?.as_primitive_opt::<UInt8Type>()?,
            src_port: u16s("src_port")?,
            dst_port: u16s("dst_port")?,
            in_if_attr: u16s("in_if_attr")?,
            out_if_attr: u16s("out_if_attr")?,
        })
    }

    fn row(&self, i: usize) -> FlowFacts {
        fn get<T: arrow::datatypes::ArrowPrimitiveType>(
            a: &arrow::array::PrimitiveArray<T>,
            i: usize,
        ) -> Option<T::Native> {
            a.is_valid(i).then(|| a.value(i))
        }
        FlowFacts {
            vlan: get(self.vlan, i),
            in_if: get(self.in_if, i),
            protocol: get(self.protocol, i),
            src_port: get(self.src_port, i),
            dst_port: get(self.dst_port, i),
            in_if_attr: get(self.in_if_attr, i),
            out_if_attr: get(self.out_if_attr, i),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::StringArray;
    use plumb_collector::schema::{FlowBuilders, FlowRow};

    fn facts(vlan: Option<u16>, protocol: u8, dst_port: u16) -> FlowFacts {
        FlowFacts {
            vlan,
            protocol: Some(protocol),
            src_port: Some(50_000),
            dst_port: Some(dst_port),
            ..FlowFacts::default()
        }
    }

    #[test]
    fn vlan_first_then_service_ports_then_vm_ports() {
        let c = Classifier::new(&Topology::reference());
        let class = |f: FlowFacts| c.class_of(&f).map(TrafficClass::as_str);
        assert_eq!(class(facts(Some(10), 6, 443)), Some("management"));
        assert_eq!(class(facts(Some(20), 6, 8000)), Some("vmotion"));
        assert_eq!(class(facts(Some(40), 6, 8000)), Some("virtualMachine"), "the VLAN decides first");
        // The storage VLAN carries vSAN and NFS on one vmk: split by port.
        assert_eq!(class(facts(Some(30), 17, 2049)), Some("nfs"));
        assert_eq!(class(facts(Some(30), 6, 2233)), Some("vsan"));
        assert_eq!(class(facts(Some(30), 6, 3260)), Some("vsan"), "iSCSI is not a service of that vmk");
        // No VLAN: the service port, on either end.
        assert_eq!(class(facts(None, 6, 3260)), Some("iSCSI"));
        let reply = FlowFacts { src_port: Some(2233), dst_port: Some(50_000), ..facts(None, 6, 0) };
        assert_eq!(class(reply), Some("vsan"));
        assert_eq!(class(facts(None, 17, 8000)), None, "vMotion is TCP");
        assert_eq!(class(facts(Some(99), 6, 443)), None, "a VLAN no port group has");
        let vm = FlowFacts { in_if_attr: Some(2), ..facts(None, 6, 443) };
        assert_eq!(class(vm), Some("virtualMachine"));
    }

    #[test]
    fn a_vds_ingress_port_key_decides_before_the_vlan() {
        let mut t = Topology::reference();
        t.port_groups[1].port_keys = vec![[100, 131]];
        let c = Classifier::new(&t);
        let vds = |in_if| FlowFacts { in_if: Some(in_if), in_if_attr: Some(2), ..facts(Some(40), 6, 443) };
        assert_eq!(c.class_of(&vds(120)), Some(TrafficClass::Vmotion), "port 120 is a vMotion port");
        assert_eq!(c.class_of(&vds(200)), Some(TrafficClass::VirtualMachine), "outside: the VLAN");
        // An ifIndex of another exporter (no vDS attributes) is not a port key.
        let other = FlowFacts { in_if: Some(120), ..facts(Some(40), 6, 443) };
        assert_eq!(c.class_of(&other), Some(TrafficClass::VirtualMachine));
    }

    #[test]
    fn a_batch_gets_its_traffic_class_column() {
        let mut b = FlowBuilders::with_capacity(4);
        let row = |vlan, dst_port| FlowRow {
            time_received: Some(1),
            exporter: Some([0; 16]),
            source_kind: Some("ipfix"),
            protocol: Some(6),
            vlan,
            dst_port,
            ..FlowRow::default()
        };
        b.append(&row(Some(20), Some(8000)), []);
        b.append(&row(None, Some(443)), []);
        b.append(&row(None, None), []);
        let out = Classifier::new(&Topology::reference()).classify(b.finish());
        let classes = out.column_by_name("traffic_class").unwrap();
        let classes: &StringArray = classes.as_string();
        assert_eq!(
            classes.iter().collect::<Vec<_>>(),
            [Some("vmotion"), Some(UNCLASSIFIED), Some(UNCLASSIFIED)]
        );
        assert_eq!(out.schema(), plumb_collector::schema::flows_schema());
    }
}
