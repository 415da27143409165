//! Reading the tracked branch's history for a revert: fledge's trailers, whether a revert of a
//! release's revision is already there, and which commits brought a failed revision.
//!
//! Which revision a release has at a commit is the caller's to say (it renders that commit), so
//! this module needs only Git.

use git2::{Oid, Repository};

use crate::keys::{COMMIT_TRAILER, RELEASE_TRAILER, REVISION_TRAILER};

/// How far back the searches look.
const SEARCH_DEPTH: usize = 500;
/// How many commits a revert walks back at most to find those that brought a revision.
const BRINGING_DEPTH: usize = 50;

/// `Name: value`, as a trailer line.
#[must_use]
pub fn trailer(name: &str, value: &str) -> String {
    format!("{name}: {value}")
}

/// Whether `message` has the trailer line `name: value`.
#[must_use]
pub fn has_trailer(message: &str, name: &str, value: &str) -> bool {
    let line = trailer(name, value);
    message.lines().any(|l| l == line)
}

/// Whether a commit message is one of fledge's own commits (`Fledge-Commit: true`).
#[must_use]
pub fn is_own(message: &str) -> bool {
    message.contains(&trailer(COMMIT_TRAILER.0, COMMIT_TRAILER.1))
}

/// Whether a fledge revert of this release's revision (`short`: its first 12 hex digits) is
/// already on the branch whose head is `head`.
#[must_use]
pub fn already_reverted(repo: &Repository, head: Oid, release: &str, short: &str) -> bool {
    let Ok(mut walk) = repo.revwalk() else {
        return false;
    };
    if walk.push(head).is_err() {
        return false;
    }
    walk.take(SEARCH_DEPTH).flatten().any(|oid| {
        repo.find_commit(oid).is_ok_and(|c| {
            let m = c.message().unwrap_or("");
            has_trailer(m, RELEASE_TRAILER, release) && has_trailer(m, REVISION_TRAILER, short)
        })
    })
}

/// The commits (newest first, with subjects) between `stop` (the commit that brought what the
/// primary serves) and `source` (the one that brought the failed revision) that changed the
/// release's revision — `revision_at` says what it is at a commit; at least `source` itself.
/// fledge's own commits and merges are never reverted.
pub fn bringing_commits(
    repo: &Repository,
    source: Oid,
    stop: Option<Oid>,
    revision_at: &dyn Fn(Oid) -> Option<String>,
) -> Vec<(String, String)> {
    let subject = |c: &git2::Commit<'_>| c.summary().ok().flatten().unwrap_or("").to_owned();
    let mut out = Vec::new();
    let mut cur = repo.find_commit(source).ok();
    // Walking back, a commit's parent is the next commit looked at: render each tree once.
    let mut rev_cur = cur.as_ref().and_then(|c| revision_at(c.id()));
    for _ in 0..BRINGING_DEPTH {
        let Some(c) = cur else { break };
        if Some(c.id()) == stop {
            break;
        }
        let own = is_own(c.message().unwrap_or(""));
        let parent = c.parent(0).ok();
        let rev_parent = parent.as_ref().and_then(|p| revision_at(p.id()));
        if !own && c.parent_count() <= 1 && rev_parent != rev_cur {
            out.push((c.id().to_string(), subject(&c)));
        }
        cur = parent;
        rev_cur = rev_parent;
    }
    if out.is_empty()
        && let Ok(c) = repo.find_commit(source)
    {
        out.push((c.id().to_string(), subject(&c)));
    }
    out
}
