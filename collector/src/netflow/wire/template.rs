//! Template and options-template records as announced on the wire (RFC 3954 §5.2–5.3,
//! RFC 7011 §3.4): parsed into [`Template`]s, which the plan layer compiles.

use serde::{Deserialize, Serialize};

/// The length that marks a variable-length field (RFC 7011 §7).
pub const VARLEN: u16 = 65535;

/// One field specifier of a template.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldSpec {
    /// IE id (for IPFIX without the enterprise bit; for v9 the full 16-bit type).
    pub id: u16,
    /// Length in bytes; [`VARLEN`] marks a variable-length field (IPFIX only).
    pub len: u16,
    /// Private enterprise number; 0 for IANA and for every v9 field.
    pub pen: u32,
}

/// A data or options template.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Template {
    pub id: u16,
    /// Number of leading scope fields.
    pub scope_fields: u16,
    /// An options template (its records feed decoder state, not `flows`). Juniper sends
    /// options templates with no scope field, so this is not `scope_fields > 0`.
    pub options: bool,
    pub fields: Vec<FieldSpec>,
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Which template layout a set uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    V9,
    Ipfix,
}

/// Reads `count` field specifiers at `pos`; returns them and the position after them.
fn field_specs(dialect: Dialect, b: &[u8], mut pos: usize, count: usize) -> Option<(Vec<FieldSpec>, usize)> {
    // Each specifier takes at least 4 bytes: a count the set cannot hold is malformed, and
    // checking first keeps a hostile count from reserving memory.
    if count > (b.len().saturating_sub(pos)) / 4 {
        return None;
    }
    let mut fields = Vec::with_capacity(count);
    for _ in 0..count {
        let raw = be16(b, pos)?;
        let len = be16(b, pos + 2)?;
        pos += 4;
        let (id, pen) = if dialect == Dialect::Ipfix && raw & 0x8000 != 0 {
            let pen = be32(b, pos)?;
            pos += 4;
            (raw & 0x7FFF, pen)
        } else {
            (raw, 0)
        };
        fields.push(FieldSpec { id, len, pen });
    }
    Some((fields, pos))
}

/// Parses one template or options-template record at `pos`. `Ok(None)` is a withdrawal
/// (IPFIX) of the returned id; `Err(())` a malformed record.
pub(crate) fn template_record(
    dialect: Dialect,
    options: bool,
    b: &[u8],
    pos: usize,
) -> Result<(Option<Template>, u16, usize), ()> {
    let id = be16(b, pos).ok_or(())?;
    match (dialect, options) {
        (Dialect::V9, false) | (Dialect::Ipfix, false) | (Dialect::Ipfix, true) => {
            let count = be16(b, pos + 2).ok_or(())? as usize;
            if count == 0 && dialect == Dialect::Ipfix {
                return Ok((None, id, pos + 4));
            }
            let (scope, start) = if options { (be16(b, pos + 4).ok_or(())?, pos + 6) } else { (0, pos + 4) };
            if count == 0 || id < 256 || scope as usize > count {
                return Err(());
            }
            let (fields, end) = field_specs(dialect, b, start, count).ok_or(())?;
            Ok((Some(Template { id, scope_fields: scope, options, fields }), id, end))
        }
        (Dialect::V9, true) => {
            let scope_len = be16(b, pos + 2).ok_or(())? as usize;
            let opt_len = be16(b, pos + 4).ok_or(())? as usize;
            if id < 256
                || !scope_len.is_multiple_of(4)
                || !opt_len.is_multiple_of(4)
                || scope_len + opt_len == 0
            {
                return Err(());
            }
            let count = (scope_len + opt_len) / 4;
            let (fields, end) = field_specs(dialect, b, pos + 6, count).ok_or(())?;
            let t = Template { id, scope_fields: (scope_len / 4) as u16, options: true, fields };
            Ok((Some(t), id, end))
        }
    }
}
