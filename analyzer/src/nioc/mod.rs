//! Network I/O Control: what each traffic class is entitled to on an uplink
//! ([`entitlement`]), the yardstick the contention detector measures throughput against.

pub mod entitlement;
