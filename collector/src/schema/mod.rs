//! The tables decoders write: their columns, the row a decoder fills, and the Arrow
//! builders that collect rows into a `RecordBatch`. Defined once here; every source and
//! sink uses them.
//!
//! A decoder fills a row (plain `Option`s on the stack, no heap) and appends it to the
//! table's builders; nothing is formatted or allocated per record. The `flows` column list
//! comes first below; [`interface_counters`] and [`drops`] hold the other tables' lists,
//! [`table`] names the tables for the sinks, [`kinds`] holds the column types,
//! [`builders`] the code the lists expand to, [`extra`] the `extra` map.

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::{Field, Schema, SchemaRef};

// The macro the column lists expand through; defined before the lists use it.
#[macro_use]
mod builders;
pub mod drops;
mod extra;
pub mod findings;
pub mod interface_counters;
pub mod kinds;
mod table;

pub use builders::{fill, push_at};
use extra::ExtraColumn;
pub use kinds::{Addr, ColumnKind, FixedColumn, Label, Mac, Text, Ts, U8, U16, U32, U64};
pub use table::{SideTables, Table, TableBatch};

/// Time zone of every timestamp column.
pub const TZ: &str = "UTC";

table_columns! {
    /// One flow as a decoder fills it; `None` is stored as null.
    row FlowRow;
    /// Arrow builders for every column of `flows`.
    builders FlowBuilders;
    /// The Arrow schema of `flows` (shared, built once).
    schema flows_schema;
    /// Names of the columns in schema order.
    names FLOW_COLUMNS + "extra";
    extra ExtraColumn;
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
