//! plumb's analyzer: SQL over the store (`query`) today; topology, MTU and NIOC analysis build on it.

pub mod query;
