//! Address and time filters as sets of key ranges.
//!
//! Two kinds of column have a key that orders like their values:
//! - a stored address is 16 bytes (decision 0002); read big-endian it is a `u128`, and byte
//!   order is numeric order, the order of Parquet statistics and of the compacted files' sort;
//! - a timestamp (microseconds) is an `i64`, mapped to `u128` keeping its order.
//!
//! A filter that compares such a column with literals of its type — `=`, `<>`, `<`, `<=`,
//! `>`, `>=`, `BETWEEN`, `IN`, and `AND`/`OR` of those on one column; what text addresses,
//! `cidr_contains` and time literals become — is a set of inclusive key ranges. A scan that
//! knows the set can pick rows from statistics instead of comparing every row.

use std::cmp::{max, min};

use datafusion::common::{Column, ScalarValue};
use datafusion::logical_expr::expr::InList;
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Operator};

use plumb_collector::addr::ADDR_LEN;

/// Inclusive `u128` ranges, sorted and disjoint; rows whose address is null are in none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRanges(Vec<(u128, u128)>);

impl KeyRanges {
    pub fn none() -> Self {
        Self(Vec::new())
    }

    pub fn all() -> Self {
        Self(vec![(0, u128::MAX)])
    }

    /// `lo..=hi`, empty when `lo > hi`.
    pub fn between(lo: u128, hi: u128) -> Self {
        if lo <= hi { Self(vec![(lo, hi)]) } else { Self::none() }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn ranges(&self) -> &[(u128, u128)] {
        &self.0
    }

    pub fn union(&self, other: &Self) -> Self {
        let mut all: Vec<(u128, u128)> = self.0.iter().chain(&other.0).copied().collect();
        all.sort_unstable();
        let mut out: Vec<(u128, u128)> = Vec::with_capacity(all.len());
        for (lo, hi) in all {
            match out.last_mut() {
                // Adjacent ranges merge too: hi + 1 == lo leaves no gap.
                Some(last) if last.1 == u128::MAX || lo <= last.1 + 1 => last.1 = max(last.1, hi),
                _ => out.push((lo, hi)),
            }
        }
        Self(out)
    }

    pub fn intersect(&self, other: &Self) -> Self {
        let (mut i, mut j, mut out) = (0, 0, Vec::new());
        while i < self.0.len() && j < other.0.len() {
            let (a, b) = (self.0[i], other.0[j]);
            let (lo, hi) = (max(a.0, b.0), min(a.1, b.1));
            if lo <= hi {
                out.push((lo, hi));
            }
            if a.1 < b.1 { i += 1 } else { j += 1 }
        }
        Self(out)
    }

    fn complement(&self) -> Self {
        let mut out = Vec::new();
        let mut next = Some(0u128);
        for &(lo, hi) in &self.0 {
            if let Some(n) = next
                && n < lo
            {
                out.push((n, lo - 1));
            }
            next = hi.checked_add(1);
        }
        if let Some(n) = next {
            out.push((n, u128::MAX));
        }
        Self(out)
    }

    pub fn contains(&self, v: u128) -> bool {
        let i = self.0.partition_point(|&(_, hi)| hi < v);
        self.0.get(i).is_some_and(|&(lo, _)| lo <= v)
    }

    /// Whether some value in `lo..=hi` is in the set.
    pub fn overlaps(&self, lo: u128, hi: u128) -> bool {
        let i = self.0.partition_point(|&(_, h)| h < lo);
        self.0.get(i).is_some_and(|&(l, _)| l <= hi)
    }

    /// Whether every value in `lo..=hi` is in the set.
    pub fn covers(&self, lo: u128, hi: u128) -> bool {
        let i = self.0.partition_point(|&(_, h)| h < lo);
        self.0.get(i).is_some_and(|&(l, h)| l <= lo && hi <= h)
    }
}

/// Which kind of column a key comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// 16-byte addresses (`FixedSizeBinary(16)`, Parquet `FIXED_LEN_BYTE_ARRAY`).
    Addr,
    /// Microsecond timestamps (Parquet `INT64`).
    Time,
}

/// The key of a stored address; `None` unless `bytes` is 16 long.
pub fn key(bytes: &[u8]) -> Option<u128> {
    Some(u128::from_be_bytes(bytes.try_into().ok()?))
}

