//! plumb's sinks and outward interfaces: the Parquet store and the Prometheus metrics.

pub mod metrics;
pub mod store;
