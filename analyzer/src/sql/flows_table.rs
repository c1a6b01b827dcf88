//! The `flows` table: a hive-partitioned Parquet listing whose address filters are exact.
//!
//! DataFusion prunes row groups and pages from statistics but then compares every row it
//! reads. For an address filter on a file sorted by that address that is wasted work: the
//! page index already tells which rows match (see [`page_select`](super::page_select)).
//! So this table accepts such filters as exact, reads only the matching rows of the files
//! whose page index resolves them, and leaves the address column unread unless the query
//! selects it. Files it cannot resolve (flush files, in arrival order) are scanned with
//! the address columns and filtered row by row, as before.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{DFSchema, Statistics, internal_err};
use datafusion::datasource::TableType;
use datafusion::datasource::listing::ListingTable;
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

use super::addr_ranges::column_ranges;
use super::page_select::{KeyFilter, access_plan};

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
            return self.inner.scan(state, projection, filters, limit).await;
        }
        // The limit is left to the plan above: rows the fallback part filters out must
        // not count towards it.
        let narrow = self.inner.scan(state, projection, filters, None).await?;
        let Some(config) = file_scan(&narrow) else {
            return self.filtered(state, projection, filters, &key_exprs, None).await;
        };
        // The listing already read each footer and page index into the session's cache.
        let store = state.runtime_env().object_store(&config.object_store_url)?;
        let cache = state.runtime_env().cache_manager.get_file_metadata_cache();
        let mut plans: HashMap<PathBuf, Option<_>> = HashMap::new();
        for file in config.file_groups.iter().flat_map(FileGroup::iter) {
            let path = local_path(file);
            if let Entry::Vacant(slot) = plans.entry(path) {
                let meta = DFParquetMetadata::new(store.as_ref(), &file.object_meta)
                    .with_file_metadata_cache(Some(Arc::clone(&cache)))
                    .with_page_index_policy(Some(PageIndexPolicy::Optional))
                    .fetch_metadata()
                    .await?;
                let plan = access_plan(slot.key(), &meta, &keyed)?;
                slot.insert(plan);
            }
        }
        let mut parts = Vec::new();
        let resolved = regroup(&config.file_groups, |f| {
            let plan = plans.get(&local_path(f))?.as_ref()?;
            let mut f = f.clone();
            // The file's statistics count rows the plan drops; nothing may answer from them.
            f.statistics = None;
            plan.row_group_index_iter().next().is_some().then(|| {
                f.extensions.insert(plan.clone());
                f
            })
        });
        if !resolved.is_empty() {
            let unknown = Statistics::new_unknown(config.file_source().table_schema().table_schema());
            let scan = FileScanConfigBuilder::from(config.clone())
                .with_file_groups(resolved)
                .with_statistics(unknown)
                .build();
            parts.push(DataSourceExec::from_data_source(scan) as Arc<dyn ExecutionPlan>);
        }
        let unresolved: Vec<PathBuf> =
            plans.iter().filter(|(_, p)| p.is_none()).map(|(path, _)| path.clone()).collect();
        if !unresolved.is_empty() {
            parts.push(self.filtered(state, projection, filters, &key_exprs, Some(&unresolved)).await?);
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
    /// The scan with the address columns added, filtered row by row and projected back;
    /// over the files in `only`, or all files.
    async fn filtered(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        key_exprs: &[Expr],
        only: Option<&[PathBuf]>,
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
        let mut scan = self.inner.scan(state, wide.as_ref(), filters, None).await?;
        if let (Some(only), Some(config)) = (only, file_scan(&scan)) {
            let groups = regroup(&config.file_groups, |f| only.contains(&local_path(f)).then(|| f.clone()));
            let config = FileScanConfigBuilder::from(config.clone()).with_file_groups(groups).build();
            scan = DataSourceExec::from_data_source(config) as Arc<dyn ExecutionPlan>;
        }
        let scan_schema = DFSchema::try_from(scan.schema().as_ref().clone())?;
        let Some(predicate) = conjunction(key_exprs.iter().cloned().map(unnormalize_col)) else {
            return internal_err!("a filtered scan needs an address filter");
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

/// The address filters among `filters`, by column, and the expressions they came from.
fn key_filters(filters: &[Expr]) -> (Vec<KeyFilter>, Vec<Expr>) {
    let mut by_column: Vec<KeyFilter> = Vec::new();
    let mut exprs = Vec::new();
    for f in filters {
        let Some((col, keep)) = column_ranges(f) else { continue };
        exprs.push(f.clone());
        match by_column.iter_mut().find(|k| k.column == col.name) {
            Some(k) => k.keep = k.keep.intersect(&keep),
            None => by_column.push(KeyFilter { column: col.name, keep }),
        }
    }
    (by_column, exprs)
}

fn file_scan(plan: &Arc<dyn ExecutionPlan>) -> Option<&FileScanConfig> {
    plan.downcast_ref::<DataSourceExec>()?
        .downcast_to_file_source::<ParquetSource>()
        .map(|(config, _)| config)
}

/// The store is a local folder: object paths are absolute paths without the leading `/`.
fn local_path(f: &datafusion::datasource::listing::PartitionedFile) -> PathBuf {
    PathBuf::from(format!("/{}", f.object_meta.location))
}

/// The same partitions, each with the files `keep` returns; empty partitions dropped.
fn regroup(
    groups: &[FileGroup],
    mut keep: impl FnMut(
        &datafusion::datasource::listing::PartitionedFile,
    ) -> Option<datafusion::datasource::listing::PartitionedFile>,
) -> Vec<FileGroup> {
    groups
        .iter()
        .map(|g| FileGroup::new(g.iter().filter_map(&mut keep).collect()))
        .filter(|g| !g.is_empty())
        .collect()
}
