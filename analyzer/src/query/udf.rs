//! Address functions for SQL. They work on the stored 16-byte encoding; text is made only
//! for output.
//!
//! - `cidr_contains(cidr, addr)`: whether `addr` lies in the block (`'10.0.0.0/8'`,
//!   `'2001:db8::/32'`); with a literal block the query is rewritten into a byte range so
//!   Parquet statistics prune it (see [`super::rewrite`]).
//! - `ip_to_string(addr)`: the text form (IPv4 dotted, IPv6 RFC 5952).
//! - `ip(text)`: the stored form of an address typed as text.
//! - `mac_to_string(mac)`: `aa:bb:cc:dd:ee:ff`.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, FixedSizeBinaryArray, FixedSizeBinaryBuilder, StringArray, StringBuilder,
};
use arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use plumb_collector::addr::{self, ADDR_LEN, MAC_LEN};

/// Every function of this module, for registration.
pub fn all() -> Vec<ScalarUDF> {
    vec![
        ScalarUDF::from(CidrContains::new()),
        ScalarUDF::from(IpToString::new()),
        ScalarUDF::from(IpFromText::new()),
        ScalarUDF::from(MacToString::new()),
    ]
}

pub const CIDR_CONTAINS: &str = "cidr_contains";
pub const IP_TO_STRING: &str = "ip_to_string";
pub const MAC_TO_STRING: &str = "mac_to_string";

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8)
}

/// The text of a scalar string of any string type.
pub fn scalar_text(v: &ScalarValue) -> Option<Option<&str>> {
    match v {
        ScalarValue::Utf8(s) | ScalarValue::Utf8View(s) | ScalarValue::LargeUtf8(s) => Some(s.as_deref()),
        _ => None,
    }
}

/// Casts any string array to a `StringArray` view of it.
fn as_strings(a: &ArrayRef) -> Result<Arc<StringArray>> {
    let cast = arrow::compute::cast(a, &DataType::Utf8)?;
    Ok(Arc::new(
        cast.as_any()
            .downcast_ref::<StringArray>()
            .cloned()
            .ok_or_else(|| DataFusionError::Execution("expected a text argument".into()))?,
    ))
}

fn fixed(a: &ArrayRef, width: usize, func: &str) -> Result<FixedSizeBinaryArray> {
    match a.as_any().downcast_ref::<FixedSizeBinaryArray>() {
        Some(f) if f.value_length() as usize == width => Ok(f.clone()),
        _ => exec_err!("{func} takes an address column (FixedSizeBinary({width})), got {}", a.data_type()),
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct CidrContains {
    signature: Signature,
}

impl CidrContains {
    pub fn new() -> Self {
        Self { signature: Signature::any(2, Volatility::Immutable) }
    }
}

impl Default for CidrContains {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for CidrContains {
    fn name(&self) -> &str {
        CIDR_CONTAINS
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        if !is_text(&args[0]) || args[1] != DataType::FixedSizeBinary(ADDR_LEN as i32) {
            return plan_err!(
                "cidr_contains(cidr, address) takes a text block and an address column, e.g. cidr_contains('10.0.0.0/8', src_addr); got ({}, {})",
                args[0],
                args[1]
            );
        }
        Ok(DataType::Boolean)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let blocks = as_strings(&arrays[0])?;
        let addrs = fixed(&arrays[1], ADDR_LEN, CIDR_CONTAINS)?;
        let mut out = Vec::with_capacity(n);
        let mut cached: Option<(String, (addr::Addr16, addr::Addr16))> = None;
        for i in 0..n {
            if blocks.is_null(i) || addrs.is_null(i) {
                out.push(None);
                continue;
            }
            let b = blocks.value(i);
            let range = match &cached {
                Some((text, r)) if text == b => *r,
                _ => {
                    let Some(r) = addr::cidr_range(b) else {
                        return exec_err!(
                            "'{b}' is not a CIDR block; write e.g. '10.0.0.0/8' or '2001:db8::/32'"
                        );
                    };
                    cached = Some((b.to_string(), r));
                    r
                }
            };
            let a = addrs.value(i);
            out.push(Some(a >= &range.0[..] && a <= &range.1[..]));
        }
        Ok(ColumnarValue::Array(Arc::new(BooleanArray::from(out))))
    }
}

macro_rules! to_text_udf {
    ($ty:ident, $name:expr, $width:expr, $write:path) => {
        #[derive(Debug, PartialEq, Eq, Hash)]
        pub struct $ty {
            signature: Signature,
        }

        impl $ty {
            pub fn new() -> Self {
                Self { signature: Signature::any(1, Volatility::Immutable) }
            }
        }

        impl Default for $ty {
            fn default() -> Self {
                Self::new()
            }
        }

        impl ScalarUDFImpl for $ty {
            fn name(&self) -> &str {
                $name
            }
            fn signature(&self) -> &Signature {
                &self.signature
            }
            fn return_type(&self, args: &[DataType]) -> Result<DataType> {
                if args[0] != DataType::FixedSizeBinary($width as i32) && args[0] != DataType::Null {
                    return plan_err!(
                        "{} takes a column of FixedSizeBinary({}), got {}",
                        $name,
                        $width,
                        args[0]
                    );
                }
                Ok(DataType::Utf8)
            }
            fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
                let arrays = ColumnarValue::values_to_arrays(&args.args)?;
                if arrays[0].data_type() == &DataType::Null {
                    return Ok(ColumnarValue::Array(Arc::new(StringArray::new_null(arrays[0].len()))));
                }
                let a = fixed(&arrays[0], $width, $name)?;
                Ok(ColumnarValue::Array(Arc::new(format_fixed(&a, $width))))
            }
        }
    };
}

to_text_udf!(IpToString, IP_TO_STRING, ADDR_LEN, addr::write_text);
to_text_udf!(MacToString, MAC_TO_STRING, MAC_LEN, addr::write_mac);

/// Formats an address (width 16) or MAC (width 6) column as text.
pub fn format_fixed(a: &FixedSizeBinaryArray, width: usize) -> StringArray {
    let mut b = StringBuilder::with_capacity(a.len(), a.len() * 15);
    let mut s = String::with_capacity(48);
    for i in 0..a.len() {
        if a.is_null(i) {
            b.append_null();
            continue;
        }
        s.clear();
        let v = a.value(i);
        if width == ADDR_LEN {
            let mut arr = [0u8; ADDR_LEN];
            arr.copy_from_slice(v);
            addr::write_text(&arr, &mut s);
        } else {
            addr::write_mac(v, &mut s);
        }
        b.append_value(&s);
    }
    b.finish()
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct IpFromText {
    signature: Signature,
}

impl IpFromText {
    pub fn new() -> Self {
        Self { signature: Signature::any(1, Volatility::Immutable) }
    }
}

impl Default for IpFromText {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for IpFromText {
    fn name(&self) -> &str {
        "ip"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        if !is_text(&args[0]) {
            return plan_err!("ip(text) takes an address as text, e.g. ip('10.1.2.3'); got {}", args[0]);
        }
        Ok(DataType::FixedSizeBinary(ADDR_LEN as i32))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let texts = as_strings(&arrays[0])?;
        let mut b = FixedSizeBinaryBuilder::with_capacity(texts.len(), ADDR_LEN as i32);
        for i in 0..texts.len() {
            if texts.is_null(i) {
                b.append_null();
                continue;
            }
            match addr::parse_text(texts.value(i)) {
                Some(a) => b.append_value(a)?,
                None => return exec_err!("'{}' is not an IP address", texts.value(i)),
            }
        }
        Ok(ColumnarValue::Array(Arc::new(b.finish())))
    }
}
