//! The `flows` table: a hive-partitioned Parquet listing whose address and time filters
//! are exact.
//!
//! DataFusion prunes row groups and pages from statistics but then compares every row it
//! reads. For an address filter on a file sorted by that address, or a time range that
//! covers a file's hour, that is wasted work: the statistics and page index already tell
//! which rows match (see [`page_select`](super::page_select)). So this table accepts such
//! filters as exact, reads only the matching rows of the files where they resolve, and
//! leaves the filtered columns unread unless the query selects them. Files where they do
//! not resolve (flush files, in arrival order; an hour a time range ends in) are scanned
//! with the filtered columns, still skipping what the statistics rule out, and filtered
//! row by row.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{DFSchema, Statistics, internal_err};
use datafusion::datasource::TableType;
use datafusion::datasource::listing::{ListingTable, PartitionedFile};
use datafusion::datasource::physical_plan::parquet::metadata::DFParquetMetadata;
use datafusion::datasource::physical_plan::{
    FileGroup, FileScanConfig, FileScanConfigBuilder, ParquetSource,
};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::Result;
use datafusion::logical_expr::expr_rewriter::unnormalize_col;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::parquet::file::metadata::PageIndexPolicy;
use datafusion::physical_expr::expressions::Column as ColumnExpr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::union::UnionExec;

use super::key_ranges::column_ranges;
use super::page_select::{FilePlan, KeyFilter, access_plan};

/// Which files a scan reads, and how: `None` drops the file.
type FileChoice<'a> = dyn Fn(&PartitionedFile) -> Option<PartitionedFile> + Sync + 'a;

#[derive(Debug)]
pub struct FlowsTable {
    inner: ListingTable,
}

impl FlowsTable {
    pub fn new(inner: ListingTable) -> Self {
        Self { inner }
    }
}

#[async_trait]
impl TableProvider for FlowsTable {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        let mut out = self.inner.supports_filters_pushdown(filters)?;
        for (f, how) in filters.iter().zip(out.iter_mut()) {
            if column_ranges(f).is_some() {
                *how = TableProviderFilterPushDown::Exact;
            }
        }
        Ok(out)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let (keyed, key_exprs) = key_filters(filters);
        if keyed.is_empty() {
            return Ok(unordered(self.inner.scan(state, projection, filters, limit).await?));
        }
        // The limit is left to the plan above: rows the fallback part filters out must
        // not count towards it.
        let narrow = self.inner.scan(state, projection, filters, None).await?;
        let Some(config) = file_scan(&narrow) else {
            return self.filtered(state, projection, filters, &key_exprs, None).await;
        };
        let plans = file_plans(state, config, &keyed).await?;
        // The files whose plan is (or is not) exact, each with its plan; files with no row
        // left are dropped.
        let plans = &plans;
        let planned = |exact: bool| {
            move |f: &PartitionedFile| {
                let p = plans.get(&local_path(f))?;
                if p.exact != exact || !p.reads_rows() {
                    return None;
                }
                let mut f = f.clone();
                // The file's statistics count rows the plan drops; nothing may answer from them.
                f.statistics = None;
                drop_ordering(&mut f);
                f.extensions.insert(if exact { p.counted() } else { p.plan.clone() });
                Some(f)
            }
        };
        let mut parts = Vec::new();
        let exact = regroup(&config.file_groups, planned(true));
        if !exact.is_empty() {
            parts.push(exact_scan(config, exact));
        }
        if plans.values().any(|p| !p.exact && p.reads_rows()) {
            parts.push(self.filtered(state, projection, filters, &key_exprs, Some(&planned(false))).await?);
        }
        match parts.len() {
            // Every file is skipped: the narrow scan's schema with no files.
            0 => Ok(DataSourceExec::from_data_source(
                FileScanConfigBuilder::from(config.clone()).with_file_groups(Vec::new()).build(),
            )),
            _ => UnionExec::try_new(parts),
        }
    }
}

impl FlowsTable {
    /// The scan with the filtered columns added, filtered row by row and projected back;
    /// over the files `only` returns (as it returns them), or all files.
    async fn filtered(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        key_exprs: &[Expr],
        only: Option<&FileChoice<'_>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let schema = self.schema();
        let wide = projection.map(|p| {
            let mut wide = p.clone();
            for e in key_exprs {
                for c in e.column_refs() {
                    if let Ok(i) = schema.index_of(&c.name)
                        && !wide.contains(&i)
                    {
                        wide.push(i);
                    }
                }
            }
            wide
        });
        let mut scan = unordered(self.inner.scan(state, wide.as_ref(), filters, None).await?);
        if let Some(only) = only {
            // Reading every file here would read the exact part's files twice.
            let Some(config) = file_scan(&scan) else {
                return internal_err!("the flows listing did not plan a Parquet scan");
            };
            let groups = regroup(&config.file_groups, only);
            let config = FileScanConfigBuilder::from(config.clone())
                .with_file_groups(groups)
                .with_output_ordering(Vec::new())
                .build();
            scan = DataSourceExec::from_data_source(config) as Arc<dyn ExecutionPlan>;
        }
        let scan_schema = DFSchema::try_from(scan.schema().as_ref().clone())?;
        let Some(predicate) = conjunction(key_exprs.iter().cloned().map(unnormalize_col)) else {
            return internal_err!("a filtered scan needs an address or time filter");
        };
        let predicate = state.create_physical_expr(predicate, &scan_schema)?;
        let filtered: Arc<dyn ExecutionPlan> = Arc::new(FilterExec::try_new(predicate, scan)?);
        let Some(p) = projection else { return Ok(filtered) };
        let fields = filtered.schema();
        let exprs = (0..p.len()).map(|i| {
            let name = fields.field(i).name().clone();
            (Arc::new(ColumnExpr::new(&name, i)) as _, name)
        });
        Ok(Arc::new(ProjectionExec::try_new(exprs, filtered)?))
    }
}

