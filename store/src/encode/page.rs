//! The bytes of one data page of a flat column: definition levels taken from the Arrow
//! validity bitmap (its bits are Parquet's bit-packed levels), then the valid values
//! copied from the Arrow value buffers as PLAIN. [`Values`] says which Arrow types take
//! this path and how each is stored; copying buffers instead of writing value by value is
//! what makes this encoder cheaper than the parquet crate's (decision 0006).

use arrow::array::{Array, AsArray};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{
    ArrowNativeType, DataType, TimeUnit, ToByteSlice, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};

use super::statistics::MinMax;

/// How a flat Arrow column becomes PLAIN Parquet values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Values {
    /// `UInt8` stored as INT32.
    Widen8,
    /// `UInt16` stored as INT32.
    Widen16,
    /// `UInt32` as INT32 bits; statistics compare unsigned.
    U32,
    /// `UInt64` as INT64 bits; statistics compare unsigned.
    U64,
    /// `Int64` and microsecond timestamps.
    I64,
    /// `FixedSizeBinary(n)`.
    Fixed(usize),
    /// `Utf8`: a 4-byte length before each value.
    Utf8,
}

impl Values {
    pub(super) fn of(t: &DataType) -> Option<Values> {
        Some(match t {
            DataType::UInt8 => Values::Widen8,
            DataType::UInt16 => Values::Widen16,
            DataType::UInt32 => Values::U32,
            DataType::UInt64 => Values::U64,
            DataType::Int64 | DataType::Timestamp(TimeUnit::Microsecond, _) => Values::I64,
            DataType::FixedSizeBinary(n) if *n > 0 => Values::Fixed(*n as usize),
            DataType::Utf8 => Values::Utf8,
            _ => return None,
        })
    }
}

/// An upper bound of a page's PLAIN bytes (Snappy and LZ4 may add a few per cent, when
/// the buffer grows once).
pub(super) fn page_capacity(values: Values, rows: usize) -> usize {
    let per_row = match values {
        Values::Widen8 | Values::Widen16 | Values::U32 => 4,
        Values::U64 | Values::I64 => 8,
        Values::Fixed(n) => n,
        Values::Utf8 => 12,
    };
    16 + rows / 8 + rows * per_row
}

/// Definition levels of a flat nullable column (max level 1) in the RLE/bit-packed
/// hybrid, after their 4-byte length: one RLE run when the page is all valid or all null,
/// otherwise the validity bitmap itself as one bit-packed run (both are LSB-first).
pub(super) fn put_levels(nulls: Option<&NullBuffer>, len: usize, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    match nulls {
        Some(n) if n.null_count() == len => put_rle_run(len, 0, out),
        Some(n) if n.null_count() > 0 => {
            let groups = len.div_ceil(8);
            put_varint(((groups as u64) << 1) | 1, out);
            let bits = n.inner().sliced();
            out.extend_from_slice(&bits.as_slice()[..groups]);
        }
        _ => put_rle_run(len, 1, out),
    }
    let levels = (out.len() - start - 4) as u32;
    out[start..start + 4].copy_from_slice(&levels.to_le_bytes());
}

pub(super) fn put_rle_run(len: usize, level: u8, out: &mut Vec<u8>) {
    put_varint((len as u64) << 1, out);
    out.push(level);
}

fn put_varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Index ranges of the valid values (Parquet stores only those).
pub(super) fn valid_ranges(a: &dyn Array) -> Vec<(usize, usize)> {
    match a.nulls() {
        None => vec![(0, a.len())],
        Some(n) if n.null_count() == 0 => vec![(0, a.len())],
        Some(n) => n.inner().set_slices().collect(),
    }
}

