//! Information-element registry: which (PEN, id) lands in which `flows` column.
//!
//! Every IE plumb understands is listed once in [`REGISTRY`]; anything else is kept in the
//! `extra` map under `PEN/ID`. NetFlow v9 uses the same numbers for ids below 32768; v9 ids at
//! or above 32768 are vendor types (not enterprise-flagged) and are looked up as PEN 0.

/// IANA private enterprise number of VMware (vDS, NSX, and the OVS tunnel IEs).
pub const PEN_VMWARE: u32 = 6876;

/// What a decoded value is used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// Skipped (paddingOctets).
    Padding,
    OctetDelta,
    PacketDelta,
    OctetTotal,
    PacketTotal,
    Protocol,
    Tos,
    TcpFlags,
    SrcPort,
    DstPort,
    SrcV4,
    DstV4,
    SrcV6,
    DstV6,
    NextHopV4,
    NextHopV6,
    SrcAs,
    DstAs,
    InIf,
    OutIf,
    IfName,
    /// A second interfaceName in the same template (OVS egress templates): the egress port's.
    OutIfName,
    Vlan,
    Dot1qVlan,
    SrcMac,
    DstMac,
    MinIpLen,
    MaxIpLen,
    /// The per-flow maximum of the inner packet (OVS tunnel records).
    MaxInnerIpLen,
    IcmpTypeCode,
    IcmpType,
    IcmpCode,
    FragmentFlags,
    ForwardingStatus,
    FlowDirection,
    FlowEndReason,
    StartSysUptime,
    EndSysUptime,
    StartSeconds,
    EndSeconds,
    StartMillis,
    EndMillis,
    StartMicros,
    EndMicros,
    StartNanos,
    EndNanos,
    StartDeltaMicros,
    EndDeltaMicros,
    SystemInitMillis,
    SamplingInterval,
    SamplingAlgorithm,
    SamplerId,
    SamplerMode,
    SamplerRandomInterval,
    SelectorId,
    SamplingPacketInterval,
    SamplingPacketSpace,
    SamplingSize,
    SamplingPopulation,
    SamplingProbability,
    Layer2SegmentId,
    InnerProtocol,
    InnerSrcV4,
    InnerDstV4,
    InnerSrcV6,
    InnerDstV6,
    InnerSrcPort,
    InnerDstPort,
    EgressIfAttr,
    IngressIfAttr,
    VxlanExportRole,
    TunnelType,
    TunnelKey,
    TunnelSrcV4,
    TunnelDstV4,
    TunnelProtocol,
    TunnelSrcPort,
    TunnelDstPort,
    NotSentFlows,
    NotSentPackets,
    NotSentOctets,
    /// ipVersion as the registry knows it; [`super::record_plan::RecordPlan::compile`] turns it into
    /// one of the two below, or into `Extra`.
    IpVersion,
    /// ipVersion in a template whose addresses are all IPv4 (IPv6): the address column
    /// already says it, so only a record whose value disagrees keeps it, in `extra`.
    IpVersionOf4,
    IpVersionOf6,
    /// No column: stored in `extra`.
    Extra,
}

/// How the wire value must look for its target; anything else goes to `extra`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// Unsigned integer of 1..=N bytes (reduced-size encoding allowed); a variable-length
    /// field is accepted too and its length is checked per record (OVS tunnelKey).
    Uint(u8),
    /// Exactly N bytes (addresses, MACs).
    Exact(u16),
    /// Any length, including variable (strings, octet arrays).
    Any,
    /// 4-byte float32 or 8-byte float64.
    Float,
}

/// One registry entry.
pub struct Ie {
    pub pen: u32,
    pub id: u16,
    pub name: &'static str,
    pub target: Target,
    pub shape: Shape,
}

macro_rules! ies {
    ($( ($pen:expr, $id:expr, $name:literal, $target:ident, $shape:expr) ),* $(,)?) => {
        /// Every IE plumb maps to a column or to decoder state.
        pub const REGISTRY: &[Ie] = &[
            $( Ie { pen: $pen, id: $id, name: $name, target: Target::$target, shape: $shape }, )*
        ];
    };
}

use Shape::{Any, Exact, Float, Uint};

use crate::netflow::wire::template::VARLEN;

