//! Batches of every flat kind and their round trip through an encoded file, shared by
//! the encoder's tests.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryBuilder, FixedSizeBinaryArray, MapBuilder, RecordBatch, StringArray, StringBuilder,
    TimestampMicrosecondArray, UInt8Array, UInt16Array, UInt32Array, UInt64Array,
};
use arrow::compute::concat_batches;
use arrow::datatypes::{Field, Schema};
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::FileEncoder;
use crate::codec::Codec;

/// Rows `n` of every flat kind, with nulls placed by `null(i)`, plus a map column.
pub(super) fn batch(n: usize, null: impl Fn(usize) -> bool) -> RecordBatch {
    batch_of(n, null, |i| i)
}

/// Like [`batch`], with row i's flat values made from `value(i)`.
pub(super) fn batch_of(
    n: usize,
    null: impl Fn(usize) -> bool,
    value: impl Fn(usize) -> usize,
) -> RecordBatch {
    fn some<T>(null: bool, v: T) -> Option<T> {
        (!null).then_some(v)
    }
    let (null, i) = (&null, &value);
    let mut map = MapBuilder::new(None, StringBuilder::new(), BinaryBuilder::new());
    for i in 0..n {
        if i % 3 == 0 {
            map.keys().append_value("6876/950");
            map.values().append_value([i as u8]);
        }
        map.append(true).unwrap();
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(UInt8Array::from_iter((0..n).map(|r| some(null(r), i(r) as u8)))),
        Arc::new(UInt16Array::from_iter((0..n).map(|r| some(null(r), 60_000 + i(r) as u16)))),
        Arc::new(UInt32Array::from_iter((0..n).map(|r| some(null(r), u32::MAX - i(r) as u32)))),
        Arc::new(UInt64Array::from_iter((0..n).map(|r| some(null(r), u64::MAX - 7 * i(r) as u64)))),
        Arc::new(UInt64Array::from_iter_values((0..n).map(|r| i(r) as u64))),
        Arc::new(
            TimestampMicrosecondArray::from_iter(
                (0..n).map(|r| some(null(r), 1_700_000_000_000_000 - i(r) as i64)),
            )
            .with_timezone("UTC"),
        ),
        Arc::new(
            FixedSizeBinaryArray::try_from_sparse_iter_with_size(
                (0..n).map(|r| some(null(r), [i(r) as u8; 16])),
                16,
            )
            .unwrap(),
        ),
        Arc::new(StringArray::from_iter((0..n).map(|r| some(null(r), ["vxlan", "gre", ""][i(r) % 3])))),
        Arc::new(map.finish()),
    ];
    let fields: Vec<Field> = ["u8", "u16", "u32", "u64", "required", "ts", "addr", "label", "extra"]
        .iter()
        .zip(&columns)
        .map(|(name, c)| Field::new(*name, c.data_type().clone(), *name != "required" && *name != "extra"))
        .collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}

pub(super) fn round_trip(batches: &[RecordBatch], codec: Codec) -> (RecordBatch, Vec<u8>) {
    let schema = batches[0].schema();
    let bytes = FileEncoder::new(schema.clone(), codec, |_| true).unwrap().write(batches).unwrap();
    let reader =
        ParquetRecordBatchReaderBuilder::try_new(Bytes::from(bytes.clone())).unwrap().build().unwrap();
    let read: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
    (concat_batches(&schema, &read).unwrap(), bytes)
}
