//! The `drops` table: one row per dropped packet a device reported (sFlow dropped-packet
//! notifications), with the reason and what the packet's header said. Notifications are
//! not sampled: a row stands for one packet, and `suppressed` is the agent's running count
//! of notifications it did not send (rate limit), so the true count is at least
//! `count(*)` plus the growth of `suppressed`.

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::{Field, Schema, SchemaRef};

use super::extra::NoExtra;
use super::kinds::{Addr, ColumnKind, Label, Mac, Ts, U8, U16, U32, U64};

table_columns! {
    /// One dropped packet as a decoder fills it; `None` is stored as null.
    row DropRow;
    /// Arrow builders for every column of `drops`.
    builders DropBuilders;
    /// The Arrow schema of `drops` (shared, built once).
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
    /// The data source's notification sequence number.
    sequence: U32;
    source_class: U8;
    source_index: U32;
    /// The device's reason code (sFlow drop_reason).
    reason_code: U32, required;
    /// Its name (`frag_needed`, `pkt_too_big`, `no_buffer_space`, …); `other` when unknown.
    reason: Label, required;
    /// The reason as an IPFIX forwardingStatus, so drops and flows share one code.
    forwarding_status: U8;
    /// Packets this row stands for: 1 for a notification.
    drops: U64, required;
    /// Notifications the agent suppressed so far (cumulative).
    suppressed: U64;
    in_if: U32;
    out_if: U32;
    /// The dropped frame's length on the wire.
    frame_len: U32;
    /// The outermost IP packet's total length (layer 3).
    ip_len: U32;
    src_mac: Mac;
    dst_mac: Mac;
    vlan: U16;
    src_addr: Addr;
    dst_addr: Addr;
    src_port: U16;
    dst_port: U16;
    protocol: U8;
    tos: U8;
    tcp_flags: U16;
    /// 1 when the outermost IPv4 header had Don't Fragment set.
    df: U8;
    fragment_flags: U8;
    icmp_type: U8;
    icmp_code: U8;
    icmp_mtu: U32;
    tunnel_type: Label;
    tunnel_key: U32;
    tunnel_src: Addr;
    tunnel_dst: Addr;
    tunnel_src_port: U16;
    tunnel_dst_port: U16;
    inner_src_addr: Addr;
    inner_dst_addr: Addr;
    inner_src_port: U16;
    inner_dst_port: U16;
    inner_protocol: U8;
    inner_ip_len: U32;
}
