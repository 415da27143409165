//! `fledge loadtester`: Flagger's flagger-loadtester webhook API (gates, rollback gates, `bash`
//! and `cmd` tasks, `hey` load built in), for Canaries whose webhooks point at
//! `http://flagger-loadtester.NAMESPACE/`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::Error;
use crate::loadtester::{self, Config};

/// The arguments of `fledge loadtester` (Flagger's flags, spelt with two dashes).
#[derive(Debug, Clone, clap::Args)]
pub struct LoadtesterArgs {
    /// Port to listen on (Flagger's -port; its chart runs it on 8080)
    #[arg(long, default_value_t = 9090)]
    pub port: u16,
    /// Address to listen on (Flagger's load tester listens on every address)
    #[arg(long, default_value = "0.0.0.0")]
    pub bind: IpAddr,
    /// How long a task may run before it is killed, as a Go duration (Flagger's -timeout)
    #[arg(long, default_value = "1h", value_parser = go_duration)]
    pub timeout: Duration,
    /// Answer 403 to payloads from namespaces this regular expression does not match
    /// (unanchored; Flagger's -namespace-regexp)
    #[arg(long)]
    pub namespace_regexp: Option<String>,
    /// Log level: debug, info, warning or error (Flagger's -log-level); RUST_LOG overrides it
    #[arg(long, default_value = "info", value_parser = ["debug", "info", "warning", "warn", "error"])]
    pub log_level: String,
}

impl LoadtesterArgs {
    /// The tracing filter for `--log-level`.
    #[must_use]
    pub fn log_filter(&self) -> &'static str {
        match self.log_level.as_str() {
            "debug" => "debug",
            "warning" | "warn" => "warn",
            "error" => "error",
            _ => "info",
        }
    }
}

fn go_duration(s: &str) -> Result<Duration, String> {
    crate::release::spec::parse_duration(s)
        .ok_or_else(|| format!("{s:?} is not a duration (write it as Go does: 30s, 5m, 1h)"))
}

/// Serves until SIGINT or SIGTERM.
pub fn run(args: &LoadtesterArgs) -> Result<(), Error> {
    let namespace_regexp = args
        .namespace_regexp
        .as_deref()
        .map(|r| {
            regex::Regex::new(r).map_err(|e| Error::Usage(format!("--namespace-regexp {r:?}: {e}")))
        })
        .transpose()?;
    let config = Config {
        timeout: args.timeout,
        namespace_regexp,
    };
    let addr = SocketAddr::new(args.bind, args.port);
    let rt = tokio::runtime::Runtime::new().map_err(|e| Error::Usage(format!("runtime: {e}")))?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| Error::Usage(format!("cannot listen on {addr}: {e}")))?;
        tracing::info!(%addr, timeout = ?config.timeout, "load tester listening");
        let stop = tokio_util::sync::CancellationToken::new();
        let signal = stop.clone();
        let mut server = tokio::spawn(loadtester::serve(config, listener, stop));
        let ended = tokio::select! {
            () = super::run::shutdown_signal() => {
                tracing::info!("load tester stopping");
                signal.cancel();
                server.await
            }
            ended = &mut server => ended,
        };
        ended
            .map_err(|e| Error::Daemon(format!("load tester: {e}")))?
            .map_err(|e| Error::Daemon(format!("load tester on {addr}: {e}")))
    })
}
