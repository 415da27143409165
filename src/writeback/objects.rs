//! Building commits in a bare repository without a work tree: file edits, reverts and notes.
//! Nothing here moves a branch; the caller pushes the result.

use git2::build::TreeUpdateBuilder;
use git2::{FileMode, Oid, Repository, Signature};

use super::Error;
use super::sign::CommitSigner;
use crate::keys::NOTES_REF;
use crate::source::git_error;

/// One file change: `None` deletes the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub path: String,
    pub content: Option<Vec<u8>>,
}

fn git(e: &git2::Error) -> Error {
    Error::Git {
        message: git_error(e),
    }
}

/// Appends `Key: value` trailers (after a blank line) to a commit message.
#[must_use]
pub fn with_trailers(message: &str, trailers: &[(&str, &str)]) -> String {
    let mut m = message.trim_end().to_owned();
    m.push_str("\n\n");
    for (k, v) in trailers {
        m.push_str(k);
        m.push_str(": ");
        m.push_str(v);
        m.push('\n');
    }
    m
}

/// A commit on top of `parent` with `edits` applied, or `None` when they change nothing (no
/// empty commits).
pub fn commit_edits(
    repo: &Repository,
    parent: Oid,
    edits: &[Edit],
    message: &str,
    author: &Signature<'_>,
) -> Result<Option<Oid>, Error> {
    commit_edits_signed(repo, parent, edits, message, author, None)
}

/// [`commit_edits`], the commit signed by `signer` when one is given (its signature in the
/// `gpgsig` header, as `git commit -S` writes it).
pub fn commit_edits_signed(
    repo: &Repository,
    parent: Oid,
    edits: &[Edit],
    message: &str,
    author: &Signature<'_>,
    signer: Option<&CommitSigner>,
) -> Result<Option<Oid>, Error> {
    let parent = repo.find_commit(parent).map_err(|e| git(&e))?;
    let base = parent.tree().map_err(|e| git(&e))?;
    let mut update = TreeUpdateBuilder::new();
    for edit in edits {
        match &edit.content {
            Some(bytes) => {
                let blob = repo.blob(bytes).map_err(|e| git(&e))?;
                update.upsert(edit.path.as_str(), blob, FileMode::Blob);
            }
            // Deleting a file that is not there is already done.
            None if base.get_path(std::path::Path::new(&edit.path)).is_ok() => {
                update.remove(edit.path.as_str());
            }
            None => {}
        }
    }
    let tree_id = update.create_updated(repo, &base).map_err(|e| git(&e))?;
    if tree_id == base.id() {
        return Ok(None);
    }
    let tree = repo.find_tree(tree_id).map_err(|e| git(&e))?;
    let Some(signer) = signer else {
        return repo
            .commit(None, author, author, message, &tree, &[&parent])
            .map(Some)
            .map_err(|e| git(&e));
    };
    let content = repo
        .commit_create_buffer(author, author, message, &tree, &[&parent])
        .map_err(|e| git(&e))?;
    let content = std::str::from_utf8(&content).map_err(|e| Error::Git {
        message: format!("the commit to sign is not UTF-8: {e}"),
    })?;
    let signature = signer.sign(content.as_bytes()).map_err(|e| Error::Git {
        message: format!("signing key {}: {e}", signer.fingerprint()),
    })?;
    repo.commit_signed(content, signature.trim_end(), Some("gpgsig"))
        .map(Some)
        .map_err(|e| git(&e))
}

/// A root commit holding just `edits` (for a branch that does not exist yet).
pub fn commit_root(
    repo: &Repository,
    edits: &[Edit],
    message: &str,
    author: &Signature<'_>,
) -> Result<Oid, Error> {
    let empty = repo
        .treebuilder(None)
        .and_then(|b| b.write())
        .map_err(|e| git(&e))?;
    let base = repo.find_tree(empty).map_err(|e| git(&e))?;
    let mut update = TreeUpdateBuilder::new();
    for edit in edits {
        if let Some(bytes) = &edit.content {
            let blob = repo.blob(bytes).map_err(|e| git(&e))?;
            update.upsert(edit.path.as_str(), blob, FileMode::Blob);
        }
    }
    let tree_id = update.create_updated(repo, &base).map_err(|e| git(&e))?;
    let tree = repo.find_tree(tree_id).map_err(|e| git(&e))?;
    repo.commit(None, author, author, message, &tree, &[])
        .map_err(|e| git(&e))
}

