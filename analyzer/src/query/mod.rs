//! SQL over the store: session, address functions and rewrite, output formatting.

pub mod balanced_scan;
pub mod flows_table;
pub mod key_ranges;
pub mod mapped_files;
pub mod output;
pub mod page_select;
pub mod partial_aggregate;
pub mod rewrite;
pub mod session;
pub mod udf;

use datafusion::arrow::array::RecordBatch;
use datafusion::error::Result;
use datafusion::prelude::SessionContext;

/// Runs one SQL statement and returns its rows with addresses as text.
pub async fn run(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>> {
    Ok(run_with_stats(ctx, sql).await?.0)
}

/// What a query read from the store.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// Rows the Parquet scans produced (after pruning, before filters above the scan).
    pub rows_scanned: usize,
    /// Bytes the Parquet scans read from files.
    pub bytes_scanned: usize,
}

/// Like [`run`], and also reports what the scans read.
pub async fn run_with_stats(ctx: &SessionContext, sql: &str) -> Result<(Vec<RecordBatch>, ScanStats)> {
    let df = ctx.sql(sql).await?;
    let plan = df.create_physical_plan().await?;
    let batches = datafusion::physical_plan::collect(plan.clone(), ctx.task_ctx()).await?;
    let mut stats = ScanStats::default();
    scan_stats(plan.as_ref(), &mut stats);
    let rows = batches.iter().map(|b| output::readable(b).map_err(Into::into)).collect::<Result<_>>()?;
    Ok((rows, stats))
}

fn scan_stats(plan: &dyn datafusion::physical_plan::ExecutionPlan, out: &mut ScanStats) {
    if let Some(m) = plan.metrics()
        && let Some(bytes) = m.sum_by_name("bytes_scanned")
    {
        out.bytes_scanned += bytes.as_usize();
        out.rows_scanned += m.output_rows().unwrap_or(0);
    }
    for child in plan.children() {
        scan_stats(child.as_ref(), out);
    }
}

pub use datafusion::error::DataFusionError;
