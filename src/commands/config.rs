//! `plumb config check`: the configuration as `plumb collect` reads it, and the topology's
//! static checks, printed as findings.

use anyhow::{Result, bail};

use plumb_analyzer::findings::{Finding, Severity};
use plumb_analyzer::topology::validate;

use crate::cli::{ConfigCheckArgs, ConfigCommand, SeverityArg};
use crate::config::Config;

pub fn run(command: ConfigCommand) -> Result<()> {
    match command {
        ConfigCommand::Check(a) => check(a),
    }
}

fn check(a: ConfigCheckArgs) -> Result<()> {
    let cfg = Config::load(a.config.as_deref())?;
    let found = validate::check(&cfg.topology());
    super::analyze::print(&found, a.format)?;
    let fail_on = severity(a.fail_on);
    let failing = found.iter().filter(|f| f.severity >= fail_on).count();
    if failing > 0 {
        bail!("{failing} finding{} at or above {fail_on}", if failing == 1 { "" } else { "s" });
    }
    Ok(())
}

pub fn severity(s: SeverityArg) -> Severity {
    match s {
        SeverityArg::Info => Severity::Info,
        SeverityArg::Warning => Severity::Warning,
        SeverityArg::Critical => Severity::Critical,
    }
}

/// Logs each finding of the topology once, at start: the collector runs anyway (the
/// topology only feeds the analysis), but the user hears what is wrong with it.
pub fn warn_about_topology(cfg: &Config) {
    for f in validate::check(&cfg.topology()) {
        log(&f);
    }
}

fn log(f: &Finding) {
    tracing::warn!(kind = f.kind, rule = f.rule, subject = %f.subject, keys = %f.keys.join(", "), "{} Fix: {}", f.explanation, f.fix);
}