/// The key of a timestamp: flipping the sign bit makes unsigned order signed order.
pub fn time_key(v: i64) -> u128 {
    u128::from((v as u64) ^ (1 << 63))
}

/// A filter on one column as key ranges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnRanges {
    pub column: Column,
    pub kind: KeyKind,
    pub keep: KeyRanges,
}

/// The column an expression filters and the keys it keeps, when the expression is one of
/// the forms in the module doc; `None` for anything else.
pub fn column_ranges(e: &Expr) -> Option<ColumnRanges> {
    let one = |c: &Column, kind, keep| Some(ColumnRanges { column: c.clone(), kind, keep });
    match e {
        Expr::BinaryExpr(BinaryExpr { left, op: op @ (Operator::And | Operator::Or), right }) => {
            let l = column_ranges(left)?;
            let r = column_ranges(right)?;
            if (&l.column, l.kind) != (&r.column, r.kind) {
                return None;
            }
            let keep = if *op == Operator::And { l.keep.intersect(&r.keep) } else { l.keep.union(&r.keep) };
            Some(ColumnRanges { keep, ..l })
        }
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => match (left.as_ref(), right.as_ref()) {
            (Expr::Column(c), lit) => {
                let (kind, v) = literal(lit)?;
                one(c, kind, compare(*op, v)?)
            }
            (lit, Expr::Column(c)) => {
                let (kind, v) = literal(lit)?;
                one(c, kind, compare(op.swap()?, v)?)
            }
            _ => None,
        },
        Expr::Between(Between { expr, negated: false, low, high }) => {
            let Expr::Column(c) = expr.as_ref() else { return None };
            let ((kind, lo), (high_kind, hi)) = (literal(low)?, literal(high)?);
            if kind != high_kind {
                return None;
            }
            let keep = match (lo, hi) {
                (Some(lo), Some(hi)) => KeyRanges::between(lo, hi),
                _ => KeyRanges::none(),
            };
            one(c, kind, keep)
        }
        Expr::InList(InList { expr, list, negated: false }) => {
            let Expr::Column(c) = expr.as_ref() else { return None };
            let (kind, _) = literal(list.first()?)?;
            let mut keep = KeyRanges::none();
            for item in list {
                let (k, v) = literal(item)?;
                if k != kind {
                    return None;
                }
                if let Some(v) = v {
                    keep = keep.union(&KeyRanges::between(v, v));
                }
            }
            one(c, kind, keep)
        }
        _ => None,
    }
}

/// The kind and key of a literal; a null key (it matches no row) is `(kind, None)`.
/// `None` if `e` is not a 16-byte or microsecond-timestamp literal.
fn literal(e: &Expr) -> Option<(KeyKind, Option<u128>)> {
    match e {
        Expr::Literal(ScalarValue::FixedSizeBinary(w, v), _) if *w as usize == ADDR_LEN => match v {
            Some(b) => Some((KeyKind::Addr, Some(key(b)?))),
            None => Some((KeyKind::Addr, None)),
        },
        Expr::Literal(ScalarValue::TimestampMicrosecond(v, _), _) => Some((KeyKind::Time, v.map(time_key))),
        _ => None,
    }
}