ies! {
    (0, 1, "octetDeltaCount", OctetDelta, Uint(8)),
    (0, 2, "packetDeltaCount", PacketDelta, Uint(8)),
    (0, 4, "protocolIdentifier", Protocol, Uint(1)),
    (0, 5, "ipClassOfService", Tos, Uint(1)),
    (0, 6, "tcpControlBits", TcpFlags, Uint(2)),
    (0, 7, "sourceTransportPort", SrcPort, Uint(2)),
    (0, 8, "sourceIPv4Address", SrcV4, Exact(4)),
    (0, 10, "ingressInterface", InIf, Uint(4)),
    (0, 11, "destinationTransportPort", DstPort, Uint(2)),
    (0, 12, "destinationIPv4Address", DstV4, Exact(4)),
    (0, 14, "egressInterface", OutIf, Uint(4)),
    (0, 15, "ipNextHopIPv4Address", NextHopV4, Exact(4)),
    (0, 16, "bgpSourceAsNumber", SrcAs, Uint(4)),
    (0, 17, "bgpDestinationAsNumber", DstAs, Uint(4)),
    (0, 21, "flowEndSysUpTime", EndSysUptime, Uint(4)),
    (0, 22, "flowStartSysUpTime", StartSysUptime, Uint(4)),
    (0, 25, "minimumIpTotalLength", MinIpLen, Uint(8)),
    (0, 26, "maximumIpTotalLength", MaxIpLen, Uint(8)),
    (0, 27, "sourceIPv6Address", SrcV6, Exact(16)),
    (0, 28, "destinationIPv6Address", DstV6, Exact(16)),
    (0, 32, "icmpTypeCodeIPv4", IcmpTypeCode, Uint(2)),
    (0, 34, "samplingInterval", SamplingInterval, Uint(4)),
    (0, 35, "samplingAlgorithm", SamplingAlgorithm, Uint(1)),
    (0, 48, "samplerId", SamplerId, Uint(8)),
    (0, 49, "samplerMode", SamplerMode, Uint(1)),
    (0, 50, "samplerRandomInterval", SamplerRandomInterval, Uint(4)),
    (0, 56, "sourceMacAddress", SrcMac, Exact(6)),
    (0, 58, "vlanId", Vlan, Uint(2)),
    (0, 60, "ipVersion", IpVersion, Exact(1)),
    (0, 61, "flowDirection", FlowDirection, Uint(1)),
    (0, 62, "ipNextHopIPv6Address", NextHopV6, Exact(16)),
    (0, 80, "destinationMacAddress", DstMac, Exact(6)),
    (0, 82, "interfaceName", IfName, Any),
    (0, 85, "octetTotalCount", OctetTotal, Uint(8)),
    (0, 86, "packetTotalCount", PacketTotal, Uint(8)),
    (0, 89, "forwardingStatus", ForwardingStatus, Uint(4)),
    (0, 136, "flowEndReason", FlowEndReason, Uint(1)),
    (0, 139, "icmpTypeCodeIPv6", IcmpTypeCode, Uint(2)),
    (0, 150, "flowStartSeconds", StartSeconds, Uint(4)),
    (0, 151, "flowEndSeconds", EndSeconds, Uint(4)),
    (0, 152, "flowStartMilliseconds", StartMillis, Uint(8)),
    (0, 153, "flowEndMilliseconds", EndMillis, Uint(8)),
    (0, 154, "flowStartMicroseconds", StartMicros, Exact(8)),
    (0, 155, "flowEndMicroseconds", EndMicros, Exact(8)),
    (0, 156, "flowStartNanoseconds", StartNanos, Exact(8)),
    (0, 157, "flowEndNanoseconds", EndNanos, Exact(8)),
    (0, 158, "flowStartDeltaMicroseconds", StartDeltaMicros, Uint(4)),
    (0, 159, "flowEndDeltaMicroseconds", EndDeltaMicros, Uint(4)),
    (0, 160, "systemInitTimeMilliseconds", SystemInitMillis, Uint(8)),
    (0, 166, "notSentFlowTotalCount", NotSentFlows, Uint(8)),
    (0, 167, "notSentPacketTotalCount", NotSentPackets, Uint(8)),
    (0, 168, "notSentOctetTotalCount", NotSentOctets, Uint(8)),
    (0, 176, "icmpTypeIPv4", IcmpType, Uint(1)),
    (0, 177, "icmpCodeIPv4", IcmpCode, Uint(1)),
    (0, 178, "icmpTypeIPv6", IcmpType, Uint(1)),
    (0, 179, "icmpCodeIPv6", IcmpCode, Uint(1)),
    (0, 197, "fragmentFlags", FragmentFlags, Uint(1)),
    (0, 210, "paddingOctets", Padding, Any),
    (0, 243, "dot1qVlanId", Dot1qVlan, Uint(2)),
    (0, 302, "selectorId", SelectorId, Uint(8)),
    (0, 305, "samplingPacketInterval", SamplingPacketInterval, Uint(4)),
    (0, 306, "samplingPacketSpace", SamplingPacketSpace, Uint(4)),
    (0, 309, "samplingSize", SamplingSize, Uint(4)),
    (0, 310, "samplingPopulation", SamplingPopulation, Uint(4)),
    (0, 311, "samplingProbability", SamplingProbability, Float),
    (0, 351, "layer2SegmentId", Layer2SegmentId, Uint(8)),
    (PEN_VMWARE, 880, "tenantProtocol", InnerProtocol, Uint(1)),
    (PEN_VMWARE, 881, "tenantSourceIPv4", InnerSrcV4, Exact(4)),
    (PEN_VMWARE, 882, "tenantDestIPv4", InnerDstV4, Exact(4)),
    (PEN_VMWARE, 883, "tenantSourceIPv6", InnerSrcV6, Exact(16)),
    (PEN_VMWARE, 884, "tenantDestIPv6", InnerDstV6, Exact(16)),
    (PEN_VMWARE, 886, "tenantSourcePort", InnerSrcPort, Uint(2)),
    (PEN_VMWARE, 887, "tenantDestPort", InnerDstPort, Uint(2)),
    (PEN_VMWARE, 888, "egressInterfaceAttr", EgressIfAttr, Uint(2)),
    (PEN_VMWARE, 889, "vxlanExportRole", VxlanExportRole, Uint(1)),
    (PEN_VMWARE, 890, "ingressInterfaceAttr", IngressIfAttr, Uint(2)),
    (PEN_VMWARE, 891, "tunnelType", TunnelType, Uint(1)),
    (PEN_VMWARE, 892, "tunnelKey", TunnelKey, Uint(4)),
    (PEN_VMWARE, 893, "tunnelSourceIPv4Address", TunnelSrcV4, Exact(4)),
    (PEN_VMWARE, 894, "tunnelDestinationIPv4Address", TunnelDstV4, Exact(4)),
    (PEN_VMWARE, 895, "tunnelProtocolIdentifier", TunnelProtocol, Uint(1)),
    (PEN_VMWARE, 896, "tunnelSourceTransportPort", TunnelSrcPort, Uint(2)),
    (PEN_VMWARE, 897, "tunnelDestinationTransportPort", TunnelDstPort, Uint(2)),
}

