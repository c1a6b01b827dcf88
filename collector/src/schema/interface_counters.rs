//! The `interface_counters` table: one row per counter sample, the counters an agent keeps
//! for one data source (an interface, a VLAN, a host or VM) at the moment it sent them.
//! Counters are cumulative, as the device keeps them; rates are differences between
//! consecutive rows of the same source (the `interfaces_1m` rollup takes them). A counter
//! the agent does not keep (all ones on the wire) is null, never a count.

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::{Field, Schema, SchemaRef};

use super::extra::NoExtra;
use super::kinds::{Addr, ColumnKind, Label, Text, Ts, U8, U16, U32, U64};

table_columns! {
    /// One counter sample as a decoder fills it; `None` is stored as null.
    row CounterRow;
    /// Arrow builders for every column of `interface_counters`.
    builders CounterBuilders;
    /// The Arrow schema of `interface_counters` (shared, built once).
    schema schema;
    /// Names of the columns in schema order.
    names COLUMNS;
    extra NoExtra;

    /// When plumb received the datagram (or the capture timestamp, for files).
    time_received: Ts, required;
    /// The device that sent the export (its UDP source address).
    exporter: Addr, required;
    /// The agent address inside the datagram (the exporter when it carries none).
    agent: Addr, required;
    sub_agent: U32;
    source_kind: Label, required;
    /// The data source's sample sequence number.
    sequence: U32;
    /// The data source: 0 an ifIndex, 1 a VLAN, 2 a physical entity, 3 a logical one.
    source_class: U8;
    source_index: U32;
    if_index: U32;
    /// The port name (Open vSwitch record 1005).
    if_name: Text;
    if_type: U32;
    /// Bits per second.
    if_speed: U64;
    /// 0 unknown, 1 full duplex, 2 half duplex, 3 in, 4 out.
    if_direction: U8;
    /// 1 when administratively up.
    if_admin_up: U8;
    /// 1 when operationally up.
    if_oper_up: U8;
    promiscuous: U8;
    in_octets: U64;
    /// Unicast + multicast + broadcast packets (the kinds the agent keeps).
    in_packets: U64;
    in_unicast: U64;
    in_multicast: U64;
    in_broadcast: U64;
    in_discards: U64;
    in_errors: U64;
    in_unknown_protos: U64;
    out_octets: U64;
    out_packets: U64;
    out_unicast: U64;
    out_multicast: U64;
    out_broadcast: U64;
    out_discards: U64;
    out_errors: U64;
    /// Ethernet (dot3) counters, record 2.
    alignment_errors: U64;
    fcs_errors: U64;
    single_collision_frames: U64;
    multiple_collision_frames: U64;
    sqe_test_errors: U64;
    deferred_transmissions: U64;
    late_collisions: U64;
    excessive_collisions: U64;
    internal_mac_transmit_errors: U64;
    carrier_sense_errors: U64;
    /// Frames received longer than the interface's MTU allows: the MTU counter.
    frames_too_long: U64;
    internal_mac_receive_errors: U64;
    symbol_errors: U64;
    /// VLAN counters (record 5), for a VLAN data source.
    vlan: U16;
    vlan_octets: U64;
    vlan_packets: U64;
    vlan_discards: U64;
    /// Processor (1001): CPU busy in hundredths of a percent over 5 s, 1 min, 5 min.
    cpu_5s: U32;
    cpu_1m: U32;
    cpu_5m: U32;
    /// Bytes of memory (processor 1001 or host 2004).
    memory_total: U64;
    memory_free: U64;
    /// OpenFlow datapath and port (Open vSwitch 1004).
    of_datapath: U64;
    of_port: U32;
    /// The agent process (Open vSwitch 2203): CPU milliseconds and memory bytes.
    app_user_ms: U64;
    app_system_ms: U64;
    app_memory_used: U64;
    /// Open vSwitch datapath (2207): flow-cache hits and misses, upcalls lost (packets
    /// the datapath dropped because user space could not take them), flows and masks.
    dp_hits: U64;
    dp_missed: U64;
    dp_lost: U64;
    dp_mask_hits: U64;
    dp_flows: U64;
    dp_masks: U64;
}
