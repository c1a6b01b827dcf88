//! The DataFusion session over the store: table `flows` (hive-partitioned Parquet, with
//! `date` and `hour` partition columns), the address functions and the address rewrite.

use std::path::Path;
use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::FunctionRegistry;
use datafusion::prelude::{SessionConfig, SessionContext};

use plumb_collector::schema::flows_schema;

use super::rewrite::AddressRewrite;
use super::udf;

/// Folder of the raw flows table under the data directory (as the store writes it).
pub const FLOWS_DIR: &str = "flows";

/// A session with `flows` registered from `data_dir`. A store that does not exist yet is an
/// empty table, not an error.
pub async fn open(data_dir: &Path) -> Result<SessionContext> {
    let config = SessionConfig::new()
        .with_information_schema(true)
        .set_bool("datafusion.execution.parquet.pushdown_filters", false);
    let ctx = SessionContext::new_with_config(config);
    for f in udf::all() {
        ctx.register_udf(f);
    }
    ctx.state_ref().write().register_function_rewrite(Arc::new(AddressRewrite::new()))?;
    register_flows(&ctx, data_dir)?;
    Ok(ctx)
}

fn register_flows(ctx: &SessionContext, data_dir: &Path) -> Result<()> {
    let dir = data_dir.join(FLOWS_DIR);
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
    let config = ListingTableConfig::new(url).with_listing_options(options).with_schema(flows_schema());
    ctx.register_table("flows", Arc::new(ListingTable::try_new(config)?))?;
    Ok(())
}
