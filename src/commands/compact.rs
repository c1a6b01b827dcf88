//! `plumb compact`: runs the store's compaction now, with a progress bar.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::{Result, bail};
use indicatif::{ProgressBar, ProgressStyle};

use plumb_store::Compactor;

use crate::cli::CompactArgs;
use crate::config::Config;

pub fn run(a: CompactArgs) -> Result<()> {
    let cfg = Config::load(a.store.config.as_deref())?;
    let data = a.store.data.clone().unwrap_or_else(|| cfg.store.data_dir.clone());
    let mut ccfg = cfg.compaction_config();
    ccfg.threads =
        a.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);
    let Some(mut compactor) = Compactor::open(&data, ccfg, Duration::from_secs(2))? else {
        bail!(
            "another compactor works on {} (a running `plumb collect` compacts in the background); \
             let it finish, or stop it first",
            data.display()
        );
    };
    let force = !a.settled_only;
    let tasks = compactor.due(force)?;
    let rows: u64 = tasks.iter().map(|t| t.rows()).sum();
    let bar = if a.quiet { ProgressBar::hidden() } else { ProgressBar::new(rows) };
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} rows ({per_sec}, {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let report = compactor.run_due(force, &AtomicBool::new(false), |task, r| {
        bar.set_message(task.hour.display().to_string());
        bar.inc(r.rows.min(task.rows()));
    })?;
    bar.finish_and_clear();
    if report.failed > 0 {
        eprintln!(
            "{} hours could not be compacted (see the errors above); their files are kept as they are",
            report.failed
        );
    }
    eprintln!(
        "compacted {} hour files from {} files: {} rows, {:.1} MB -> {:.1} MB in {:.1} s",
        report.tasks,
        report.files_in,
        report.rows,
        report.bytes_in as f64 / 1e6,
        report.bytes_out as f64 / 1e6,
        report.seconds
    );
    Ok(())
}
