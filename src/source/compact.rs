//! Keeping a bare cache compact: every libgit2 fetch stores what it brought as one more pack,
//! and reading a commit opens each pack it touches, so a cache that only ever fetched would
//! open more files per read with every commit. Shared by the source's poll cache and the
//! write-back cache.

use std::path::Path;
use std::process::{Command, Stdio};

/// Packs above which a cache is repacked into one. Git's own default (`gc.autoPackLimit`) is
/// 50; a read may open every pack at once, so fewer packs mean fewer descriptors per poll, at
/// the price of a full repack every this many fetches (quick for a config repository).
const PACK_LIMIT: usize = 16;

/// Loose objects in `objects/17` above which `git gc --auto` repacks, with git's default
/// `gc.auto` (6700): git estimates the loose objects from that one directory
/// (`(gc.auto + 255) / 256`).
const LOOSE_LIMIT: usize = 27;

/// Whether `git gc --auto` could find work, by its own two measures (packs, and loose objects
/// in `objects/17`): when neither is near its threshold no git process is started (that costs a
/// few milliseconds, on every poll that fetched).
fn may_need_gc(git_dir: &Path) -> bool {
    let count = |dir: &Path, keep: &dyn Fn(&Path) -> bool| {
        std::fs::read_dir(dir).map_or(usize::MAX, |entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| keep(&e.path()))
                .count()
        })
    };
    let objects = git_dir.join("objects");
    let packs = count(&objects.join("pack"), &|p| {
        p.extension().is_some_and(|e| e == "pack")
    });
    // A missing `17` holds no loose objects.
    let loose = match std::fs::metadata(objects.join("17")) {
        Ok(_) => count(&objects.join("17"), &|_| true),
        Err(_) => 0,
    };
    packs > PACK_LIMIT || loose > LOOSE_LIMIT
}

/// Repacks the bare repository at `git_dir` when it has gathered too many packs or loose
/// objects (`git gc --auto`); does nothing, quickly, otherwise. Best effort: a failure is
/// logged and the cache works on, only less compact.
///
/// The git CLI rather than libgit2's packbuilder: `gc --auto` decides when (git's own
/// thresholds), installs the new pack before deleting the old ones (so a concurrent reader
/// always finds its objects), keeps unreachable objects for the prune grace period (a
/// write-back commit built but not pushed yet), and takes `gc.pid` so that two runs never
/// overlap; with the packbuilder all of that would be written by hand. Git is needed at run
/// time anyway: write-back pushes with it. It runs in the foreground (`gc.autoDetach=false`):
/// a detached gc would outlive the call and the process.
pub(crate) fn compact(git_dir: &Path) {
    if !may_need_gc(git_dir) {
        return;
    }
    let out = Command::new("git")
        .arg("--git-dir")
        .arg(git_dir)
        .args(["-c", "gc.autoDetach=false", "-c"])
        .arg(format!("gc.autoPackLimit={PACK_LIMIT}"))
        .args(["gc", "--auto", "--quiet"])
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .output();
    let error = match out {
        Ok(o) if o.status.success() => return,
        Ok(o) => String::from_utf8_lossy(&o.stderr)
            .lines()
            .last()
            .unwrap_or("git gc failed")
            .trim()
            .to_owned(),
        Err(e) => format!("cannot run git: {e}"),
    };
    tracing::warn!(cache = %git_dir.display(), error, "cannot compact the Git cache");
}
