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
/// already on the branch whose head is `head`, after `source` (the commit that brought the
/// revision this time): a revert from an earlier time the revision failed does not count, so a
/// revision brought back and failing again is reverted again.
#[must_use]
pub fn already_reverted(
    repo: &Repository,
    head: Oid,
    source: Oid,
    release: &str,
    short: &str,
) -> bool {
    let Ok(mut walk) = repo.revwalk() else {
        return false;
    };
    if walk.push(head).is_err() {
        return false;
    }
    // `source` and what came before it are not after it.
    let _ = walk.hide(source);
    walk.take(SEARCH_DEPTH).flatten().any(|oid| {
        repo.find_commit(oid).is_ok_and(|c| {
            let m = c.message().unwrap_or("");
            has_trailer(m, RELEASE_TRAILER, release) && has_trailer(m, REVISION_TRAILER, short)
        })
    })
}

/// Where the commits that brought a failed revision begin: the commit that brought what the
/// primary serves, and that revision.
#[derive(Debug, Clone, Copy, Default)]
pub struct Boundary<'a> {
    /// The commit that brought the revision the primary serves, when known.
    pub commit: Option<Oid>,
    /// The revision the primary serves.
    pub revision: Option<&'a str>,
}

/// The commits (newest first, with subjects) that brought a failed revision: walking back from
/// `source` (the commit that brought it), each commit that changed the release's revision —
/// `revision_at` says what it is at a commit — up to the `boundary`: its commit, or the first
/// commit whose parent has the primary's revision. At least `source` itself. fledge's own
/// commits and merges are never reverted.
///
/// `Err` says why fledge cannot tell what to revert, and nothing is: the boundary is not within
/// [`BRINGING_DEPTH`] commits, or a commit on the way brought the release itself (its parent
/// has no such release), whose revert would delete the app.
pub fn bringing_commits(
    repo: &Repository,
    source: Oid,
    boundary: Boundary<'_>,
    revision_at: &dyn Fn(Oid) -> Option<String>,
) -> Result<Vec<(String, String)>, String> {
    let subject = |c: &git2::Commit<'_>| c.summary().ok().flatten().unwrap_or("").to_owned();
    let short = |o: Oid| o.to_string()[..12].to_owned();
    let mut cur = repo
        .find_commit(source)
        .map_err(|_| format!("commit {} is not in the branch's history", short(source)))?;
    let mut out = Vec::new();
    // Walking back, a commit's parent is the next commit looked at: render each tree once.
    let mut rev_cur = revision_at(cur.id());
    for _ in 0..BRINGING_DEPTH {
        if Some(cur.id()) == boundary.commit {
            return Ok(at_least_source(repo, source, out));
        }
        let parent = cur.parent(0).ok();
        let rev_parent = parent.as_ref().and_then(|p| revision_at(p.id()));
        if rev_parent.is_none() {
            return Err(format!(
                "commit {} ({}) brought the release itself (its parent has no such release, or does not render); reverting it would remove the app",
                short(cur.id()),
                subject(&cur)
            ));
        }
        let own = is_own(cur.message().unwrap_or(""));
        if !own && cur.parent_count() <= 1 && rev_parent != rev_cur {
            out.push((cur.id().to_string(), subject(&cur)));
        }
        if boundary.revision.is_some() && rev_parent.as_deref() == boundary.revision {
            return Ok(at_least_source(repo, source, out));
        }
        let Some(p) = parent else { break };
        cur = p;
        rev_cur = rev_parent;
    }
    Err(format!(
        "the commit that brought what the primary serves is not within {BRINGING_DEPTH} commits before {}",
        short(source)
    ))
}

fn at_least_source(
    repo: &Repository,
    source: Oid,
    mut out: Vec<(String, String)>,
) -> Vec<(String, String)> {
    if out.is_empty()
        && let Ok(c) = repo.find_commit(source)
    {
        out.push((
            c.id().to_string(),
            c.summary().ok().flatten().unwrap_or("").to_owned(),
        ));
    }
    out
}

#[cfg(test)]
mod tests;
