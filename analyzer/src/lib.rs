//! plumb's analyzer: SQL over the store today; topology, MTU and NIOC analysis build on it.

pub mod sql;