/// Reverts `commits` (in the order given: newest first) on top of `onto`, as one commit.
/// A conflict aborts the whole revert and names the conflicting paths: no partial revert.
pub fn revert_commits(
    repo: &Repository,
    onto: Oid,
    commits: &[Oid],
    message: &str,
    author: &Signature<'_>,
) -> Result<Oid, Error> {
    let mut current = repo.find_commit(onto).map_err(|e| git(&e))?;
    let mut tree = current.tree().map_err(|e| git(&e))?;
    for &c in commits {
        let commit = repo.find_commit(c).map_err(|e| git(&e))?;
        if commit.parent_count() > 1 {
            return Err(Error::Revert {
                commit: c.to_string(),
                reason: "it is a merge commit".into(),
            });
        }
        // Revert against a commit whose tree is the result so far.
        let scratch = repo
            .commit(None, author, author, "scratch", &tree, &[&current])
            .map_err(|e| git(&e))?;
        let ours = repo.find_commit(scratch).map_err(|e| git(&e))?;
        let mut index = repo
            .revert_commit(&commit, &ours, 0, None)
            .map_err(|e| git(&e))?;
        if index.has_conflicts() {
            let mut paths: Vec<String> = index
                .conflicts()
                .map_err(|e| git(&e))?
                .filter_map(Result::ok)
                .filter_map(|c| c.our.or(c.their).or(c.ancestor))
                .map(|e| String::from_utf8_lossy(&e.path).into_owned())
                .collect();
            paths.sort();
            paths.dedup();
            return Err(Error::RevertConflict {
                commit: c.to_string(),
                paths,
            });
        }
        let tree_id = index.write_tree_to(repo).map_err(|e| git(&e))?;
        tree = repo.find_tree(tree_id).map_err(|e| git(&e))?;
        current = ours;
    }
    let base = repo.find_commit(onto).map_err(|e| git(&e))?;
    repo.commit(None, author, author, message, &tree, &[&base])
        .map_err(|e| git(&e))
}

/// Adds a note to `commit` under [`NOTES_REF`], appending to an existing note when `append`.
/// Returns the new notes commit (the notes ref is moved locally).
pub fn add_note(
    repo: &Repository,
    commit: Oid,
    text: &str,
    append: bool,
    author: &Signature<'_>,
) -> Result<Oid, Error> {
    let existing = repo
        .find_note(Some(NOTES_REF), commit)
        .ok()
        .and_then(|n| n.message().ok().map(str::to_owned));
    let body = match (append, existing) {
        (true, Some(old)) if old.contains(text.trim_end()) => return current_notes(repo),
        (true, Some(old)) => format!("{}\n{}", old.trim_end(), text.trim_end()),
        (false, Some(old)) => {
            let merged = replace_release_lines(&old, text);
            if merged.trim_end() == old.trim_end() {
                return current_notes(repo);
            }
            merged
        }
        (_, None) => text.trim_end().to_owned(),
    };
    repo.note(
        author,
        author,
        Some(NOTES_REF),
        commit,
        &format!("{body}\n"),
        true,
    )
    .map_err(|e| git(&e))?;
    current_notes(repo)
}

/// The release a note line speaks of: `fledge: NS/NAME ` (see `record::note_line`), or `None`
/// for a line written by anyone else.
fn release_of(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("fledge: ")?;
    rest.split_once(' ').map(|(release, _)| release)
}

/// A commit's note with the lines about the releases `text` speaks of replaced by `text`: other
/// shards' releases and what people wrote stay, so daemons sharing a repository never drop each
/// other's records.
#[must_use]
fn replace_release_lines(old: &str, text: &str) -> String {
    let ours: std::collections::BTreeSet<&str> = text.lines().filter_map(release_of).collect();
    let kept = old
        .lines()
        .filter(|l| release_of(l).is_none_or(|r| !ours.contains(r)))
        .filter(|l| !l.trim().is_empty());
    kept.chain(text.lines().filter(|l| !l.trim().is_empty()))
        .collect::<Vec<_>>()
        .join("\n")
}

fn current_notes(repo: &Repository) -> Result<Oid, Error> {
    repo.refname_to_id(NOTES_REF).map_err(|e| git(&e))
}

#[cfg(test)]
mod tests {
    use super::replace_release_lines;

    #[test]
    fn a_note_keeps_the_lines_of_other_releases_and_of_people_and_replaces_its_own() {
        let old = "fledge: shop/web revision abc promoted at T1: ok\n\
                   checked by hand: fine\n\
                   fledge: pay/api revision def rolled back at T2: failed";
        let new = "fledge: shop/web revision abc rolled back at T3: failed\n";
        assert_eq!(
            replace_release_lines(old, new),
            "checked by hand: fine\n\
             fledge: pay/api revision def rolled back at T2: failed\n\
             fledge: shop/web revision abc rolled back at T3: failed"
        );
        let again = replace_release_lines(&replace_release_lines(old, new), new);
        assert_eq!(
            again,
            replace_release_lines(old, new),
            "writing twice changes nothing"
        );
    }
}
