//! How a column list becomes a row type and Arrow builders: the `table_columns!` macro
//! that each table's module invokes with its list, the padding helpers column-first decoders use,
//! and finishing a batch.

use arrow::array::{ArrayRef, new_null_array};

use super::kinds::ColumnKind;
use super::{FlowBuilders, FlowRow};

/// Defines a table from its column list: the row type a decoder fills, its Arrow
/// builders, the schema function and the column names. `extra` names the type of the
/// trailing `extra` map ([`super::extra::NoExtra`] for a table without one).
macro_rules! table_columns {
    (
        $(#[$rdoc:meta])* row $row:ident;
        $(#[$bdoc:meta])* builders $builders:ident;
        $(#[$sdoc:meta])* schema $schema:ident;
        $(#[$ndoc:meta])* names $names:ident $(+ $extra_name:literal)?;
        extra $extra:ty;
        $( $(#[$doc:meta])* $name:ident : $kind:ident $(, $req:ident)? ;)*
    ) => {
        $(#[$rdoc])*
        #[derive(Clone, Copy, Default, Debug)]
        pub struct $row<'a> {
            $( $(#[$doc])* pub $name: Option<<$kind as ColumnKind>::Value<'a>>, )*
        }

        $(#[$bdoc])*
        pub struct $builders {
            $( pub(crate) $name: <$kind as ColumnKind>::Builder, )*
            extra: $extra,
            rows: usize,
            capacity: usize,
            /// The all-null array each column gave last time: a column a source never
            /// fills is the same array batch after batch, so it is shared, not rebuilt
            /// (zeroing it was most of the cost of finishing a batch).
            nulls: Vec<Option<ArrayRef>>,
        }

        impl $builders {
            /// Builders with room for `capacity` rows.
            pub fn with_capacity(capacity: usize) -> Self {
                Self {
                    $( $name: <$kind>::builder(capacity), )*
                    extra: Default::default(),
                    rows: 0,
                    capacity,
                    nulls: vec![None; $names.len()],
                }
            }

            /// Appends the row's set columns. A column that a source never fills costs
            /// nothing per row: its nulls are appended in bulk when it next gets a value,
            /// or when the batch is finished.
            #[inline]
            fn append_columns(&mut self, row: &$row<'_>) {
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
                let mut columns: Vec<ArrayRef> = vec![
                    $( $crate::schema::builders::finish_column::<$kind>(&mut self.$name, rows, capacity, nulls.next()), )*
                ];
                columns.extend($crate::schema::extra::ExtraColumns::finish(&mut self.extra, rows));
                self.rows = 0;
                RecordBatch::try_new($schema(), columns)
                    .expect("builders follow the schema by construction")
            }

            /// Appends one row (a table without `extra`, or a flow without entries in it).
            #[inline]
            pub fn push_row(&mut self, row: &$row<'_>) {
                self.append_columns(row);
                self.rows += 1;
            }

            /// Rows appended since the last `finish`.
            pub fn len(&self) -> usize {
                self.rows
            }

            pub fn is_empty(&self) -> bool {
                self.rows == 0
            }
        }

        $(#[$sdoc])*
        pub fn $schema() -> SchemaRef {
            static SCHEMA: std::sync::OnceLock<SchemaRef> = std::sync::OnceLock::new();
            SCHEMA
                .get_or_init(|| {
                    let mut fields = vec![
                        $( Field::new(stringify!($name), <$kind>::data_type(), table_columns!(@nullable $($req)?)), )*
                    ];
                    fields.extend(<$extra as $crate::schema::extra::ExtraColumns>::field());
                    std::sync::Arc::new(Schema::new(fields))
                })
                .clone()
        }

        $(#[$ndoc])*
        pub const $names: &[&str] = &[
            $( stringify!($name), )*
            $( $extra_name, )?
        ];
    };
    (@nullable required) => { false };
    (@nullable) => { true };
}

/// Pads column `b` with nulls up to `row`, then appends `v` there.
#[inline(always)]
pub fn push_at<K: ColumnKind>(b: &mut K::Builder, row: usize, v: K::Value<'_>) {
    let have = K::rows(b);
    if have < row {
        K::nulls(b, row - have);
    }
    K::push(b, v);
}

/// Pads column `b` with nulls up to `row`, then appends `values` from there on.
#[inline(always)]
pub fn fill<'a, K: ColumnKind>(b: &mut K::Builder, row: usize, values: impl Iterator<Item = K::Value<'a>>) {
    let have = K::rows(b);
    if have < row {
        K::nulls(b, row - have);
    }
    K::extend(b, values);
}

/// Finishes one column of `rows` rows. A column no row set becomes one null array without
/// touching a value buffer (a source fills about a third of the columns); a column that
/// was used gets a fresh builder of the batch's capacity.
pub(super) fn finish_column<K: ColumnKind>(
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::RecordBatch;

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
