//! What plumb sends out of itself: [`prometheus`] (the self-metrics registry and the
//! `/metrics` endpoint); next, the ClickHouse sink.

pub mod prometheus;
