//! The one-entry dictionary. A chunk whose valid values are all one value (exporter,
//! source kind, domain, sampling rate: about half of a softflowd row's bytes) is stored as
//! that value once, in a dictionary page, and data pages of a single RLE run of index 0,
//! so the codec does not churn through a repeated value. Telling whether a chunk is such
//! a chunk stops at the first difference, so a varying column costs a few comparisons.

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{ArrowNativeType, UInt8Type, UInt16Type, UInt32Type, UInt64Type};

use super::page::{Values, put_rle_run, valid_ranges};

/// The dictionary indices of a page whose `valid` values are all entry 0: a bit width of
/// 1 and one RLE run of zeros (none for a page of nulls only).
pub(super) fn put_single_indices(valid: usize, out: &mut Vec<u8>) {
    out.push(1);
    if valid > 0 {
        put_rle_run(valid, 0, out);
    }
}

/// The chunk's only value, as a one-row array, when every valid value of every array is
/// that one value (`None` when there are two or more, or none).
pub(super) fn single_value(values: Values, arrays: &[&ArrayRef]) -> Option<ArrayRef> {
    let (first, at) = arrays.iter().find_map(|a| Some((*a, first_valid(a.as_ref())?)))?;
    let one = first.slice(at, 1);
    arrays.iter().all(|a| all_equal(values, a.as_ref(), one.as_ref())).then_some(one)
}

fn first_valid(a: &dyn Array) -> Option<usize> {
    match a.nulls() {
        Some(n) => n.valid_indices().next(),
        None => (!a.is_empty()).then_some(0),
    }
}

/// Whether every valid value of `a` equals the value of the one-row array `one`. Stops at
/// the first difference, so a varying column costs a few comparisons.
fn all_equal(values: Values, a: &dyn Array, one: &dyn Array) -> bool {
    fn ints<T: ArrowNativeType>(v: &[T], x: T, ranges: &[(usize, usize)]) -> bool {
        ranges.iter().all(|&(s, e)| v[s..e].iter().all(|&y| y == x))
    }
    let ranges = valid_ranges(a);
    match values {
        Values::Widen8 => {
            ints(a.as_primitive::<UInt8Type>().values(), one.as_primitive::<UInt8Type>().value(0), &ranges)
        }
        Values::Widen16 => {
            ints(a.as_primitive::<UInt16Type>().values(), one.as_primitive::<UInt16Type>().value(0), &ranges)
        }
        Values::U32 => {
            ints(a.as_primitive::<UInt32Type>().values(), one.as_primitive::<UInt32Type>().value(0), &ranges)
        }
        Values::U64 => {
            ints(a.as_primitive::<UInt64Type>().values(), one.as_primitive::<UInt64Type>().value(0), &ranges)
        }
        Values::I64 => {
            let (data, one) = (a.to_data(), one.to_data());
            ints(&data.buffer::<i64>(0)[..a.len()], one.buffer::<i64>(0)[0], &ranges)
        }
        Values::Fixed(n) => {
            let (data, x) = (a.as_fixed_size_binary().value_data(), one.as_fixed_size_binary().value(0));
            if let Ok(x) = <[u8; 16]>::try_from(x) {
                let x = u128::from_ne_bytes(x);
                let key = |v: &[u8]| <[u8; 16]>::try_from(v).map(u128::from_ne_bytes).ok();
                ranges.iter().all(|&(s, e)| data[s * n..e * n].chunks_exact(n).all(|v| key(v) == Some(x)))
            } else {
                ranges.iter().all(|&(s, e)| data[s * n..e * n].chunks_exact(n).all(|v| v == x))
            }
        }
        Values::Utf8 => {
            let (s, x) = (a.as_string::<i32>(), one.as_string::<i32>().value(0));
            ranges.iter().all(|&(b, e)| (b..e).all(|i| s.value(i) == x))
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use parquet::file::reader::{FileReader, SerializedFileReader};

    use super::super::test_support::{batch_of, round_trip};
    use crate::codec::Codec;
    use arrow::compute::concat_batches;

    #[test]
    fn a_column_of_one_value_is_a_one_entry_dictionary_and_reads_back() {
        let one = |n, null: fn(usize) -> bool| batch_of(n, null, |_| 4);
        let mixed = one(300, |i| i % 7 == 3);
        let batches = [one(100, |_| false), one(50, |_| true), mixed.slice(3, 200), mixed];
        let expected = concat_batches(&batches[0].schema(), &batches).unwrap();
        for codec in [Codec::None, Codec::Snappy, Codec::Lz4, Codec::Zstd(1)] {
            let (read, bytes) = round_trip(&batches, codec);
            assert_eq!(read, expected, "{codec:?}");
            let file = SerializedFileReader::new(Bytes::from(bytes)).unwrap();
            let rg = file.metadata().row_group(0);
            for c in 0..8 {
                let col = rg.column(c);
                assert!(col.dictionary_page_offset().is_some(), "{}", col.column_path());
                let stats = col.statistics().unwrap();
                assert_eq!(stats.min_bytes_opt(), stats.max_bytes_opt(), "{}", col.column_path());
            }
        }
        // A second value anywhere (here in the last batch) keeps the chunk PLAIN.
        let two = [one(100, |_| false), batch_of(10, |_| false, |r| 4 + r / 9)];
        let (read, bytes) = round_trip(&two, Codec::Lz4);
        assert_eq!(read, concat_batches(&two[0].schema(), &two).unwrap());
        let file = SerializedFileReader::new(Bytes::from(bytes)).unwrap();
        assert!(
            file.metadata().row_group(0).columns()[..8].iter().all(|c| c.dictionary_page_offset().is_none())
        );
    }
}
