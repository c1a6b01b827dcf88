//! The `flows` table: its columns, the row a decoder fills, and the Arrow builders that
//! collect rows into a `RecordBatch`. Defined once here; every source and sink uses it.
//!
//! A decoder fills a [`FlowRow`] (plain `Option`s on the stack, no heap) and appends it to
//! [`FlowBuilders`]; nothing is formatted or allocated per record.

use std::sync::{Arc, OnceLock};

use arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBufferBuilder, FixedSizeBinaryArray, MapArray, PrimitiveArray,
    RecordBatch, StringBuilder, StructArray, new_null_array,
};
use arrow::buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Field, FieldRef, Fields, Schema, SchemaRef, TimeUnit,
    TimestampMicrosecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
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
    fn push(b: &mut Self::Builder, v: Self::Value<'_>);
    fn finish(b: &mut Self::Builder) -> ArrayRef;
    /// Rows in the builder.
    fn rows(b: &Self::Builder) -> usize;
    /// Appends `n` nulls at once.
    fn nulls(b: &mut Self::Builder, n: usize);
    /// Appends every value of `values`.
    #[inline(always)]
    fn extend<'a>(b: &mut Self::Builder, values: impl Iterator<Item = Self::Value<'a>>) {
        for v in values {
            Self::push(b, v);
        }
    }
}

/// A fixed-width column under construction: a plain `Vec` of values and a validity bitmap
/// that exists only once the column has a null. Arrow's builders do the same behind calls
/// that did not inline into the per-row loop; this one is a `Vec::push` (decision 0003).
pub struct FixedColumn<T> {
    values: Vec<T>,
    valid: Option<BooleanBufferBuilder>,
}

impl<T: Copy + Default> FixedColumn<T> {
    fn with_capacity(capacity: usize) -> Self {
        Self { values: Vec::with_capacity(capacity), valid: None }
    }

    #[inline(always)]
    fn push(&mut self, v: T) {
        self.values.push(v);
        if let Some(valid) = &mut self.valid {
            valid.append(true);
        }
    }

    /// Appends all of `values`. Column-first decoders pass iterators of known length, for
    /// which `Vec::extend` reserves once and skips the per-value capacity check.
    #[inline(always)]
    fn extend(&mut self, values: impl Iterator<Item = T>) {
        let before = self.values.len();
        self.values.extend(values);
        if let Some(valid) = &mut self.valid {
            valid.append_n(self.values.len() - before, true);
        }
    }

    fn nulls(&mut self, n: usize) {
        let len = self.values.len();
        let valid = self.valid.get_or_insert_with(|| {
            let mut b = BooleanBufferBuilder::new(self.values.capacity().max(len + n));
            b.append_n(len, true);
            b
        });
        valid.append_n(n, false);
        self.values.resize(len + n, T::default());
    }

    /// The values and validity so far; the column is empty afterwards.
    fn take(&mut self) -> (Vec<T>, Option<NullBuffer>) {
        let mut values = std::mem::take(&mut self.values);
        // A batch cut by time holds few rows: do not let it pin a full batch's memory
        // while it waits in a sink queue.
        if values.len() < values.capacity() / 2 {
            values.shrink_to_fit();
        }
        let nulls = self.valid.take().map(|mut v| NullBuffer::new(v.finish()));
        (values, nulls)
    }
}

/// The `ColumnKind` methods every `FixedColumn`-backed kind forwards.
macro_rules! fixed_column_methods {
    ($value:ty) => {
        fn builder(capacity: usize) -> Self::Builder {
            FixedColumn::with_capacity(capacity)
        }
        #[inline(always)]
        fn push(b: &mut Self::Builder, v: $value) {
            b.push(v)
        }
        #[inline(always)]
        fn rows(b: &Self::Builder) -> usize {
            b.values.len()
        }
        fn nulls(b: &mut Self::Builder, n: usize) {
            b.nulls(n)
        }
        #[inline(always)]
        fn extend<'a>(b: &mut Self::Builder, values: impl Iterator<Item = Self::Value<'a>>) {
            b.extend(values)
        }
    };
}

macro_rules! primitive_kind {
    ($kind:ident, $native:ty, $arrow:ty, $dt:expr) => {
        pub struct $kind;
        impl ColumnKind for $kind {
            type Value<'a> = $native;
            type Builder = FixedColumn<$native>;
            fn data_type() -> DataType {
                $dt
            }
            fixed_column_methods!($native);
            fn finish(b: &mut Self::Builder) -> ArrayRef {
                let (values, nulls) = b.take();
                Arc::new(primitive_array::<$arrow>(values, nulls).with_data_type($dt))
            }
        }
    };
}

