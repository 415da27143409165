//! The `fledge` binary: parse the command line, run, map errors to exit codes.

use std::process::ExitCode;

use clap::Parser as _;
use fledge::cli::{Cli, run};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_filter = cli.log_filter();
    // Logs go to stderr; RUST_LOG adjusts the level (default info).
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        // A log line that cannot be written (stderr piped to a `tee` that Ctrl-C stopped) is
        // dropped: reporting it with eprintln! would panic whatever task was logging.
        .log_internal_errors(false)
        .init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let code = e.exit_code();
            eprintln!("error: {:#}", anyhow::Error::new(e));
            ExitCode::from(code)
        }
    }
}
