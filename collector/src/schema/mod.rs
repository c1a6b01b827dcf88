//! The `flows` table: its columns, the row a decoder fills, and the Arrow builders that
//! collect rows into a `RecordBatch`. Defined once here; every source and sink uses it.
//!
//! A decoder fills a [`FlowRow`] (plain `Option`s on the stack, no heap) and appends it to
//! [`FlowBuilders`]; nothing is formatted or allocated per record. The column list comes
//! first below; [`kinds`] holds the column types, [`builders`] the code the list expands
//! to, [`extra`] the `extra` map.

use std::sync::{Arc, OnceLock};

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::{Field, Schema, SchemaRef};

// The macro the column list expands through; defined before the list uses it.
#[macro_use]
mod builders;
mod extra;
pub mod kinds;

use builders::finish_column;
pub use builders::{fill, push_at};
use extra::{ExtraColumn, extra_data_type};
pub use kinds::{Addr, ColumnKind, FixedColumn, Label, Mac, Text, Ts, U8, U16, U32, U64};

/// Time zone of every timestamp column.
pub const TZ: &str = "UTC";

flow_columns! {
    /// When plumb received the datagram (or the capture timestamp, for files).
    time_received: Ts, required;
    /// The export time in the message header: what the flow times are judged against.
    time_exported: Ts;
    flow_start: Ts;
    flow_end: Ts;
    /// The device that sent the export (its UDP source address).
    exporter: Addr, required;
    /// IPFIX observation domain, NetFlow v9 source id, v5 engine type/id.
    observation_domain: U32;
    source_kind: Label, required;
    /// The factor applied: 1 unsampled, null unknown.
    sampling_rate: U32;
    /// Layer-3 bytes (IP total length), scaled by the sampling factor.
    bytes: U64;
    packets: U64;
    bytes_reported: U64;
    packets_reported: U64;
    src_addr: Addr;
    dst_addr: Addr;
    src_port: U16;
    dst_port: U16;
    protocol: U8;
    tcp_flags: U16;
    tos: U8;
    in_if: U32;
    out_if: U32;
    in_if_name: Text;
    out_if_name: Text;
    vlan: U16;
    src_mac: Mac;
    dst_mac: Mac;
    next_hop: Addr;
    src_as: U32;
    dst_as: U32;
    min_ip_len: U32;
    max_ip_len: U32;
    max_inner_ip_len: U32;
    df_packets: U64;
    fragments: U64;
    icmp_mtu: U32;
    full_size_retransmits: U64;
    offload_packets: U64;
    forwarding_status: U8;
    icmp_type: U8;
    icmp_code: U8;
    fragment_flags: U8;
    flow_direction: U8;
    flow_end_reason: U8;
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
    in_if_attr: U16;
    out_if_attr: U16;
    vxlan_export_role: U8;
    layer2_segment_id: U64;
    traffic_class: Label;
}

/// The Arrow schema of `flows` (shared, built once).
pub fn flows_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA.get_or_init(|| Arc::new(build_schema())).clone()
}
