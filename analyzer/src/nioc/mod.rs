//! Network I/O Control: what each traffic class is entitled to on an uplink
//! ([`entitlement`]), and the uplinks where classes compete for more than it carries
//! ([`contention`]).

pub mod contention;
pub mod entitlement;
