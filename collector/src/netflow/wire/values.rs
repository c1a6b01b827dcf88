//! Readers of field values as they are encoded on the wire (RFC 7011 §6): unsigned
//! integers of any reduced size, addresses, floats and timestamps. Each returns `None`
//! for a length it cannot read, never panics.

use crate::addr::{self, Addr16};

/// Big-endian unsigned integer of 1..=8 bytes.
#[inline]
pub fn be_uint(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 8 {
        return None;
    }
    Some(v.iter().fold(0u64, |acc, &b| (acc << 8) | b as u64))
}

/// A count of `unit`-µs ticks as µs; hostile values saturate instead of overflowing.
pub fn to_us(ticks: u64, unit: i64) -> i64 {
    i64::try_from(ticks).unwrap_or(i64::MAX).saturating_mul(unit)
}

/// Converts an NTP timestamp (seconds since 1900 and a 2^-32 fraction) to µs since 1970.
pub fn ntp_to_us(v: u64) -> i64 {
    const NTP_TO_UNIX_S: i64 = 2_208_988_800;
    let secs = (v >> 32) as i64 - NTP_TO_UNIX_S;
    let frac_us = ((v & 0xFFFF_FFFF) * 1_000_000) >> 32;
    secs * 1_000_000 + frac_us as i64
}

pub fn v4(v: &[u8]) -> Option<Addr16> {
    Some(addr::from_v4_bytes(v.try_into().ok()?))
}

pub fn v6(v: &[u8]) -> Option<Addr16> {
    v.try_into().ok()
}

/// A float32 or float64 value.
pub fn be_float(v: &[u8]) -> Option<f64> {
    match v.len() {
        4 => Some(f32::from_be_bytes(v.try_into().ok()?) as f64),
        8 => Some(f64::from_be_bytes(v.try_into().ok()?)),
        _ => None,
    }
}
