//! `plumb query`: SQL over the store.

use std::time::Instant;

use anyhow::{Result, anyhow};

use plumb_analyzer::query::{self, output};

use crate::cli::{OutputFormat, QueryArgs};

pub fn run(a: QueryArgs) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let started = Instant::now();
    // Held until the process ends: no compaction swaps files under this query.
    let _guard = plumb_store::read_guard(&a.data)
        .map_err(|e| anyhow!("cannot open the store at {} for reading: {e}", a.data.display()))?;
    rt.block_on(async {
        let ctx = query::session::open(&a.data).await.map_err(|e| anyhow!("{e}"))?;
        if a.explain {
            let verb = if a.timing { "EXPLAIN ANALYZE" } else { "EXPLAIN" };
            let batches = query::run(&ctx, &format!("{verb} {}", a.sql)).await.map_err(friendly)?;
            output::write(&mut std::io::stdout().lock(), &batches, output::Format::Table)?;
            return Ok(());
        }
        let (batches, scan) = query::run_with_stats(&ctx, &a.sql).await.map_err(friendly)?;
        let format = match a.format {
            OutputFormat::Table => output::Format::Table,
            OutputFormat::Csv => output::Format::Csv,
            OutputFormat::Json => output::Format::Json,
        };
        output::write(&mut std::io::stdout().lock(), &batches, format)?;
        if a.timing {
            let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
            eprintln!(
                "{rows} rows in {:.3} s; scanned {} rows, {} bytes",
                started.elapsed().as_secs_f64(),
                scan.rows_scanned,
                scan.bytes_scanned
            );
        }
        Ok(())
    })
}

/// DataFusion errors with a hint at what to do.
fn friendly(e: datafusion_error::DataFusionError) -> anyhow::Error {
    let text = e.to_string();
    let hint = if text.contains("table") && text.contains("not found") {
        "\nhint: the tables are `flows` (one row per flow) and `flows_1m` (per-minute rollups); list columns with: plumb query \"DESCRIBE flows\""
    } else if text.contains("No field named") || text.contains("Schema error") {
        "\nhint: list the columns with: plumb query \"DESCRIBE flows\""
    } else if text.contains("sql parser error") || text.contains("SQL error") {
        "\nhint: quote the whole statement for the shell, strings in single quotes: plumb query \"SELECT count(*) FROM flows WHERE protocol = 6\""
    } else {
        ""
    };
    anyhow!("query failed: {text}{hint}")
}

mod datafusion_error {
    pub use plumb_analyzer::query::DataFusionError;
}
