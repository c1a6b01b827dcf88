//! One module per subcommand.

mod analyze;
mod collect;
mod compact;
mod config;
mod generate;
mod ingest;
mod query;
mod replay;

use crate::cli::Command;

pub fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Collect(a) => collect::run(a),
        Command::Ingest(a) => ingest::run(a),
        Command::Query(a) => query::run(a),
        Command::Replay(a) => replay::run(a),
        Command::Generate(a) => generate::run(a),
        Command::Compact(a) => compact::run(a),
        Command::Config(c) => config::run(c),
        Command::Analyze(a) => analyze::run(a),
    }
}

/// Microseconds since the epoch, now (the store's clock, so receive times and file names agree).
pub use plumb_store::layout::now_us;
