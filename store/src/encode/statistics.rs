//! The min/max statistics of a flat column chunk, folded in while its values are copied
//! (one pass over the data), in Parquet's orders: unsigned integers compare as unsigned,
//! byte strings unsigned-lexicographically.

use parquet::data_type::{ByteArray, FixedLenByteArray};
use parquet::file::statistics::Statistics;

use super::page::Values;

/// Running min and max of a column chunk: integers as `i128` (so unsigned 64-bit values
/// order correctly), byte strings unsigned-lexicographically (Parquet's order for both).
#[derive(Default)]
pub(super) struct MinMax {
    ints: Option<(i128, i128)>,
    bytes: Option<(Vec<u8>, Vec<u8>)>,
}

impl MinMax {
    pub(super) fn ints(&mut self, lo: i128, hi: i128) {
        self.ints = Some(match self.ints {
            Some((l, h)) => (l.min(lo), h.max(hi)),
            None => (lo, hi),
        });
    }

    /// Folds in values of `n` bytes each. Up to 16 bytes they compare as big-endian
    /// integers (zero-padded on the right, which keeps the byte order of equal-length
    /// values): a compare per address instead of a `memcmp` call.
    pub(super) fn fixed(&mut self, data: &[u8], n: usize) {
        if n > 16 {
            return self.bytes(data.chunks_exact(n));
        }
        let key = |v: &[u8]| {
            let mut k = [0u8; 16];
            k[..n].copy_from_slice(v);
            u128::from_be_bytes(k)
        };
        let mut values = data.chunks_exact(n);
        let Some(first) = values.next() else { return };
        let (mut lo, mut hi) = ((key(first), first), (key(first), first));
        for v in values {
            let k = key(v);
            if k < lo.0 {
                lo = (k, v);
            } else if k > hi.0 {
                hi = (k, v);
            }
        }
        self.bytes([lo.1, hi.1].into_iter());
    }

    pub(super) fn bytes<'a>(&mut self, v: impl Iterator<Item = &'a [u8]>) {
        for x in v {
            match &mut self.bytes {
                Some((lo, hi)) => {
                    if x < lo.as_slice() {
                        *lo = x.to_vec();
                    } else if x > hi.as_slice() {
                        *hi = x.to_vec();
                    }
                }
                None => self.bytes = Some((x.to_vec(), x.to_vec())),
            }
        }
    }

    /// The statistics of a chunk; integers keep their stored (two's-complement) bits.
    pub(super) fn into_statistics(self, values: Values, nulls: u64) -> Statistics {
        let (lo, hi) = (self.ints.map(|m| m.0), self.ints.map(|m| m.1));
        let (blo, bhi) = match self.bytes {
            Some((l, h)) => (Some(l), Some(h)),
            None => (None, None),
        };
        match values {
            Values::Widen8 | Values::Widen16 | Values::U32 => Statistics::int32(
                lo.map(|v| v as u32 as i32),
                hi.map(|v| v as u32 as i32),
                None,
                Some(nulls),
                false,
            ),
            Values::U64 | Values::I64 => {
                Statistics::int64(lo.map(|v| v as i64), hi.map(|v| v as i64), None, Some(nulls), false)
            }
            Values::Fixed(_) => Statistics::fixed_len_byte_array(
                blo.map(|v| FixedLenByteArray::from(ByteArray::from(v))),
                bhi.map(|v| FixedLenByteArray::from(ByteArray::from(v))),
                None,
                Some(nulls),
                false,
            ),
            Values::Utf8 => Statistics::byte_array(
                blo.map(ByteArray::from),
                bhi.map(ByteArray::from),
                None,
                Some(nulls),
                false,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::file::statistics::Statistics;

    use super::super::test_support::{batch, round_trip};
    use crate::codec::Codec;
    use crate::encode::FileEncoder;

    #[test]
    fn statistics_order_unsigned_values_as_unsigned() {
        let b = batch(10, |i| i == 0);
        let (_, bytes) = round_trip(std::slice::from_ref(&b), Codec::Snappy);
        let file = SerializedFileReader::new(Bytes::from(bytes)).unwrap();
        let rg = file.metadata().row_group(0);
        let stats = |i: usize| rg.column(i).statistics().unwrap().clone();
        match stats(2) {
            Statistics::Int32(s) => {
                assert_eq!(*s.min_opt().unwrap() as u32, u32::MAX - 9);
                assert_eq!(*s.max_opt().unwrap() as u32, u32::MAX - 1, "row 0 is null");
            }
            other => panic!("u32 stored as {other:?}"),
        }
        match stats(3) {
            Statistics::Int64(s) => assert_eq!(*s.max_opt().unwrap() as u64, u64::MAX - 7),
            other => panic!("u64 stored as {other:?}"),
        }
        assert_eq!(stats(6).null_count_opt(), Some(1));
        assert_eq!(stats(7).min_bytes_opt(), Some(&b""[..]));
        assert_eq!(stats(7).max_bytes_opt(), Some(&b"vxlan"[..]));
    }

    #[test]
    fn columns_without_statistics_say_so() {
        let b = batch(10, |_| false);
        let bytes = FileEncoder::new(b.schema(), Codec::None, |f| f.name() != "addr")
            .unwrap()
            .write(std::slice::from_ref(&b))
            .unwrap();
        let file = SerializedFileReader::new(Bytes::from(bytes)).unwrap();
        let rg = file.metadata().row_group(0);
        assert!(rg.column(6).statistics().is_none());
        assert!(rg.column(5).statistics().is_some());
    }
}
