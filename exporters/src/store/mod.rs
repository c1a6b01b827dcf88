//! The local Parquet store of `flows`.

pub mod layout;
pub mod writer;

pub use writer::{Codec, FlowStore, FlushReport, StoreConfig};