/// The registry entry of (PEN, id), if plumb knows it.
pub fn lookup(pen: u32, id: u16) -> Option<&'static Ie> {
    REGISTRY.iter().find(|ie| ie.pen == pen && ie.id == id)
}

/// Whether a value of `len` bytes (65535 = variable) fits the shape.
pub fn fits(shape: Shape, len: u16) -> bool {
    match shape {
        Shape::Uint(max) => (1..=max as u16).contains(&len) || len == VARLEN,
        Shape::Exact(n) => len == n,
        Shape::Any => true,
        Shape::Float => len == 4 || len == 8,
    }
}

/// Tunnel type names for the OVS tunnelType IE (891) and the top byte of layer2SegmentId.
pub fn tunnel_type_name(code: u8) -> Option<&'static str> {
    match code {
        0x01 => Some("vxlan"),
        0x02 => Some("gre"),
        0x03 => Some("lisp"),
        0x05 => Some("ipsec_gre"),
        0x07 => Some("geneve"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_has_no_duplicate_keys() {
        for (i, a) in REGISTRY.iter().enumerate() {
            for b in &REGISTRY[i + 1..] {
                assert!(!(a.pen == b.pen && a.id == b.id), "duplicate {}/{}", a.pen, a.id);
            }
        }
    }

    #[test]
    fn vmware_and_ovs_ies_are_named() {
        assert_eq!(lookup(PEN_VMWARE, 890).unwrap().name, "ingressInterfaceAttr");
        assert_eq!(lookup(PEN_VMWARE, 892).unwrap().target, Target::TunnelKey);
        assert!(lookup(PEN_VMWARE, 885).is_none());
        assert!(lookup(0, 33000).is_none());
    }

    #[test]
    fn reduced_size_lengths_fit_and_oversize_do_not() {
        assert!(fits(Shape::Uint(8), 3));
        assert!(!fits(Shape::Uint(2), 4));
        assert!(!fits(Shape::Exact(4), VARLEN));
        assert!(fits(Shape::Uint(4), VARLEN));
        assert!(fits(Shape::Any, 65535));
    }
}
