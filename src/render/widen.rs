//! One render where `fledge build` would widen its root.
//!
//! Without `--root`, `fledge build` starts at a narrow root (the Git work tree around the
//! directory, or the directory itself) and, while a render fails because a reference leaves that
//! root, renders again one directory wider. Rendering once from the filesystem root instead gives
//! the same objects as long as every answer the render got would have been the same under the
//! root the loop ends at, and every narrower root would have failed the way the loop expects.
//! [`Widening`] watches one such render and says which root the loop would end at, or that it
//! cannot tell (then the caller runs the loop).
//!
//! What it watches:
//! - each join of a reference onto a directory: at a site where a narrower root makes the render
//!   fail at once with a "leaves the build root" error (`resources`, `components`, the files a
//!   kustomization names), the walk's highest point is how wide the root must be; at any other
//!   site (patches and generator entries that fall back to inline YAML), a walk above where its
//!   directory already is makes the outcome unknown;
//! - each path the files resolve: a real path (symlinks followed) that needs a wider root than
//!   the path as written makes the outcome unknown, since a narrower root answers "not there".
//!
//! Invariant: [`Widening::levels`] is `Some(k)` only when the loop would end at `k` directories
//! above the narrow root with the same objects this render made.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// What one render, from the filesystem root, showed about the root the widening loop needs.
#[derive(Debug)]
pub struct Widening {
    /// The narrowest root's names, from the filesystem root down.
    floor: Vec<String>,
    /// Directories above the floor that a reference at a leaving site reached.
    levels: AtomicUsize,
    /// A root-dependent answer at a site whose outcome under a narrower root is not known.
    unknown: AtomicBool,
}

impl Widening {
    /// Watches a render whose narrowest root is `floor`, a path from the filesystem root
    /// (`tmp/repo`, no leading `/`) as the render's paths are.
    #[must_use]
    pub fn new(floor: &str) -> Self {
        Self {
            floor: names(floor).map(str::to_owned).collect(),
            levels: AtomicUsize::new(0),
            unknown: AtomicBool::new(false),
        }
    }

    /// How many directories above the floor the root must be for the render to have read what
    /// it read, or `None` when a narrower root might have rendered something else.
    #[must_use]
    pub fn levels(&self) -> Option<usize> {
        (!self.unknown.load(Ordering::Relaxed)).then(|| self.levels.load(Ordering::Relaxed))
    }

    /// Directories above the floor the root must be for it to hold `path`.
    fn need<'a>(&self, path: impl Iterator<Item = &'a str>) -> usize {
        let common = self
            .floor
            .iter()
            .zip(path)
            .take_while(|(f, p)| f.as_str() == *p)
            .count();
        self.floor.len() - common
    }

    /// Notes that `reference` was joined onto `dir`. `leaving` says whether a reference that
    /// leaves a narrower root fails the render there at once with a "leaves the build root"
    /// error.
    pub fn joined(&self, dir: &str, reference: &str, leaving: bool) {
        if reference.starts_with('/') {
            return;
        }
        let dir: Vec<&str> = names(dir).collect();
        // The walk's highest point is a prefix of `dir`: what it adds below must be popped
        // before it can go higher.
        let (mut depth, mut top) = (dir.len(), dir.len());
        for part in reference.split('/') {
            match part {
                "" | "." => {}
                ".." if depth == 0 => return, // past the filesystem root: the render fails
                ".." => {
                    depth -= 1;
                    top = top.min(depth);
                }
                _ => depth += 1,
            }
        }
        let walk = self.need(dir[..top].iter().copied());
        if leaving {
            self.levels.fetch_max(walk, Ordering::Relaxed);
        } else if walk > self.need(dir.iter().copied()) {
            self.unknown.store(true, Ordering::Relaxed);
        }
    }

    /// Notes that `path` (as the render wrote it) resolved to `real`.
    pub fn resolved(&self, path: &str, real: &Path) {
        let real = real.iter().filter_map(|c| c.to_str()).filter(|c| *c != "/");
        if self.need(real) > self.need(names(path)) {
            self.unknown.store(true, Ordering::Relaxed);
        }
    }
}

fn names(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|p| !p.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaving_joins_set_the_levels_and_others_above_their_directory_make_it_unknown() {
        let w = Widening::new("r/a/b");
        w.joined("r/a/b", "x/y.yaml", true);
        assert_eq!(w.levels(), Some(0));
        // Up and back down into the floor still needs a wider root.
        w.joined("r/a/b", "../b/y.yaml", true);
        assert_eq!(w.levels(), Some(1));
        w.joined("r/a/b", "../../base", true);
        assert_eq!(w.levels(), Some(2));
        // Within where its directory already is, any site is the same under every root.
        w.joined("r/base", "../other/p.yaml", false);
        assert_eq!(w.levels(), Some(2));
        w.joined("r/a/b", "../p.yaml", false);
        assert_eq!(w.levels(), None);
    }

    #[test]
    fn a_real_path_wider_than_its_name_makes_it_unknown() {
        let w = Widening::new("r/a");
        w.resolved("r/a/x.yaml", Path::new("/r/a/y.yaml"));
        w.resolved("r/x.yaml", Path::new("/r/x.yaml"));
        assert_eq!(w.levels(), Some(0));
        w.resolved("r/a/link.yaml", Path::new("/elsewhere/x.yaml"));
        assert_eq!(w.levels(), None);
    }
}
