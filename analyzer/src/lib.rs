//! plumb's analyzer: SQL over the store ([`query`]), the user's network ([`topology`]),
//! the traffic type of each flow ([`classify`]), the MTU detectors ([`mtu`]), NIOC
//! entitlements ([`nioc`]) and what the analysis reports ([`findings`]).

pub mod classify;
pub mod findings;
pub mod mtu;
pub mod nioc;
pub mod query;
pub mod rows;
pub mod topology;