/// Each file's plan, from the footer and page index the listing already read into the
/// session's metadata cache.
async fn file_plans(
    state: &dyn Session,
    config: &FileScanConfig,
    keyed: &[KeyFilter],
) -> Result<HashMap<PathBuf, FilePlan>> {
    let store = state.runtime_env().object_store(&config.object_store_url)?;
    let cache = state.runtime_env().cache_manager.get_file_metadata_cache();
    let mut plans = HashMap::new();
    for file in config.file_groups.iter().flat_map(FileGroup::iter) {
        if let Entry::Vacant(slot) = plans.entry(local_path(file)) {
            let meta = DFParquetMetadata::new(store.as_ref(), &file.object_meta)
                .with_file_metadata_cache(Some(Arc::clone(&cache)))
                .with_page_index_policy(Some(PageIndexPolicy::Optional))
                .fetch_metadata()
                .await?;
            let plan = access_plan(slot.key(), &meta, keyed)?;
            slot.insert(plan);
        }
    }
    Ok(plans)
}

/// The scan of the files whose plans are exact: no statistics (they count rows the plans
/// drop) and no order.
fn exact_scan(config: &FileScanConfig, groups: Vec<FileGroup>) -> Arc<dyn ExecutionPlan> {
    let unknown = Statistics::new_unknown(config.file_source().table_schema().table_schema());
    let scan = FileScanConfigBuilder::from(config.clone())
        .with_file_groups(groups)
        .with_statistics(unknown)
        .with_output_ordering(Vec::new())
        .build();
    DataSourceExec::from_data_source(scan)
}

/// The address and time filters among `filters`, by column, and the expressions they
/// came from.
fn key_filters(filters: &[Expr]) -> (Vec<KeyFilter>, Vec<Expr>) {
    let mut by_column: Vec<KeyFilter> = Vec::new();
    let mut exprs = Vec::new();
    for f in filters {
        let Some(r) = column_ranges(f) else { continue };
        exprs.push(f.clone());
        match by_column.iter_mut().find(|k| k.column == r.column.name) {
            Some(k) => k.keep = k.keep.intersect(&r.keep),
            None => by_column.push(KeyFilter { column: r.column.name, kind: r.kind, keep: r.keep }),
        }
    }
    (by_column, exprs)
}

/// The scan without the sort order DataFusion derives from the compacted files' metadata.
///
/// A scan of a single hour keeps the order (src_addr, protocol, ...), and DataFusion then
/// aggregates in sorted mode, which never skips the partial step: the top conversations of
/// an hour took 2.4 s instead of 1.1 s (decision 0005). Queries that sort by the address
/// lose little: the sort of one hour's matching rows.
fn unordered(plan: Arc<dyn ExecutionPlan>) -> Arc<dyn ExecutionPlan> {
    let Some(config) = file_scan(&plan) else { return plan };
    let groups = regroup(&config.file_groups, |f| {
        let mut f = f.clone();
        drop_ordering(&mut f);
        Some(f)
    });
    let config = FileScanConfigBuilder::from(config.clone())
        .with_file_groups(groups)
        .with_output_ordering(Vec::new())
        .build();
    DataSourceExec::from_data_source(config)
}

/// Marks a file whose footer says its rows are sorted by this column first, once the
/// ordering itself is dropped (see [`unordered`]): a run aggregation over such files
/// finds each source in one run (`partial_aggregate/run_final.rs`).
#[derive(Debug, Clone, PartialEq)]
pub struct SortedBy(pub String);

fn drop_ordering(f: &mut PartitionedFile) {
    if let Some(o) = f.ordering.take()
        && let Some(c) = o.first().expr.downcast_ref::<ColumnExpr>()
    {
        f.extensions.insert(SortedBy(c.name().to_string()));
    }
}

pub(super) fn file_scan(plan: &Arc<dyn ExecutionPlan>) -> Option<&FileScanConfig> {
    plan.downcast_ref::<DataSourceExec>()?
        .downcast_to_file_source::<ParquetSource>()
        .map(|(config, _)| config)
}

/// The store is a local folder: object paths are absolute paths without the leading `/`.
fn local_path(f: &PartitionedFile) -> PathBuf {
    PathBuf::from(format!("/{}", f.object_meta.location))
}

/// The same partitions, each with the files `keep` returns; empty partitions dropped.
fn regroup(
    groups: &[FileGroup],
    mut keep: impl FnMut(&PartitionedFile) -> Option<PartitionedFile>,
) -> Vec<FileGroup> {
    groups
        .iter()
        .map(|g| FileGroup::new(g.iter().filter_map(&mut keep).collect()))
        .filter(|g| !g.is_empty())
        .collect()
}
