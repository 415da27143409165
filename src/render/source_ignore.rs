//! What Flux's source-controller leaves out of the artifact it makes of a repository: its
//! default patterns (`fluxcd/pkg/sourceignore`: VCS, CI, extensions, extras) and the
//! repository's own `.sourceignore` files, each applying below its directory, gitignore
//! semantics (the last pattern that matches wins, a deeper file's over a shallower one's). So a
//! Kustomization's path built as Flux builds it (every YAML file below it, hidden ones too)
//! never reads a `.sops.yaml`, a CI workflow or a file the repository excludes as a manifest.
//! Patterns are matched by the `ignore` crate's gitignore engine.

use std::io;

use ignore::Match;
use ignore::gitignore::{Gitignore, GitignoreBuilder};

use super::fs::{Entry, Files};

/// source-controller's default patterns, in its order (`ExcludeVCS`, `ExcludeExt`, `ExcludeCI`,
/// `ExcludeExtra`).
const DEFAULTS: &str = ".git/,.gitignore,.gitmodules,.gitattributes,*.jpg,*.jpeg,*.gif,*.png,*.wmv,*.flv,*.tar.gz,*.zip,.github/,.circleci/,.travis.yml,.gitlab-ci.yml,appveyor.yml,.drone.yml,cloudbuild.yaml,codeship-services.yml,codeship-steps.yml,**/.goreleaser.yml,**/.sops.yaml,**/.flux.yaml";

/// The name of the ignore files source-controller reads.
const IGNORE_FILE: &str = ".sourceignore";

/// A repository's files as source-controller's artifact holds them.
pub struct SourceIgnored<'a> {
    inner: &'a dyn Files,
    /// Each directory with rules (`""`: the root, with the defaults), shallowest first.
    rules: Vec<(String, Gitignore)>,
}

impl<'a> SourceIgnored<'a> {
    /// The view of `files` without what source-controller leaves out; an unreadable
    /// `.sourceignore` is an error naming it.
    pub fn new(files: &'a dyn Files) -> Result<Self, super::Error> {
        let mut rules = Vec::new();
        collect(files, "", &mut rules)?;
        Ok(Self {
            inner: files,
            rules,
        })
    }

    /// True when source-controller leaves `path` (a file or directory) out.
    #[must_use]
    pub fn ignored(&self, path: &str) -> bool {
        let is_dir = self.inner.entry(path) == Some(Entry::Dir);
        for (dir, rules) in self.rules.iter().rev() {
            let rel = if dir.is_empty() {
                path
            } else if let Some(rest) = path
                .strip_prefix(dir.as_str())
                .and_then(|r| r.strip_prefix('/'))
            {
                rest
            } else {
                continue;
            };
            match rules.matched_path_or_any_parents(rel, is_dir) {
                Match::Ignore(_) => return true,
                Match::Whitelist(_) => return false,
                Match::None => {}
            }
        }
        false
    }
}

/// The rules of `dir` (the defaults at the root) and of every directory below it.
fn collect(
    files: &dyn Files,
    dir: &str,
    out: &mut Vec<(String, Gitignore)>,
) -> Result<(), super::Error> {
    let mut b = GitignoreBuilder::new("");
    let mut any = false;
    if dir.is_empty() {
        for p in DEFAULTS.split(',') {
            b.add_line(None, p).map_err(|e| bad(IGNORE_FILE, &e))?;
            any = true;
        }
    }
    let file = join(dir, IGNORE_FILE);
    if files.entry(&file) == Some(Entry::File) {
        let text = files.read(&file).map_err(|e| bad(&file, &e))?;
        for line in String::from_utf8_lossy(&text).lines() {
            b.add_line(None, line).map_err(|e| bad(&file, &e))?;
            any = true;
        }
    }
    if any {
        out.push((dir.to_owned(), b.build().map_err(|e| bad(&file, &e))?));
    }
    for name in files.list(dir).unwrap_or_default() {
        let path = join(dir, &name);
        if name != ".git" && files.entry(&path) == Some(Entry::Dir) {
            collect(files, &path, out)?;
        }
    }
    Ok(())
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

fn bad(file: &str, e: &dyn std::fmt::Display) -> super::Error {
    super::Error::invalid(file, format!("cannot read the ignore rules: {e}"))
}

impl Files for SourceIgnored<'_> {
    fn entry(&self, path: &str) -> Option<Entry> {
        if self.ignored(path) {
            return None;
        }
        self.inner.entry(path)
    }

    fn read(&self, path: &str) -> io::Result<Vec<u8>> {
        if self.ignored(path) {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "left out of the source, as Flux's source-controller leaves it out",
            ));
        }
        self.inner.read(path)
    }

    fn list(&self, path: &str) -> io::Result<Vec<String>> {
        let names = self.inner.list(path)?;
        Ok(names
            .into_iter()
            .filter(|n| !self.ignored(&join(path, n)))
            .collect())
    }

    fn leaves_root(&self, path: &str) -> bool {
        self.inner.leaves_root(path)
    }

    fn link_loop(&self, path: &str) -> Option<String> {
        self.inner.link_loop(path)
    }

    fn really_within(&self, path: &str, dir: &str) -> bool {
        self.inner.really_within(path, dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::MemFiles;

    fn repo(paths: &[&str]) -> MemFiles {
        let mut f = MemFiles::new();
        for p in paths {
            f.insert(p, "x");
        }
        f
    }

    #[test]
    fn source_controllers_default_patterns_leave_out_what_is_not_a_manifest() {
        let f = repo(&[
            "apps/.sops.yaml",
            "apps/app.yaml",
            "apps/logo.png",
            ".github/workflows/ci.yaml",
            "apps/.hidden.yaml",
            "cloudbuild.yaml",
        ]);
        let view = SourceIgnored::new(&f).unwrap();
        assert_eq!(
            view.list("apps").unwrap(),
            [".hidden.yaml", "app.yaml"],
            "hidden files that no pattern names stay, as in Flux"
        );
        assert_eq!(view.entry(".github"), None);
        assert_eq!(view.entry(".github/workflows/ci.yaml"), None);
        assert!(view.read("cloudbuild.yaml").is_err());
    }

    #[test]
    fn a_sourceignore_excludes_below_its_directory_and_negations_bring_back() {
        let mut f = repo(&[
            "apps/a.yaml",
            "clusters/prod/k.yaml",
            "docs/guide.yaml",
            "README.yaml",
            "apps/team/notes.yaml",
            "apps/team/app.yaml",
        ]);
        // As flux2-kustomize-helm-example writes it: exclude all, include the manifest folders.
        f.insert(
            ".sourceignore",
            "# Exclude all\n/*\n\n!/apps/\n!/clusters/\n",
        );
        f.insert("apps/team/.sourceignore", "notes.yaml\n");
        let view = SourceIgnored::new(&f).unwrap();
        assert_eq!(view.list("").unwrap(), ["apps", "clusters"]);
        assert!(view.entry("docs/guide.yaml").is_none());
        assert!(view.entry("clusters/prod/k.yaml").is_some());
        assert_eq!(
            view.list("apps/team").unwrap(),
            [".sourceignore", "app.yaml"]
        );
    }
}
