//! The `plumb` binary: parse the command line and hand over to a subcommand.

mod cli;
mod commands;
mod config;
mod input;
mod synth;

use clap::Parser;

fn main() -> std::process::ExitCode {
    plumb_collector::batch_memory::keep_freed_memory();
    let cli = cli::Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("PLUMB_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
    match commands::run(cli.command) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("plumb: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
