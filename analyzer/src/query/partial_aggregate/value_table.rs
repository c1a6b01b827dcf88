//! Filters on one small column, answered from a table of that column's values.
//!
//! `protocol = 6`, `dst_port IN (80, 443)`, `tcp_flags & 2 <> 0`: a filter that reads one
//! `UInt8` or `UInt16` column has at most 65,537 answers (one per value and one for null).
//! [`ValueTable`] evaluates the predicate once over all of them; the aggregation then looks
//! each row's value up while it picks the row's slot, instead of evaluating the predicate
//! into a bitmap (6 % of the CPU of the top TCP ports of a day) and reading it back.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, PrimitiveArray, RecordBatch, UInt8Array, UInt16Array,
};
use datafusion::arrow::datatypes::{ArrowPrimitiveType, DataType, Schema, UInt8Type, UInt16Type};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::utils::collect_columns;
use datafusion::physical_expr_common::physical_expr::is_volatile;

use super::kept_rows;

/// A predicate's answer for every value of the one small column it reads.
#[derive(Debug, Clone)]
pub struct ValueTable {
    /// The column, in the input schema.
    column: usize,
    /// All ones where the value is kept, zero where dropped, indexed by the value; the last
    /// entry is for null. A mask, so that picking a row's slot needs no branch.
    kept: Arc<[u32]>,
}

impl ValueTable {
    /// The table of `predicate` over `schema`, when it reads one `UInt8`/`UInt16` column,
    /// is not volatile and evaluates without error over every value.
    pub fn of(predicate: &Arc<dyn PhysicalExpr>, schema: &Schema) -> Option<Self> {
        if is_volatile(predicate) {
            return None;
        }
        let [column]: [Column; 1] =
            collect_columns(predicate).into_iter().collect::<Vec<_>>().try_into().ok()?;
        let field = schema.fields().get(column.index())?;
        let values: ArrayRef = match field.data_type() {
            DataType::UInt8 => Arc::new(UInt8Array::from_iter((0..=u8::MAX).map(Some).chain([None]))),
            DataType::UInt16 => Arc::new(UInt16Array::from_iter((0..=u16::MAX).map(Some).chain([None]))),
            _ => return None,
        };
        // The predicate over a batch of that one column.
        let alone = Arc::new(Schema::new(vec![field.as_ref().clone().with_nullable(true)]));
        let batch = RecordBatch::try_new(alone, vec![values]).ok()?;
        let predicate = Arc::clone(predicate)
            .transform(|e| {
                Ok(match e.downcast_ref::<Column>() {
                    Some(c) => Transformed::yes(Arc::new(Column::new(c.name(), 0)) as Arc<dyn PhysicalExpr>),
                    None => Transformed::no(e),
                })
            })
            .ok()?
            .data;
        let rows = batch.num_rows();
        let kept: Arc<[u32]> = match kept_rows(predicate.evaluate(&batch).ok()?, rows).ok()? {
            None => vec![u32::MAX; rows].into(),
            Some(bits) => bits.iter().map(|k| u32::from(k).wrapping_neg()).collect(),
        };
        Some(Self { column: column.index(), kept })
    }

    /// Sets the slots of the rows the predicate drops to `dropped`; `slots` holds one per
    /// row of `batch`.
    pub fn drop_rows(
        &self,
        batch: &RecordBatch,
        slots: &mut [u32],
        dropped: u32,
    ) -> datafusion::common::Result<()> {
        let values = batch.column(self.column);
        // Tables of exactly 2^8 + 1 and 2^16 + 1 entries: indexing by the value needs no
        // bounds check.
        let (u8s, u16s) =
            (<&[u32; 257]>::try_from(&self.kept[..]), <&[u32; 65_537]>::try_from(&self.kept[..]));
        match (values.data_type(), u8s, u16s) {
            (DataType::UInt8, Ok(kept), _) => {
                select(slots, values.as_primitive::<UInt8Type>(), kept, dropped)
            }
            (DataType::UInt16, _, Ok(kept)) => {
                select(slots, values.as_primitive::<UInt16Type>(), kept, dropped)
            }
            (other, ..) => return datafusion::common::internal_err!("value table over a {other} column"),
        }
        Ok(())
    }
}

fn select<T: ArrowPrimitiveType, const N: usize>(
    slots: &mut [u32],
    values: &PrimitiveArray<T>,
    kept: &[u32; N],
    dropped: u32,
) where
    T::Native: Into<u32>,
{
    // A select per row, not a branch: filters keep an unpredictable share of rows.
    let pick = |s: &mut u32, keep: u32| *s = (*s & keep) | (dropped & !keep);
    let rows = slots.iter_mut().zip(values.values().iter());
    match values.nulls() {
        None => rows.for_each(|(s, &v)| pick(s, kept[v.into() as usize])),
        Some(n) => rows
            .zip(n.iter())
            .for_each(|((s, &v), ok)| pick(s, if ok { kept[v.into() as usize] } else { kept[N - 1] })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::UInt64Array;
    use datafusion::arrow::datatypes::Field;
    use datafusion::common::DFSchema;
    use datafusion::prelude::SessionContext;

    fn schema() -> Schema {
        Schema::new(vec![
            Field::new("bytes", DataType::UInt64, true),
            Field::new("proto", DataType::UInt8, true),
            Field::new("port", DataType::UInt16, true),
        ])
    }

    fn predicate(sql: &str) -> Arc<dyn PhysicalExpr> {
        let ctx = SessionContext::new();
        let df_schema = DFSchema::try_from(schema()).unwrap();
        let expr = ctx.parse_sql_expr(sql, &df_schema).unwrap();
        ctx.create_physical_expr(expr, &df_schema).unwrap()
    }

    #[test]
    fn tables_drop_what_the_predicate_drops() {
        let n = 70_000u32;
        let batch = RecordBatch::try_new(
            Arc::new(schema()),
            vec![
                Arc::new(UInt64Array::from_iter((0..n).map(|i| Some(u64::from(i))))),
                Arc::new(UInt8Array::from_iter((0..n).map(|i| (i % 17 != 0).then_some((i % 256) as u8)))),
                Arc::new(UInt16Array::from_iter(
                    (0..n).map(|i| (i % 13 != 0).then_some((i * 7 % 65_536) as u16)),
                )),
            ],
        )
        .unwrap();
        for sql in [
            "proto = 6",
            "proto IN (6, 17) OR proto IS NULL",
            "NOT (proto <> 6)",
            "port BETWEEN 1000 AND 2000",
            "port IS NULL",
            "port % 3 = 1",
        ] {
            let p = predicate(sql);
            let table = ValueTable::of(&p, &schema()).unwrap_or_else(|| panic!("no table for {sql}"));
            let mut slots: Vec<u32> = (0..n).collect();
            table.drop_rows(&batch, &mut slots, u32::MAX).unwrap();
            let kept = kept_rows(p.evaluate(&batch).unwrap(), n as usize).unwrap().unwrap();
            for (i, (s, k)) in slots.iter().zip(kept.iter()).enumerate() {
                assert_eq!(*s, if k { i as u32 } else { u32::MAX }, "{sql}, row {i}");
            }
            assert!(slots.contains(&u32::MAX) && slots.iter().any(|&s| s != u32::MAX), "{sql}");
        }
        // Not one small column, volatile, or failing on some value: no table.
        for sql in ["bytes > 5", "proto = 6 AND port = 443", "random() > 0.5 AND proto = 6", "100 / port > 1"]
        {
            assert!(ValueTable::of(&predicate(sql), &schema()).is_none(), "{sql}");
        }
    }
}
