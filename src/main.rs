//! The `fledge` binary: parse the command line, run, map errors to exit codes.

use std::process::ExitCode;

use clap::Parser as _;
use fledge::cli::{Cli, run};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let code = e.exit_code();
            eprintln!("error: {:#}", anyhow::Error::new(e));
            ExitCode::from(code)
        }
    }
}