fn primitive_array<A: ArrowPrimitiveType>(
    values: Vec<A::Native>,
    nulls: Option<NullBuffer>,
) -> PrimitiveArray<A> {
    PrimitiveArray::new(ScalarBuffer::from(values), nulls)
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
            type Builder = FixedColumn<[u8; $len]>;
            fn data_type() -> DataType {
                DataType::FixedSizeBinary($len as i32)
            }
            fixed_column_methods!([u8; $len]);
            fn finish(b: &mut Self::Builder) -> ArrayRef {
                let (values, nulls) = b.take();
                let bytes = Buffer::from_vec(values.into_flattened());
                Arc::new(FixedSizeBinaryArray::new($len as i32, bytes, nulls))
            }
        }
    };
}

fixed_kind!(Addr, ADDR_LEN);
fixed_kind!(Mac, MAC_LEN);

/// The builder methods the string kinds forward to.
macro_rules! string_rows_and_nulls {
    () => {
        #[inline]
        fn rows(b: &Self::Builder) -> usize {
            arrow::array::ArrayBuilder::len(b)
        }
        fn nulls(b: &mut Self::Builder, n: usize) {
            b.append_nulls(n)
        }
    };
}

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
    fn push(b: &mut Self::Builder, v: &'static str) {
        b.append_value(v)
    }
    string_rows_and_nulls!();
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
    fn push(b: &mut Self::Builder, v: &[u8]) {
        b.append_option(std::str::from_utf8(trim_nul(v)).ok())
    }
    string_rows_and_nulls!();
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
            $( pub(crate) $name: <$kind as ColumnKind>::Builder, )*
            extra: ExtraColumn,
            rows: usize,
            capacity: usize,
            /// The all-null array each column gave last time: a column a source never
            /// fills is the same array batch after batch, so it is shared, not rebuilt
            /// (zeroing it was most of the cost of finishing a batch).
            nulls: Vec<Option<ArrayRef>>,
        }

        impl FlowBuilders {
            /// Builders with room for `capacity` rows.
            pub fn with_capacity(capacity: usize) -> Self {
                Self {
                    $( $name: <$kind>::builder(capacity), )*
                    extra: ExtraColumn::default(),
                    rows: 0,
                    capacity,
                    nulls: vec![None; FLOW_COLUMNS.len()],
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
                        <$kind>::push(b, v);
                    }
                )*
            }

            /// Finishes the batch; the builders are empty afterwards, and the columns this
            /// batch filled get their capacity back (Arrow hands its buffers to the arrays,
            /// and growing them again row by row cost a fifth of the append time).
            pub fn finish(&mut self) -> RecordBatch {
                let (rows, capacity) = (self.rows, self.capacity);
                let mut nulls = self.nulls.iter_mut();
                let columns: Vec<ArrayRef> = vec![
                    $( finish_column::<$kind>(&mut self.$name, rows, capacity, nulls.next()), )*
                    self.extra.finish(rows),
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

/// Pads column `b` with nulls up to `row`, then appends `v` there.
#[inline(always)]
pub(crate) fn push_at<K: ColumnKind>(b: &mut K::Builder, row: usize, v: K::Value<'_>) {
    let have = K::rows(b);
    if have < row {
        K::nulls(b, row - have);
    }
    K::push(b, v);
}

/// Pads column `b` with nulls up to `row`, then appends `values` from there on.
#[inline(always)]
pub(crate) fn fill<'a, K: ColumnKind>(
    b: &mut K::Builder,
    row: usize,
    values: impl Iterator<Item = K::Value<'a>>,
) {
    let have = K::rows(b);
    if have < row {
        K::nulls(b, row - have);
    }
    K::extend(b, values);
}

/// Finishes one column of `rows` rows. A column no row set becomes one null array without
/// touching a value buffer (a source fills about a third of the columns); a column that
/// was used gets a fresh builder of the batch's capacity.
fn finish_column<K: ColumnKind>(
    b: &mut K::Builder,
    rows: usize,
    capacity: usize,
    null: Option<&mut Option<ArrayRef>>,
) -> ArrayRef {
    let have = K::rows(b);
    if have == 0 {
        let Some(cached) = null else {
            return new_null_array(&K::data_type(), rows);
        };
        // Batches cut by time are shorter than `capacity`: they share a slice of it.
        return match cached {
            Some(a) if a.len() >= rows => a.slice(0, rows),
            _ => cached.insert(new_null_array(&K::data_type(), rows.max(capacity))).slice(0, rows),
        };
    }
    if have < rows {
        K::nulls(b, rows - have);
    }
    let array = K::finish(b);
    *b = K::builder(capacity);
    array
}

/// The `extra` map column. Most rows have no entries, so a row costs nothing until one
/// has: the offsets of the rows before it are filled in then, in bulk.
#[derive(Default)]
struct ExtraColumn {
    keys: StringBuilder,
    values: BinaryBuilder,
    /// Entry offsets of rows `0..offsets.len() - 1` (empty until the first entry).
    offsets: Vec<i32>,
}

impl ExtraColumn {
    /// Adds `row`'s entries (`row` counts rows appended before it).
    #[inline]
    fn push<'k, 'v>(&mut self, row: usize, entries: impl IntoIterator<Item = (&'k str, &'v [u8])>) {
        let mut entries = entries.into_iter().peekable();
        if entries.peek().is_none() {
            return;
        }
        self.pad(row);
        for (k, v) in entries {
            self.keys.append_value(k);
            self.values.append_value(v);
        }
        self.offsets.push(self.entries());
    }

    fn entries(&self) -> i32 {
        i32::try_from(arrow::array::ArrayBuilder::len(&self.keys)).unwrap_or(i32::MAX)
    }

    /// Offsets for the rows without entries up to `rows`.
    fn pad(&mut self, rows: usize) {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        let end = self.entries();
        self.offsets.resize(rows + 1, end);
    }

    fn finish(&mut self, rows: usize) -> ArrayRef {
        self.pad(rows);
        let offsets = OffsetBuffer::new(ScalarBuffer::from(std::mem::take(&mut self.offsets)));
        let keys: ArrayRef = Arc::new(self.keys.finish());
        let values: ArrayRef = Arc::new(self.values.finish());
        let entries = StructArray::new(extra_entry_fields(), vec![keys, values], None);
        Arc::new(MapArray::new(extra_entry_field(), offsets, entries, None, false))
    }
}

/// The `extra` map's entry fields: a `key` (`PEN/ID`) and the raw `value`.
fn extra_entry_fields() -> Fields {
    vec![Field::new("key", DataType::Utf8, false), Field::new("value", DataType::Binary, true)].into()
}

fn extra_entry_field() -> FieldRef {
    Arc::new(Field::new("entries", DataType::Struct(extra_entry_fields()), false))
}

fn extra_data_type() -> DataType {
    DataType::Map(extra_entry_field(), false)
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
        self.extra.push(self.rows, extra);
        self.rows += 1;
    }

    /// Column-first decoders fill columns for `n` rows starting at [`FlowBuilders::len`]
    /// (with [`fill`] and [`push_at`]), then commit them here.
    pub(crate) fn commit_rows(&mut self, n: usize) {
        self.rows += n;
    }

    /// `row`'s entries in `extra`, for column-first decoders (rows in ascending order).
    pub(crate) fn push_extra<'k, 'v>(
        &mut self,
        row: usize,
        entries: impl IntoIterator<Item = (&'k str, &'v [u8])>,
    ) {
        self.extra.push(row, entries);
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
    fn unfilled_columns_share_one_null_array_between_batches() {
        let mut b = FlowBuilders::with_capacity(4);
        let batch = |b: &mut FlowBuilders, n: usize, port: Option<u16>| {
            for _ in 0..n {
                let row = FlowRow {
                    time_received: Some(1),
                    exporter: Some([0; 16]),
                    source_kind: Some("ipfix"),
                    src_port: port,
                    ..Default::default()
                };
                b.append(&row, []);
            }
            b.finish()
        };
        let (first, second) = (batch(&mut b, 3, None), batch(&mut b, 3, None));
        let col = |b: &RecordBatch, name: &str| b.column_by_name(name).unwrap().clone();
        let values = |b: &RecordBatch| col(b, "src_port").to_data().buffers()[0].as_ptr();
        assert_eq!(values(&first), values(&second));
        assert_eq!(col(&second, "src_port").null_count(), 3);
        // A batch cut short by time takes a slice of the same array.
        let shorter = batch(&mut b, 2, None);
        assert_eq!((col(&shorter, "src_port").len(), col(&shorter, "src_port").null_count()), (2, 2));
        assert_eq!(values(&shorter), values(&first));
        let filled = batch(&mut b, 2, Some(53));
        assert_eq!(col(&filled, "src_port").null_count(), 0, "a column that gets values is its own");
        assert_eq!(col(&batch(&mut b, 2, None), "src_port").null_count(), 2);
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
