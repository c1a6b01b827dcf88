//! Lets users write addresses as text while filters run on the stored bytes.
//!
//! A [`FunctionRewrite`] runs before type coercion and turns, wherever the other side is an
//! address (16 bytes) or MAC (6 bytes) column:
//! - `addr = '10.1.2.3'` (and `<>`, `<`, `<=`, `>`, `>=`) into a comparison with the stored
//!   bytes, so Parquet statistics and page indexes prune;
//! - `addr IN ('10.0.0.1', '2001:db8::1')` likewise;
//! - `cidr_contains('10.0.0.0/8', addr)` with a literal block into
//!   `addr BETWEEN low AND high`;
//! - `CAST(addr AS VARCHAR)` into `ip_to_string(addr)`.
//!
//! Nothing is formatted per row on the filter path; rows are formatted only for output.

use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, Result, ScalarValue, config::ConfigOptions, plan_err};
use datafusion::logical_expr::expr::{Cast, InList, ScalarFunction};
use datafusion::logical_expr::expr_rewriter::FunctionRewrite;
use datafusion::logical_expr::{Between, BinaryExpr, Expr, ExprSchemable, Operator, ScalarUDF};

use plumb_collector::addr::{self, ADDR_LEN, MAC_LEN};

use super::udf::{self, CIDR_CONTAINS, scalar_text};

#[derive(Debug)]
pub struct AddressRewrite {
    ip_to_string: Arc<ScalarUDF>,
    mac_to_string: Arc<ScalarUDF>,
}

impl AddressRewrite {
    pub fn new() -> Self {
        Self {
            ip_to_string: Arc::new(ScalarUDF::from(udf::IpToString::new())),
            mac_to_string: Arc::new(ScalarUDF::from(udf::MacToString::new())),
        }
    }
}

impl Default for AddressRewrite {
    fn default() -> Self {
        Self::new()
    }
}

/// Which stored encoding an expression has, if any.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoded {
    Addr,
    Mac,
}

fn encoding(e: &Expr, schema: &DFSchema) -> Option<Encoded> {
    match e.get_type(schema).ok()? {
        DataType::FixedSizeBinary(w) if w as usize == ADDR_LEN => Some(Encoded::Addr),
        DataType::FixedSizeBinary(w) if w as usize == MAC_LEN => Some(Encoded::Mac),
        _ => None,
    }
}

/// The stored literal for a text literal compared with an `enc` column.
fn stored_literal(e: &Expr, enc: Encoded) -> Option<Result<Expr>> {
    let Expr::Literal(v, _) = e else { return None };
    let text = scalar_text(v)?;
    let Some(text) = text else {
        let width = if enc == Encoded::Addr { ADDR_LEN } else { MAC_LEN };
        return Some(Ok(Expr::Literal(ScalarValue::FixedSizeBinary(width as i32, None), None)));
    };
    Some(match enc {
        Encoded::Addr => match addr::parse_text(text) {
            Some(a) => {
                Ok(Expr::Literal(ScalarValue::FixedSizeBinary(ADDR_LEN as i32, Some(a.to_vec())), None))
            }
            None => plan_err!(
                "'{text}' is not an IP address; compare address columns with text like '10.1.2.3' or '2001:db8::1', or use cidr_contains('10.0.0.0/8', col) for blocks"
            ),
        },
        Encoded::Mac => match addr::parse_mac(text) {
            Some(m) => {
                Ok(Expr::Literal(ScalarValue::FixedSizeBinary(MAC_LEN as i32, Some(m.to_vec())), None))
            }
            None => plan_err!("'{text}' is not a MAC address; write it like '00:50:56:ab:cd:ef'"),
        },
    })
}

fn is_comparison(op: Operator) -> bool {
    matches!(
        op,
        Operator::Eq
            | Operator::NotEq
            | Operator::Lt
            | Operator::LtEq
            | Operator::Gt
            | Operator::GtEq
            | Operator::IsDistinctFrom
            | Operator::IsNotDistinctFrom
    )
}

impl FunctionRewrite for AddressRewrite {
    fn name(&self) -> &str {
        "plumb_address_rewrite"
    }

    fn rewrite(&self, expr: Expr, schema: &DFSchema, _: &ConfigOptions) -> Result<Transformed<Expr>> {
        match expr {
            Expr::BinaryExpr(BinaryExpr { left, op, right }) if is_comparison(op) => {
                if let Some(enc) = encoding(&left, schema)
                    && let Some(lit) = stored_literal(&right, enc)
                {
                    return Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr {
                        left,
                        op,
                        right: Box::new(lit?),
                    })));
                }
                if let Some(enc) = encoding(&right, schema)
                    && let Some(lit) = stored_literal(&left, enc)
                {
                    return Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr {
                        left: Box::new(lit?),
                        op,
                        right,
                    })));
                }
                Ok(Transformed::no(Expr::BinaryExpr(BinaryExpr { left, op, right })))
            }
            Expr::InList(InList { expr, list, negated }) => {
                let Some(enc) = encoding(&expr, schema) else {
                    return Ok(Transformed::no(Expr::InList(InList { expr, list, negated })));
                };
                let list = list
                    .into_iter()
                    .map(|e| stored_literal(&e, enc).unwrap_or(Ok(e)))
                    .collect::<Result<Vec<_>>>()?;
                Ok(Transformed::yes(Expr::InList(InList { expr, list, negated })))
            }
            Expr::ScalarFunction(ScalarFunction { func, args }) if func.name() == CIDR_CONTAINS => {
                if let [Expr::Literal(v, _), col] = args.as_slice()
                    && let Some(Some(text)) = scalar_text(v)
                    && encoding(col, schema) == Some(Encoded::Addr)
                {
                    let Some((lo, hi)) = addr::cidr_range(text) else {
                        return plan_err!(
                            "'{text}' is not a CIDR block; write e.g. '10.0.0.0/8' or '2001:db8::/32'"
                        );
                    };
                    let lit = |b: [u8; ADDR_LEN]| {
                        Box::new(Expr::Literal(
                            ScalarValue::FixedSizeBinary(ADDR_LEN as i32, Some(b.to_vec())),
                            None,
                        ))
                    };
                    return Ok(Transformed::yes(Expr::Between(Between {
                        expr: Box::new(col.clone()),
                        negated: false,
                        low: lit(lo),
                        high: lit(hi),
                    })));
                }
                Ok(Transformed::no(Expr::ScalarFunction(ScalarFunction { func, args })))
            }
            Expr::Cast(Cast { expr, field })
                if matches!(field.data_type(), DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8) =>
            {
                let func = match encoding(&expr, schema) {
                    Some(Encoded::Addr) => self.ip_to_string.clone(),
                    Some(Encoded::Mac) => self.mac_to_string.clone(),
                    None => return Ok(Transformed::no(Expr::Cast(Cast { expr, field }))),
                };
                let call = Expr::ScalarFunction(ScalarFunction { func, args: vec![*expr] });
                let call = if field.data_type() == &DataType::Utf8 {
                    call
                } else {
                    Expr::Cast(Cast::new_from_field(Box::new(call), field))
                };
                Ok(Transformed::yes(call))
            }
            other => Ok(Transformed::no(other)),
        }
    }
}