/// Appends the PLAIN values of `a` and widens the running min/max.
pub(super) fn put_values(values: Values, a: &dyn Array, out: &mut Vec<u8>, stats: Option<&mut MinMax>) {
    let ranges = valid_ranges(a);
    match values {
        Values::Widen8 => put_ints(a.as_primitive::<UInt8Type>().values(), &ranges, out, stats, widen),
        Values::Widen16 => put_ints(a.as_primitive::<UInt16Type>().values(), &ranges, out, stats, widen),
        Values::U32 => put_ints(a.as_primitive::<UInt32Type>().values(), &ranges, out, stats, put_le),
        Values::U64 => put_ints(a.as_primitive::<UInt64Type>().values(), &ranges, out, stats, put_le),
        Values::I64 => put_ints(&a.to_data().buffer::<i64>(0)[..a.len()], &ranges, out, stats, put_le),
        Values::Fixed(n) => {
            let data = a.as_fixed_size_binary().value_data();
            for &(s, e) in &ranges {
                out.extend_from_slice(&data[s * n..e * n]);
            }
            if let Some(m) = stats {
                ranges.iter().for_each(|&(s, e)| m.fixed(&data[s * n..e * n], n));
            }
        }
        Values::Utf8 => {
            let s = a.as_string::<i32>();
            let (offsets, data) = (s.value_offsets(), s.value_data());
            let value = |i: usize| &data[offsets[i] as usize..offsets[i + 1] as usize];
            for &(start, end) in &ranges {
                for i in start..end {
                    let v = value(i);
                    out.extend_from_slice(&(v.len() as u32).to_le_bytes());
                    out.extend_from_slice(v);
                }
            }
            if let Some(m) = stats {
                ranges.iter().for_each(|&(s, e)| m.bytes((s..e).map(value)));
            }
        }
    }
}

/// Appends integer values with `put` and folds each valid run into the min/max.
fn put_ints<T: Copy + Ord + Into<i128>>(
    v: &[T],
    ranges: &[(usize, usize)],
    out: &mut Vec<u8>,
    stats: Option<&mut MinMax>,
    put: fn(&[T], &mut Vec<u8>),
) {
    for &(s, e) in ranges {
        put(&v[s..e], out);
    }
    if let Some(m) = stats {
        for &(s, e) in ranges {
            if let (Some(&lo), Some(&hi)) = (v[s..e].iter().min(), v[s..e].iter().max()) {
                m.ints(lo.into(), hi.into());
            }
        }
    }
}

/// Copies native values as Parquet's little-endian PLAIN.
fn put_le<T: ArrowNativeType + ToLe>(v: &[T], out: &mut Vec<u8>) {
    if cfg!(target_endian = "little") {
        out.extend_from_slice(v.to_byte_slice());
    } else {
        v.iter().for_each(|x| x.put_le(out));
    }
}

/// Widens small unsigned values to Parquet's INT32.
fn widen<T: Copy + Into<u32>>(v: &[T], out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + v.len() * 4, 0);
    for (dst, &x) in out[start..].chunks_exact_mut(4).zip(v) {
        dst.copy_from_slice(&x.into().to_le_bytes());
    }
}

trait ToLe {
    fn put_le(&self, out: &mut Vec<u8>);
}

macro_rules! to_le {
    ($($t:ty),*) => {$(
        impl ToLe for $t {
            fn put_le(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
    )*};
}
to_le!(u32, u64, i64);

#[cfg(test)]
mod tests {
    use super::super::test_support::{batch, round_trip};
    use crate::codec::Codec;
    use arrow::compute::concat_batches;

    #[test]
    fn every_flat_kind_reads_back_as_written_with_every_codec() {
        let all_valid = batch(100, |_| false);
        let all_null = batch(50, |_| true);
        let mixed = batch(300, |i| i % 7 == 3 || (100..140).contains(&i));
        // Slices whose validity bitmap starts mid-byte.
        let sliced = mixed.slice(3, 200);
        let batches = [all_valid, all_null, sliced, mixed];
        let expected = concat_batches(&batches[0].schema(), &batches).unwrap();
        for codec in [Codec::None, Codec::Snappy, Codec::Lz4, Codec::Zstd(1)] {
            let (read, _) = round_trip(&batches, codec);
            assert_eq!(read, expected, "{codec:?}");
        }
    }
}
