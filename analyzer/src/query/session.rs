//! The DataFusion session over the store: tables `flows`, `interface_counters`, `drops`,
//! `flows_1m` and `interfaces_1m` (hive-partitioned Parquet, with `date` and `hour`
//! partition columns), the address functions and the address rewrite.

use std::path::Path;
use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::{FunctionRegistry, SessionStateBuilder};
use datafusion::prelude::{SessionConfig, SessionContext};

use arrow::datatypes::SchemaRef;
use plumb_collector::schema::{Table, flows_schema};
use plumb_store::layout::FLOWS_DIR;
use plumb_store::rollup::Rollup;

use super::balanced_scan::BalancedScans;
use super::flows_table::FlowsTable;
use super::mapped_files::MappedFiles;
use super::partial_aggregate::PartialAggregate;
use super::rewrite::AddressRewrite;
use super::udf;

/// A session with the decoders' tables and the rollups registered from `data_dir`. A store that does not exist yet is an
/// empty table, not an error.
pub async fn open(data_dir: &Path) -> Result<SessionContext> {
    // DATAFUSION_* variables tune the engine (e.g. DATAFUSION_EXECUTION_TARGET_PARTITIONS);
    // filter pushdown stays off unless asked: it slowed an unclustered address range scan (0.25 -> 0.39 s).
    let mut config = SessionConfig::from_env()?.with_information_schema(true);
    if std::env::var_os("DATAFUSION_EXECUTION_PARQUET_PUSHDOWN_FILTERS").is_none() {
        config = config.set_bool("datafusion.execution.parquet.pushdown_filters", false);
    }
    // Skip the partial aggregation as soon as it finds one group per ten rows: grouping
    // conversations of an hour (millions of groups) ran 2.6 s with DataFusion's 0.8 and
    // 1.6 s with 0.1; few-group questions never reach the ratio (decision 0005).
    if std::env::var_os("DATAFUSION_EXECUTION_SKIP_PARTIAL_AGGREGATION_PROBE_RATIO_THRESHOLD").is_none() {
        config.options_mut().execution.skip_partial_aggregation_probe_ratio_threshold = 0.1;
    }
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .with_physical_optimizer_rule(Arc::new(PartialAggregate::default()))
        .with_physical_optimizer_rule(Arc::new(BalancedScans::default()))
        .build();
    let ctx = SessionContext::new_with_state(state);
    let local = ObjectStoreUrl::local_filesystem();
    ctx.register_object_store(local.as_ref(), Arc::new(MappedFiles::new()));
    for f in udf::all() {
        ctx.register_udf(f);
    }
    ctx.state_ref().write().register_function_rewrite(Arc::new(AddressRewrite::new()))?;
    let flows = listing(data_dir, FLOWS_DIR, flows_schema())?;
    ctx.register_table(FLOWS_DIR, Arc::new(FlowsTable::new(flows)))?;
    for t in [Table::InterfaceCounters, Table::Drops, Table::Findings] {
        ctx.register_table(t.name(), Arc::new(listing(data_dir, t.name(), t.schema())?))?;
    }
    for r in Rollup::ALL {
        ctx.register_table(r.dir(), Arc::new(listing(data_dir, r.dir(), r.schema())?))?;
    }
    Ok(ctx)
}

fn listing(data_dir: &Path, table: &str, schema: SchemaRef) -> Result<ListingTable> {
    let dir = data_dir.join(table);
    std::fs::create_dir_all(&dir).map_err(|e| {
        DataFusionError::External(
            format!("cannot open the store at {}: {e} (set --data to the store folder)", dir.display())
                .into(),
        )
    })?;
    let abs = std::fs::canonicalize(&dir)?;
    let url = ListingTableUrl::parse(format!("{}/", abs.display()))?;
    let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
        .with_file_extension(".parquet")
        .with_table_partition_cols(vec![
            ("date".to_string(), DataType::Utf8),
            ("hour".to_string(), DataType::Int32),
        ]);
    let config = ListingTableConfig::new(url).with_listing_options(options).with_schema(schema);
    ListingTable::try_new(config)
}
