//! sFlow drop reasons: the codes of a dropped-packet notification (format 5) and of a flow
//! sample whose output says "discarded". Codes 0–15 are the ICMP unreachable codes, 256–303
//! the sFlow drop-notification extension (with the Linux devlink traps), 304 on later
//! additions and Linux kernel drop reasons. Unknown codes are kept as numbers; they never
//! fail a sample.

/// The name of a drop reason, `None` for a code without one here. The codes from 337 on
/// are Linux kernel drop reasons, of which only those the sFlow drop-notification
/// documents name are listed; the rest stay numbers.
pub fn name(code: u32) -> Option<&'static str> {
    Some(match code {
        0 => "net_unreachable",
        1 => "host_unreachable",
        2 => "protocol_unreachable",
        3 => "port_unreachable",
        4 => "frag_needed",
        5 => "src_route_failed",
        6 => "dst_net_unknown",
        7 => "dst_host_unknown",
        8 => "src_host_isolated",
        9 => "dst_net_prohibited",
        10 => "dst_host_prohibited",
        11 => "dst_net_tos_unreachable",
        12 => "dst_host_tos_unreachable",
        13 => "comm_admin_prohibited",
        14 => "host_precedence_violation",
        15 => "precedence_cutoff",
        256 => "unknown",
        257 => "ttl_exceeded",
        258 => "acl",
        259 => "no_buffer_space",
        260 => "red",
        261 => "traffic_shaping",
        262 => "pkt_too_big",
        263 => "src_mac_is_multicast",
        264 => "vlan_tag_mismatch",
        265 => "ingress_vlan_filter",
        266 => "ingress_spanning_tree_filter",
        267 => "port_list_is_empty",
        268 => "port_loopback_filter",
        269 => "blackhole_route",
        270 => "non_ip",
        271 => "uc_dip_over_mc_dmac",
        272 => "dip_is_loopback_address",
        273 => "sip_is_mc",
        274 => "sip_is_loopback_address",
        275 => "ip_header_corrupted",
        276 => "ipv4_sip_is_limited_bc",
        277 => "ipv6_mc_dip_reserved_scope",
        278 => "ipv6_mc_dip_interface_local_scope",
        279 => "unresolved_neigh",
        280 => "mc_reverse_path_forwarding",
        281 => "non_routable_packet",
        282 => "decap_error",
        283 => "overlay_smac_is_mc",
        284 => "unknown_l2",
        285 => "unknown_l3",
        286 => "unknown_l3_exception",
        287 => "unknown_buffer",
        288 => "unknown_tunnel",
        289 => "unknown_l4",
        290 => "sip_is_unspecified",
        291 => "mlag_port_isolation",
        292 => "blackhole_arp_neigh",
        293 => "src_mac_is_dmac",
        294 => "dmac_is_reserved",
        295 => "sip_is_class_e",
        296 => "mc_dmac_mismatch",
        297 => "sip_is_dip",
        298 => "dip_is_local_network",
        299 => "dip_is_link_local",
        300 => "overlay_smac_is_dmac",
        301 => "egress_vlan_filter",
        302 => "uc_reverse_path_forwarding",
        303 => "split_horizon",
        304 => "locked_port",
        305 => "dmac_filter",
        306 => "blackhole_nexthop",
        307 => "vxlan_parsing",
        308 => "llc_snap_parsing",
        309 => "vlan_parsing",
        310 => "pppoe_ppp_parsing",
        311 => "mpls_parsing",
        312 => "arp_parsing",
        313 => "ip_1_parsing",
        314 => "ip_n_parsing",
        315 => "gre_parsing",
        316 => "udp_parsing",
        317 => "tcp_parsing",
        318 => "ipsec_parsing",
        319 => "sctp_parsing",
        320 => "dccp_parsing",
        321 => "gtp_parsing",
        322 => "esp_parsing",
        323 => "unknown_parsing",
        324 => "pkt_too_small",
        325 => "unhandled_proto",
        326 => "ipv6disabled",
        327 => "invalid_proto",
        328 => "ip_noproto",
        329 => "skb_csum",
        330 => "skb_ucopy_fault",
        331 => "dev_ready",
        332 => "dev_hdr",
        333 => "dup_frag",
        334 => "skb_gso_seg",
        335 => "reverse_path_forwarding",
        336 => "icmp_parsing",
        337 => "tcp_md5notfound",
        341 => "tcp_zerowindow",
        345 => "tcp_rfc7323_paws",
        347 => "tcp_reset",
        356 => "tcp_minttl",
        357 => "ipv6_bad_exthdr",
        363 => "tap_filter",
        364 => "tap_txfilter",
        365 => "tc_ingress",
        366 => "tc_egress",
        367 => "xdp",
        368 => "cpu_backlog",
        369 => "bpf_cgroup_egress",
        370 => "xfrm_policy",
        371 => "socket_filter",
        _ => return None,
    })
}

/// The label of a code without a name.
pub const OTHER: &str = "other";

/// The path-MTU reasons: ICMP "fragmentation needed" and "packet too big".
pub const FRAG_NEEDED: u32 = 4;
pub const PKT_TOO_BIG: u32 = 262;
/// The congestion reasons: `no_buffer_space`, `red`, `traffic_shaping`, `unknown_buffer`.
pub const CONGESTION: [u32; 4] = [259, 260, 261, 287];

/// IPFIX forwardingStatus (IE 89, RFC 7270 reason codes) for a drop reason, so that sFlow
/// drops and IPFIX drops share one column. The mapping loses detail (259, 287 and most
/// kernel reasons are all 128): the raw code belongs in the `drops` table.
pub fn forwarding_status(code: u32) -> u8 {
    match code {
        FRAG_NEEDED | PKT_TOO_BIG => 0x85,  // 133 fragmentation needed and DF set
        258 => 0x82,                        // 130 ACL drop
        257 => 0x89,                        // 137 bad TTL
        0..=3 | 5..=15 | 269 | 281 => 0x83, // 131 unroutable
        260 => 0x8B,                        // 139 WRED
        261 => 0x8A,                        // 138 policer
        275 => 0x88,                        // 136 bad header length
        _ => 0x80,                          // 128 unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_the_mtu_congestion_and_edge_codes() {
        assert_eq!(name(FRAG_NEEDED), Some("frag_needed"));
        assert_eq!(name(PKT_TOO_BIG), Some("pkt_too_big"));
        assert_eq!(name(259), Some("no_buffer_space"));
        assert_eq!(name(287), Some("unknown_buffer"));
        assert_eq!(name(303), Some("split_horizon"));
        assert_eq!(name(307), Some("vxlan_parsing"));
        assert_eq!(name(323), Some("unknown_parsing"));
        assert_eq!(name(338), None);
        assert_eq!(name(333), Some("dup_frag"));
        assert_eq!(name(341), Some("tcp_zerowindow"));
        assert_eq!(name(368), Some("cpu_backlog"));
        assert_eq!(name(16), None);
        assert_eq!(name(255), None);
        assert_eq!(name(u32::MAX), None);
    }

    #[test]
    fn forwarding_status_shares_ipfix_codes() {
        assert_eq!(forwarding_status(FRAG_NEEDED), 133);
        assert_eq!(forwarding_status(PKT_TOO_BIG), 133);
        assert_eq!(forwarding_status(1), 131);
        assert_eq!(forwarding_status(258), 130);
        assert_eq!(forwarding_status(9999), 128);
    }
}
