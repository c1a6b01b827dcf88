//! `plumb analyze`: the MTU and NIOC detectors over the store, with the topology's own
//! findings.

use anyhow::{Result, anyhow, bail};

use plumb_analyzer::findings::{self, Finding};
use plumb_analyzer::mtu::{self, Window};
use plumb_analyzer::nioc::contention;
use plumb_analyzer::query;
use plumb_analyzer::topology::validate;

use crate::cli::{AnalyzeArgs, ReportFormat};
use crate::config::Config;

pub fn run(a: AnalyzeArgs) -> Result<()> {
    let cfg = Config::load(a.store.config.as_deref())?;
    let data = a.store.data.clone().unwrap_or_else(|| cfg.store.data_dir.clone());
    let window = Window::since(since(&a.since, super::now_us())?);
    let topology = cfg.topology();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    // Held until the process ends: no compaction swaps files under the queries.
    let _guard = plumb_store::read_guard(&data)
        .map_err(|e| anyhow!("cannot open the store at {} for reading: {e}", data.display()))?;
    let mut found = validate::check(&topology);
    rt.block_on(async {
        let ctx = query::session::open(&data).await.map_err(|e| anyhow!("{e}"))?;
        let failed = |e| anyhow!("analysis failed: {e}");
        found.extend(mtu::detect(&ctx, &topology, &window).await.map_err(failed)?);
        found.extend(contention::detect(&ctx, &topology, &window).await.map_err(failed)?);
        Ok::<_, anyhow::Error>(())
    })?;
    print(&found, a.format)?;
    let fail_on = super::config::severity(a.fail_on);
    let failing = found.iter().filter(|f| f.severity >= fail_on).count();
    if failing > 0 {
        bail!("{failing} finding{} at or above {fail_on}", if failing == 1 { "" } else { "s" });
    }
    Ok(())
}

/// Prints findings as a report or as JSON.
pub fn print(found: &[Finding], format: ReportFormat) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match format {
        ReportFormat::Table => findings::write_report(&mut out, found)?,
        ReportFormat::Json => {
            serde_json::to_writer_pretty(&mut out, found)?;
            writeln!(out)?;
        }
    }
    Ok(())
}

/// The start of the window `text` names, before `now_us`; none for `all`.
fn since(text: &str, now_us: i64) -> Result<Option<i64>> {
    if text == "all" {
        return Ok(None);
    }
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (n, unit) = text.split_at(split);
    let unit_secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => 0,
    };
    let n: i64 = n.parse().unwrap_or(0);
    if unit_secs == 0 || n <= 0 {
        bail!("--since {text:?}: give a number with s, m, h or d (90s, 15m, 6h, 7d), or `all`");
    }
    Ok(Some(now_us.saturating_sub(n.saturating_mul(unit_secs).saturating_mul(1_000_000)).max(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_all() {
        assert_eq!(since("all", 10).unwrap(), None);
        assert_eq!(since("90s", 100_000_000).unwrap(), Some(10_000_000));
        assert_eq!(since("2h", 8_000_000_000).unwrap(), Some(800_000_000));
        for bad in ["", "h", "10", "5w", "-1h", "1.5h"] {
            let err = since(bad, 0).unwrap_err().to_string();
            assert!(err.contains("15m"), "{bad}: {err}");
        }
    }
}
