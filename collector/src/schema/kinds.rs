//! Column kinds: how each type of `flows` column is typed, built and appended. One
//! implementation per kind; the column list in [`super`] names a kind per column.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBufferBuilder, FixedSizeBinaryArray, PrimitiveArray, StringArray, StringBuilder,
};
use arrow::buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, TimeUnit, TimestampMicrosecondType, UInt8Type, UInt16Type, UInt32Type,
    UInt64Type,
};

use crate::addr::{ADDR_LEN, MAC_LEN};

use super::TZ;

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
    pub(crate) fn with_capacity(capacity: usize) -> Self {
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
    pub(crate) fn take(&mut self) -> (Vec<T>, Option<NullBuffer>) {
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

/// A label from a fixed set (`source_kind`, `tunnel_type`): written to every row, so its
/// builder is plain `Vec`s like [`FixedColumn`]'s (Arrow's `StringBuilder` append did not
/// inline into the per-row loop).
pub struct Label;
impl ColumnKind for Label {
    type Value<'a> = &'static str;
    type Builder = LabelColumn;
    fn data_type() -> DataType {
        DataType::Utf8
    }
    fn builder(capacity: usize) -> Self::Builder {
        LabelColumn::with_capacity(capacity)
    }
    #[inline(always)]
    fn push(b: &mut Self::Builder, v: &'static str) {
        b.push(v)
    }
    #[inline(always)]
    fn rows(b: &Self::Builder) -> usize {
        b.offsets.len() - 1
    }
    fn nulls(b: &mut Self::Builder, n: usize) {
        b.nulls(n)
    }
    fn finish(b: &mut Self::Builder) -> ArrayRef {
        Arc::new(b.take())
    }
}

/// The offsets, bytes and (once there is a null) validity of a [`Label`] column.
pub struct LabelColumn {
    offsets: Vec<i32>,
    bytes: Vec<u8>,
    valid: Option<BooleanBufferBuilder>,
}

impl LabelColumn {
    fn with_capacity(capacity: usize) -> Self {
        let mut offsets = Vec::with_capacity(capacity + 1);
        offsets.push(0);
        LabelColumn { offsets, bytes: Vec::with_capacity(capacity * 8), valid: None }
    }

    #[inline(always)]
    fn push(&mut self, v: &'static str) {
        self.bytes.extend_from_slice(v.as_bytes());
        // Labels are a few bytes and a batch holds at most 2^16 rows: far from 2^31.
        self.offsets.push(self.bytes.len() as i32);
        if let Some(valid) = &mut self.valid {
            valid.append(true);
        }
    }

    fn nulls(&mut self, n: usize) {
        let rows = self.offsets.len() - 1;
        let valid = self.valid.get_or_insert_with(|| {
            let mut b = BooleanBufferBuilder::new(self.offsets.capacity().max(rows + n));
            b.append_n(rows, true);
            b
        });
        valid.append_n(n, false);
        let end = self.bytes.len() as i32;
        self.offsets.resize(rows + 1 + n, end);
    }

    /// The column so far as an array; the builder is empty afterwards (the caller gives
    /// it a batch's capacity again).
    fn take(&mut self) -> StringArray {
        let taken = std::mem::replace(self, LabelColumn::with_capacity(0));
        let offsets = OffsetBuffer::new(ScalarBuffer::from(taken.offsets));
        let nulls = taken.valid.map(|mut v| NullBuffer::new(v.finish()));
        // Labels are `&'static str`: the bytes are UTF-8 by construction, and
        // `StringArray::new` checks it once per batch anyway.
        StringArray::new(offsets, Buffer::from_vec(taken.bytes), nulls)
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

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Array;

    #[test]
    fn labels_with_nulls_between_them() {
        let mut b = Label::builder(2);
        Label::nulls(&mut b, 2);
        Label::push(&mut b, "vxlan");
        Label::push(&mut b, "gre");
        Label::nulls(&mut b, 1);
        Label::push(&mut b, "geneve");
        assert_eq!(Label::rows(&b), 6);
        let a = Label::finish(&mut b);
        let a = a.as_any().downcast_ref::<StringArray>().unwrap();
        let got: Vec<_> = a.iter().collect();
        assert_eq!(got, [None, None, Some("vxlan"), Some("gre"), None, Some("geneve")]);
        assert_eq!(Label::rows(&b), 0, "finishing empties the builder");
        Label::push(&mut b, "ipip");
        let again = Label::finish(&mut b);
        assert_eq!((again.len(), again.null_count()), (1, 0));
    }
}