/// Keys `k` with `k op v`; a null `v` keeps none.
fn compare(op: Operator, v: Option<u128>) -> Option<KeyRanges> {
    let Some(v) = v else {
        return matches!(
            op,
            Operator::Eq | Operator::NotEq | Operator::Lt | Operator::LtEq | Operator::Gt | Operator::GtEq
        )
        .then(KeyRanges::none);
    };
    Some(match op {
        Operator::Eq => KeyRanges::between(v, v),
        Operator::NotEq => KeyRanges::between(v, v).complement(),
        Operator::Lt => v.checked_sub(1).map_or_else(KeyRanges::none, |h| KeyRanges::between(0, h)),
        Operator::LtEq => KeyRanges::between(0, v),
        Operator::Gt => v.checked_add(1).map_or_else(KeyRanges::none, |l| KeyRanges::between(l, u128::MAX)),
        Operator::GtEq => KeyRanges::between(v, u128::MAX),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::{col, lit};

    fn addr(s: &str) -> Expr {
        let a = plumb_collector::addr::parse_text(s).unwrap();
        lit(ScalarValue::FixedSizeBinary(16, Some(a.to_vec())))
    }

    fn k(s: &str) -> u128 {
        key(&plumb_collector::addr::parse_text(s).unwrap()).unwrap()
    }

    #[test]
    fn set_operations_merge_split_and_test_membership() {
        let a = KeyRanges::between(10, 20).union(&KeyRanges::between(21, 30));
        assert_eq!(a.ranges(), &[(10, 30)], "adjacent ranges merge");
        let b = a.union(&KeyRanges::between(40, 50));
        assert_eq!(b.intersect(&KeyRanges::between(25, 45)).ranges(), &[(25, 30), (40, 45)]);
        assert_eq!(KeyRanges::between(5, 5).complement().ranges(), &[(0, 4), (6, u128::MAX)]);
        assert_eq!(KeyRanges::all().complement(), KeyRanges::none());
        assert!(b.contains(30) && !b.contains(31) && b.contains(40) && !b.contains(51));
        assert!(b.overlaps(31, 40) && !b.overlaps(31, 39));
        assert!(b.covers(12, 30) && !b.covers(12, 31) && !b.covers(0, 9));
        assert_eq!(KeyRanges::between(2, 1), KeyRanges::none());
    }

    #[test]
    fn filter_forms_become_ranges_of_their_column() {
        let c = Column::from_name("src_addr");
        let addr_ranges = |keep| ColumnRanges { column: c.clone(), kind: KeyKind::Addr, keep };
        let lo = k("10.1.0.0");
        let hi = k("10.1.255.255");
        let between = col("src_addr").between(addr("10.1.0.0"), addr("10.1.255.255"));
        assert_eq!(column_ranges(&between), Some(addr_ranges(KeyRanges::between(lo, hi))));
        let eq = addr("10.1.2.3").eq(col("src_addr"));
        assert_eq!(column_ranges(&eq).unwrap().keep, KeyRanges::between(k("10.1.2.3"), k("10.1.2.3")));
        let gt = addr("10.1.2.3").lt(col("src_addr"));
        assert_eq!(column_ranges(&gt).unwrap().keep, KeyRanges::between(k("10.1.2.3") + 1, u128::MAX));
        let in_list = col("src_addr").in_list(vec![addr("10.0.0.2"), addr("10.0.0.1")], false);
        assert_eq!(column_ranges(&in_list).unwrap().keep, KeyRanges::between(k("10.0.0.1"), k("10.0.0.2")));
        let either = col("src_addr").eq(addr("10.0.0.1")).or(col("src_addr").eq(addr("::1")));
        assert_eq!(column_ranges(&either).unwrap().keep.ranges().len(), 2);
        let both = col("src_addr").gt_eq(addr("10.0.0.0")).and(col("src_addr").lt(addr("11.0.0.0")));
        assert_eq!(column_ranges(&both).unwrap().keep, KeyRanges::between(k("10.0.0.0"), k("11.0.0.0") - 1));
    }

    #[test]
    fn time_filters_keep_signed_order() {
        let t = |v: i64| lit(ScalarValue::TimestampMicrosecond(Some(v), Some("UTC".into())));
        assert!(time_key(-1) < time_key(0) && time_key(0) < time_key(1) && time_key(i64::MIN) == 0);
        let hour = col("flow_end").gt_eq(t(3_600_000_000)).and(col("flow_end").lt(t(7_200_000_000)));
        let r = column_ranges(&hour).unwrap();
        assert_eq!(r.kind, KeyKind::Time);
        assert_eq!(r.keep, KeyRanges::between(time_key(3_600_000_000), time_key(7_199_999_999)));
        let mixed = col("flow_end").gt_eq(t(0)).and(col("flow_end").eq(addr("10.0.0.1")));
        assert_eq!(column_ranges(&mixed), None, "a column has one kind");
    }

    #[test]
    fn other_filters_are_not_ranges() {
        let two_columns = col("src_addr").eq(addr("10.0.0.1")).or(col("dst_addr").eq(addr("10.0.0.1")));
        assert_eq!(column_ranges(&two_columns), None);
        assert_eq!(column_ranges(&col("src_addr").in_list(vec![addr("10.0.0.1")], true)), None);
        assert_eq!(column_ranges(&col("protocol").eq(lit(6u8))), None);
        let null = lit(ScalarValue::FixedSizeBinary(16, None));
        assert_eq!(column_ranges(&col("src_addr").eq(null)).unwrap().keep, KeyRanges::none());
    }
}
