//! The `flows` table: its columns, the row a decoder fills, and the Arrow builders that
//! collect rows into a `RecordBatch`. Defined once here; every source and sink uses it.
//!
//! A decoder fills a [`FlowRow`] (plain `Option`s on the stack, no heap) and appends it to
//! [`FlowBuilders`]; nothing is formatted or allocated per record.

use std::sync::{Arc, OnceLock};

use arrow::array::{
    ArrayRef, BinaryBuilder, FixedSizeBinaryBuilder, MapBuilder, MapFieldNames, PrimitiveBuilder,
    RecordBatch, StringBuilder,
};
use arrow::datatypes::{
    DataType, Field, Schema, SchemaRef, TimeUnit, TimestampMicrosecondType, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};

use crate::addr::{ADDR_LEN, MAC_LEN};

/// Time zone of every timestamp column.
pub const TZ: &str = "UTC";

/// How a column is typed, built and appended. One implementation per column kind.
pub trait ColumnKind {
    type Value<'a>: Copy;
    type Builder;
    fn data_type() -> DataType;
    fn builder(capacity: usize) -> Self::Builder;
    fn append(b: &mut Self::Builder, v: Option<Self::Value<'_>>);
    fn finish(b: &mut Self::Builder) -> ArrayRef;
    /// Rows in the builder.
    fn rows(b: &Self::Builder) -> usize;
    /// Appends `n` nulls at once.
    fn nulls(b: &mut Self::Builder, n: usize);
}

/// The builder methods every kind forwards to (they share names across Arrow builders).
macro_rules! rows_and_nulls {
    () => {
        #[inline]
        fn rows(b: &Self::Builder) -> usize {
            arrow::array::ArrayBuilder::len(b)
        }
        #[inline]
        fn nulls(b: &mut Self::Builder, n: usize) {
            b.append_nulls(n)
        }
    };
}

macro_rules! primitive_kind {
    ($kind:ident, $native:ty, $arrow:ty, $dt:expr) => {
        pub struct $kind;
        impl ColumnKind for $kind {
            type Value<'a> = $native;
            type Builder = PrimitiveBuilder<$arrow>;
            fn data_type() -> DataType {
                $dt
            }
            fn builder(capacity: usize) -> Self::Builder {
                PrimitiveBuilder::<$arrow>::with_capacity(capacity).with_data_type($dt)
            }
            #[inline]
            fn append(b: &mut Self::Builder, v: Option<$native>) {
                b.append_option(v)
            }
            rows_and_nulls!();
            fn finish(b: &mut Self::Builder) -> ArrayRef {
                Arc::new(b.finish())
            }
        }
    };
}

primitive_kind!(U8, u8, UInt8Type, DataType::UInt8);
primitive_kind!(U16, u16, UInt16Type, DataType::UInt16);
primitive_kind!(U32, u32, UInt32Type, DataType::UInt32);
primitive_kind!(U64, u64, UInt64Type, DataType::UInt64);
primitive_kind!(
    Ts,
    i64,
    TimestampMicrosecondType,
    DataType::Timestamp(TimeUnit::Microsecond, Some(TZ.into()))
);

macro_rules! fixed_kind {
    ($kind:ident, $len:expr) => {
        pub struct $kind;
        impl ColumnKind for $kind {
            type Value<'a> = [u8; $len];
            type Builder = FixedSizeBinaryBuilder;
            fn data_type() -> DataType {
                DataType::FixedSizeBinary($len as i32)
            }
            fn builder(capacity: usize) -> Self::Builder {
                FixedSizeBinaryBuilder::with_capacity(capacity, $len as i32)
            }
            #[inline]
            fn append(b: &mut Self::Builder, v: Option<[u8; $len]>) {
                match v {
                    // The width always matches: the value type is a fixed array.
                    Some(v) => b.append_value(v).unwrap_or_default(),
                    None => b.append_null(),
                }
            }
            rows_and_nulls!();
            fn finish(b: &mut Self::Builder) -> ArrayRef {
                Arc::new(b.finish())
            }
        }
    };
}

fixed_kind!(Addr, ADDR_LEN);
fixed_kind!(Mac, MAC_LEN);

/// A label from a fixed set (`source_kind`, `tunnel_type`).
pub struct Label;
impl ColumnKind for Label {
    type Value<'a> = &'static str;
    type Builder = StringBuilder;
    fn data_type() -> DataType {
        DataType::Utf8
    }
    fn builder(capacity: usize) -> Self::Builder {
        StringBuilder::with_capacity(capacity, capacity * 8)
    }
    #[inline]
    fn append(b: &mut Self::Builder, v: Option<&'static str>) {
        b.append_option(v)
    }
    rows_and_nulls!();
    fn finish(b: &mut Self::Builder) -> ArrayRef {
        Arc::new(b.finish())
    }
}

/// Text taken from the wire (interface names). Invalid UTF-8 is stored as null.
pub struct Text;
impl ColumnKind for Text {
    type Value<'a> = &'a [u8];
    type Builder = StringBuilder;
    fn data_type() -> DataType {
        DataType::Utf8
    }
    fn builder(capacity: usize) -> Self::Builder {
        StringBuilder::with_capacity(capacity, 0)
    }
    #[inline]
    fn append(b: &mut Self::Builder, v: Option<&[u8]>) {
        b.append_option(v.and_then(|v| std::str::from_utf8(trim_nul(v)).ok()))
    }
    rows_and_nulls!();
    fn finish(b: &mut Self::Builder) -> ArrayRef {
        Arc::new(b.finish())
    }
}

/// Exporters pad fixed-width strings with NULs.
fn trim_nul(v: &[u8]) -> &[u8] {
    let end = v.iter().position(|&c| c == 0).unwrap_or(v.len());
    &v[..end]
}

macro_rules! flow_columns {
    ($( $(#[$doc:meta])* $name:ident : $kind:ident $(, $req:ident)? ;)*) => {
        /// One flow as a decoder fills it; `None` is stored as null.
        #[derive(Clone, Copy, Default, Debug)]
        pub struct FlowRow<'a> {
            $( $(#[$doc])* pub $name: Option<<$kind as ColumnKind>::Value<'a>>, )*
        }

        /// Arrow builders for every column of `flows`.
        pub struct FlowBuilders {
            $( $name: <$kind as ColumnKind>::Builder, )*
            extra: MapBuilder<StringBuilder, BinaryBuilder>,
            rows: usize,
        }

        impl FlowBuilders {
            /// Builders with room for `capacity` rows.
            pub fn with_capacity(capacity: usize) -> Self {
                Self {
                    $( $name: <$kind>::builder(capacity), )*
                    extra: new_extra_builder(capacity),
                    rows: 0,
                }
            }

            /// Appends the row's set columns. A column that a source never fills costs
            /// nothing per row: its nulls are appended in bulk when it next gets a value,
            /// or when the batch is finished.
            #[inline]
            fn append_columns(&mut self, row: &FlowRow<'_>) {
                $(
                    if let Some(v) = row.$name {
                        let b = &mut self.$name;
                        let have = <$kind>::rows(b);
                        if have < self.rows {
                            <$kind>::nulls(b, self.rows - have);
                        }
                        <$kind>::append(b, Some(v));
                    }
                )*
            }

            /// Finishes the batch; the builders are empty afterwards.
            pub fn finish(&mut self) -> RecordBatch {
                $(
                    let have = <$kind>::rows(&self.$name);
                    if have < self.rows {
                        <$kind>::nulls(&mut self.$name, self.rows - have);
                    }
                )*
                let columns: Vec<ArrayRef> = vec![
                    $( <$kind>::finish(&mut self.$name), )*
                    Arc::new(self.extra.finish()),
                ];
                self.rows = 0;
                RecordBatch::try_new(flows_schema(), columns)
                    .expect("builders follow the schema by construction")
            }
        }

        fn build_schema() -> Schema {
            let mut fields = vec![
                $( Field::new(stringify!($name), <$kind>::data_type(), flow_columns!(@nullable $($req)?)), )*
            ];
            fields.push(Field::new("extra", extra_data_type(), false));
            Schema::new(fields)
        }

        /// Names of the columns in schema order.
        pub const FLOW_COLUMNS: &[&str] = &[ $( stringify!($name), )* "extra" ];
    };
    (@nullable required) => { false };
    (@nullable) => { true };
}

flow_columns! {
    /// When plumb received the datagram (or the capture timestamp, for files).
    time_received: Ts, required;
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

fn extra_field_names() -> MapFieldNames {
    MapFieldNames { entry: "entries".into(), key: "key".into(), value: "value".into() }
}

fn new_extra_builder(capacity: usize) -> MapBuilder<StringBuilder, BinaryBuilder> {
    MapBuilder::with_capacity(Some(extra_field_names()), StringBuilder::new(), BinaryBuilder::new(), capacity)
}

fn extra_data_type() -> DataType {
    let names = extra_field_names();
    let entries = Field::new(
        names.entry,
        DataType::Struct(
            vec![
                Field::new(names.key, DataType::Utf8, false),
                Field::new(names.value, DataType::Binary, true),
            ]
            .into(),
        ),
        false,
    );
    DataType::Map(Arc::new(entries), false)
}

/// The Arrow schema of `flows` (shared, built once).
pub fn flows_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA.get_or_init(|| Arc::new(build_schema())).clone()
}

impl FlowBuilders {
    /// Appends one row with its `extra` entries (`PEN/ID` key, raw value bytes).
    #[inline]
    pub fn append<'k, 'v>(
        &mut self,
        row: &FlowRow<'_>,
        extra: impl IntoIterator<Item = (&'k str, &'v [u8])>,
    ) {
        self.append_columns(row);
        for (k, v) in extra {
            self.extra.keys().append_value(k);
            self.extra.values().append_value(v);
        }
        // Only fails when keys and values disagree in length, which the loop rules out.
        let _ = self.extra.append(true);
        self.rows += 1;
    }

    /// Rows appended since the last [`FlowBuilders::finish`].
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_the_contract_columns() {
        let schema = flows_schema();
        for name in [
            "time_received",
            "flow_start",
            "flow_end",
            "exporter",
            "observation_domain",
            "source_kind",
            "sampling_rate",
            "bytes",
            "packets",
            "bytes_reported",
            "packets_reported",
            "src_addr",
            "dst_addr",
            "src_port",
            "dst_port",
            "protocol",
            "tcp_flags",
            "tos",
            "in_if",
            "out_if",
            "vlan",
            "src_mac",
            "dst_mac",
            "min_ip_len",
            "max_ip_len",
            "max_inner_ip_len",
            "df_packets",
            "fragments",
            "icmp_mtu",
            "full_size_retransmits",
            "offload_packets",
            "forwarding_status",
            "icmp_type",
            "icmp_code",
            "fragment_flags",
            "tunnel_type",
            "tunnel_key",
            "tunnel_src",
            "tunnel_dst",
            "inner_src_addr",
            "inner_dst_addr",
            "inner_src_port",
            "inner_dst_port",
            "inner_protocol",
            "in_if_attr",
            "out_if_attr",
            "traffic_class",
            "extra",
        ] {
            assert!(schema.field_with_name(name).is_ok(), "missing column {name}");
        }
        assert_eq!(schema.fields().len(), FLOW_COLUMNS.len());
    }

    #[test]
    fn rows_and_extra_entries_become_a_batch() {
        let mut b = FlowBuilders::with_capacity(4);
        let src = crate::addr::parse_text("10.0.0.1").unwrap();
        let row = FlowRow {
            time_received: Some(1),
            exporter: Some(src),
            source_kind: Some("ipfix"),
            src_addr: Some(src),
            in_if_name: Some(b"eth0\0\0"),
            ..Default::default()
        };
        b.append(&row, [("6876/950", &[1u8, 2][..])]);
        b.append(&row, []);
        let batch = b.finish();
        assert_eq!(batch.num_rows(), 2);
        let names = batch.column_by_name("in_if_name").unwrap();
        let names = names.as_any().downcast_ref::<arrow::array::StringArray>().unwrap();
        assert_eq!(names.value(0), "eth0");
        let extra = batch.column_by_name("extra").unwrap();
        let extra = extra.as_any().downcast_ref::<arrow::array::MapArray>().unwrap();
        assert_eq!(extra.value_length(0), 1);
        assert_eq!(extra.value_length(1), 0);
        assert!(b.is_empty());
    }
}
