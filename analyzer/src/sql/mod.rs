//! SQL over the store: session, address functions and rewrite, output formatting.

pub mod output;
pub mod rewrite;
pub mod session;
pub mod udf;

use datafusion::arrow::array::RecordBatch;
use datafusion::error::Result;
use datafusion::prelude::SessionContext;

/// Runs one SQL statement and returns its rows with addresses as text.
pub async fn run(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>> {
    let df = ctx.sql(sql).await?;
    let batches = df.collect().await?;
    batches.iter().map(|b| output::readable(b).map_err(Into::into)).collect()
}

pub use datafusion::error::DataFusionError;
