//! `fledge status`: the releases of a running daemon, as a table with a progress bar each, or
//! with the sync's status as JSON (reasons included).

use std::fmt::Write as _;
use std::time::Duration;

use super::Error;
use crate::daemon::shared::SyncStatus;
use crate::release::ReleaseView;

/// The table for a list of releases.
#[must_use]
pub fn table(releases: &[ReleaseView]) -> String {
    let mut rows = vec![
        [
            "NAMESPACE",
            "NAME",
            "PHASE",
            "PROGRESS",
            "WEIGHT",
            "FAILED",
            "REVISION",
            "COMMIT",
            "MESSAGE",
        ]
        .map(str::to_owned),
    ];
    for v in releases {
        rows.push([
            v.namespace.clone(),
            v.name.clone(),
            v.phase.clone(),
            v.progress_bar(10),
            format!("{}%", v.canary_weight),
            format!("{}/{}", v.failed_checks, v.threshold),
            v.canary_revision
                .as_deref()
                .map_or("-", |r| &r[..r.len().min(12)])
                .to_owned(),
            v.source_commit
                .as_deref()
                .map_or("-", |c| &c[..c.len().min(7)])
                .to_owned(),
            message(v),
        ]);
    }
    let widths: Vec<usize> = (0..9)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in &rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    if releases.is_empty() {
        out.push_str("no releases\n");
    }
    out
}

/// The release's message: why its tick fails or its rollout is halted when it is, else the
/// message with the last failed check while the analysis goes on (a failed release's message
/// says it already).
fn message(v: &ReleaseView) -> String {
    if let Some(e) = &v.error {
        return format!("{}; {}", e.summary(), v.message);
    }
    if let Some(h) = &v.halted {
        return format!("halted: {h}");
    }
    match &v.last_failed_check {
        Some(f) if v.phase != "Failed" => {
            format!("{}; last failed check: {}", v.message, f.summary())
        }
        _ => v.message.clone(),
    }
}

/// The sync's line above the table: the commit applied, or why the last one was not.
#[must_use]
pub fn sync_line(s: &SyncStatus) -> String {
    let short = |c: &Option<crate::ids::CommitId>| {
        c.as_deref()
            .map_or("-", |c| &c[..c.len().min(7)])
            .to_owned()
    };
    let rewrite = s.history_rewritten.as_ref().map_or(String::new(), |h| {
        format!(
            "      history rewritten at {}: {} does not descend from {}\n",
            h.seen,
            &h.to[..h.to.len().min(7)],
            &h.from[..h.from.len().min(7)]
        )
    });
    let line = if s.ready {
        format!(
            "SYNC  Ready  commit {}  since {}\n",
            short(&s.commit),
            s.last_transition_time
        )
    } else if s.commit.is_none() && s.message.is_empty() {
        "SYNC  not synced yet\n".to_owned()
    } else if s.commit.is_none() {
        format!("SYNC  {}  not synced yet: {}\n", s.reason, s.message)
    } else {
        format!(
            "SYNC  {}  commit {} (cluster on {})  since {}: {}\n",
            s.reason,
            short(&s.commit),
            short(&s.applied_commit),
            s.last_transition_time,
            s.message
        )
    };
    let mut warnings = String::new();
    for w in &s.warnings {
        let _ = writeln!(warnings, "      warning: {w}");
    }
    for n in &s.notices {
        let _ = writeln!(warnings, "      notice: {n}");
    }
    format!("{line}{rewrite}{warnings}{}\n", units_table(s))
}

/// The Flux Kustomizations of the sync, one line each as `flux get kustomizations` prints
/// them (revision applied, ready, reason, message, and the further repository the revision is
/// of); nothing for a repository without them.
fn units_table(s: &SyncStatus) -> String {
    if s.units.iter().all(|u| u.name == "root") {
        return String::new();
    }
    let width = s
        .units
        .iter()
        .map(|u| u.name.len())
        .max()
        .unwrap_or(0)
        .max(13);
    let mut out = format!(
        "      {:<width$}  REVISION  READY  REASON\n",
        "KUSTOMIZATION"
    );
    for u in &s.units {
        let revision = u
            .last_applied_revision
            .as_deref()
            .map_or("-", |c| &c[..c.len().min(7)]);
        let ready = if u.ready { "True" } else { "False" };
        let _ = write!(
            out,
            "      {:<width$}  {revision:<8}  {ready:<5}  {}",
            u.name, u.reason
        );
        if !u.message.is_empty() {
            let _ = write!(out, ": {}", u.message);
        }
        if let Some(source) = &u.source {
            let _ = write!(out, " (from {source})");
        }
        out.push('\n');
    }
    out
}

/// `fledge status [--server URL] [--token-file F] [--watch] [-o table|json]`.
pub fn status(
    server: &str,
    token_file: Option<&std::path::Path>,
    watch: bool,
    output: super::Format,
) -> Result<(), Error> {
    let token = token_file
        .map(crate::net::Secret::from_file)
        .transpose()
        .map_err(|e| Error::Usage(format!("--token-file: {e}")))?;
    let rt = tokio::runtime::Runtime::new().map_err(|e| Error::Daemon(format!("runtime: {e}")))?;
    rt.block_on(async {
        let client = crate::net::http_client(Duration::from_secs(5), false);
        let url = format!("{}/api/releases", server.trim_end_matches('/'));
        let sync_url = format!("{}/api/sync", server.trim_end_matches('/'));
        // Every request carries the token, when there is one.
        let get = |url: &str| match &token {
            Some(t) => client.get(url).bearer_auth(t.expose()),
            None => client.get(url),
        };
        loop {
            let list: Vec<ReleaseView> = get(&url)
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .map_err(|e| {
                    Error::Daemon(format!("{url}: {e} (is `fledge run` listening there?)"))
                })?
                .json()
                .await
                .map_err(|e| Error::Daemon(format!("{url}: {e}")))?;
            let sync: Option<SyncStatus> = match get(&sync_url).send().await {
                Ok(r) => r.json().await.ok(),
                Err(_) => None,
            };
            let text = match output {
                super::Format::Table => format!(
                    "{}{}",
                    sync.as_ref().map(sync_line).unwrap_or_default(),
                    table(&list)
                ),
                super::Format::Json => {
                    let doc = serde_json::json!({"sync": sync, "releases": list});
                    serde_json::to_string_pretty(&doc).map_err(|e| Error::Daemon(e.to_string()))?
                        + "\n"
                }
            };
            if watch {
                print!("\x1b[2J\x1b[H{text}");
            } else {
                print!("{text}");
            }
            if !watch {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    })
}
