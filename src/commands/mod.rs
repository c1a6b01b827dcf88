//! One module per subcommand.

mod collect;
mod compact;
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
    }
}

/// Microseconds since the epoch, now.
pub fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}
