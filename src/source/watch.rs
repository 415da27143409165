//! Instant triggers for local repositories: a `notify` (inotify) watch on the repository's refs
//! wakes the poller as soon as someone pushes, instead of at the next interval.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use notify::{RecursiveMode, Watcher as _};
use tokio::sync::Notify;

/// The repository directory a local URL (`file://…` or a path) names, if it is local.
#[must_use]
pub fn local_repo_dir(url: &str) -> Option<PathBuf> {
    let path = if let Some(p) = url.strip_prefix("file://") {
        PathBuf::from(p)
    } else if url.contains("://") || (url.contains('@') && url.contains(':')) {
        return None;
    } else {
        PathBuf::from(url)
    };
    let dotgit = path.join(".git");
    Some(if dotgit.is_dir() { dotgit } else { path })
}

/// Keeps the watch alive; dropping it stops watching.
pub struct RefWatch {
    _watcher: notify::RecommendedWatcher,
}

impl std::fmt::Debug for RefWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefWatch")
    }
}

/// Watches `refs/` and `packed-refs` of a repository directory; every change calls
/// `wake.notify_one()`. Bursts collapse: `Notify` holds at most one pending wake-up, and the
/// poller reads the refs afresh when it runs.
pub fn watch_refs(repo_dir: &Path, wake: Arc<Notify>) -> notify::Result<RefWatch> {
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(e) = event
            && !matches!(e.kind, notify::EventKind::Access(_))
        {
            wake.notify_one();
        }
    })?;
    watcher.watch(&repo_dir.join("refs"), RecursiveMode::Recursive)?;
    // packed-refs is rewritten by `git gc` and some pushes; watch the directory for it.
    watcher.watch(repo_dir, RecursiveMode::NonRecursive)?;
    Ok(RefWatch { _watcher: watcher })
}
