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

/// The patterns source-controller keeps when the repository has ignore rules of its own
/// (`ExcludeVCS`): the other defaults apply only to a repository without any.
const VCS: &str = ".git/,.gitignore,.gitmodules,.gitattributes";

/// The name of the ignore files source-controller reads.
const IGNORE_FILE: &str = ".sourceignore";

/// A repository's files as source-controller's artifact holds them.
pub struct SourceIgnored<'a> {
    inner: &'a dyn Files,
    /// Each directory with rules (`""`: the root, with the defaults), shallowest first.
    rules: Vec<(String, Gitignore)>,
    /// The GitRepository's `spec.ignore`: appended last, so it wins over every file's rules.
    spec: Option<Gitignore>,
}

impl<'a> SourceIgnored<'a> {
    /// The view of `files` without what source-controller leaves out; an unreadable
    /// `.sourceignore` is an error naming it.
    pub fn new(files: &'a dyn Files) -> Result<Self, super::Error> {
        Self::with(files, None)
    }

    /// [`Self::new`], with the GitRepository's `spec.ignore` (patterns from the repository's
    /// root). As source-controller does it (`SourceIgnoreFilter`): when the repository has
    /// `.sourceignore` rules or `spec.ignore` is set, only the VCS patterns stay of the defaults.
    pub fn with(files: &'a dyn Files, spec_ignore: Option<&str>) -> Result<Self, super::Error> {
        let mut rules = Vec::new();
        let mut patterns = 0;
        collect(files, "", &mut rules, &mut patterns)?;
        if patterns > 0 || spec_ignore.is_some_and(|s| count_patterns(s) > 0) {
            let mut b = GitignoreBuilder::new("");
            for p in VCS.split(',') {
                b.add_line(None, p).map_err(|e| bad(IGNORE_FILE, &e))?;
            }
            add_file(files, IGNORE_FILE, &mut b, &mut 0)?;
            let built = b.build().map_err(|e| bad(IGNORE_FILE, &e))?;
            match rules.first_mut() {
                Some((d, r)) if d.is_empty() => *r = built,
                _ => rules.insert(0, (String::new(), built)),
            }
        }
        let spec = match spec_ignore {
            Some(text) => {
                let mut b = GitignoreBuilder::new("");
                for line in text.lines() {
                    b.add_line(None, line).map_err(|e| bad("spec.ignore", &e))?;
                }
                Some(b.build().map_err(|e| bad("spec.ignore", &e))?)
            }
            None => None,
        };
        Ok(Self {
            inner: files,
            rules,
            spec,
        })
    }

    /// True when source-controller leaves `path` (a file or directory) out.
    #[must_use]
    pub fn ignored(&self, path: &str) -> bool {
        let is_dir = self.inner.entry(path) == Some(Entry::Dir);
        match self
            .spec
            .as_ref()
            .map(|s| s.matched_path_or_any_parents(path, is_dir))
        {
            Some(Match::Ignore(_)) => return true,
            Some(Match::Whitelist(_)) => return false,
            _ => {}
        }
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
    patterns: &mut usize,
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
    any |= add_file(files, &file, &mut b, patterns)?;
    if any {
        out.push((dir.to_owned(), b.build().map_err(|e| bad(&file, &e))?));
    }
    for name in files.list(dir).unwrap_or_default() {
        let path = join(dir, &name);
        if name != ".git" && files.entry(&path) == Some(Entry::Dir) {
            collect(files, &path, out, patterns)?;
        }
    }
    Ok(())
}

/// Adds the lines of the ignore file `file`, if it exists, counting its patterns; whether it
/// does.
fn add_file(
    files: &dyn Files,
    file: &str,
    b: &mut GitignoreBuilder,
    patterns: &mut usize,
) -> Result<bool, super::Error> {
    if files.entry(file) != Some(Entry::File) {
        return Ok(false);
    }
    let text = files.read(file).map_err(|e| bad(file, &e))?;
    let text = String::from_utf8_lossy(&text);
    for line in text.lines() {
        b.add_line(None, line).map_err(|e| bad(file, &e))?;
    }
    *patterns += count_patterns(&text);
    Ok(true)
}

/// The patterns of ignore rules: lines neither blank nor comments (as go-git reads them).
fn count_patterns(text: &str) -> usize {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .count()
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

    #[test]
    fn with_rules_of_its_own_a_repository_keeps_only_the_vcs_defaults_and_spec_ignore_wins() {
        let mut f = repo(&["apps/logo.png", "apps/app.yaml", "apps/draft.yaml"]);
        // No rules of its own: the defaults leave the image out.
        assert!(
            SourceIgnored::new(&f)
                .unwrap()
                .entry("apps/logo.png")
                .is_none()
        );
        // A `.sourceignore` with a pattern: only ExcludeVCS stays of the defaults
        // (`SourceIgnoreFilter`), so the image is in the artifact.
        f.insert(
            ".sourceignore",
            "# drafts
draft.yaml
",
        );
        let view = SourceIgnored::new(&f).unwrap();
        assert!(view.entry("apps/logo.png").is_some());
        assert!(view.entry("apps/draft.yaml").is_none());
        // `spec.ignore` is appended last: it wins over the files' rules.
        let view = SourceIgnored::with(
            &f,
            Some(
                "!apps/draft.yaml
apps/app.yaml
",
            ),
        )
        .unwrap();
        assert!(view.entry("apps/draft.yaml").is_some());
        assert!(view.entry("apps/app.yaml").is_none());
        // A `.sourceignore` of comments only counts for nothing.
        let mut g = repo(&["apps/logo.png"]);
        g.insert(
            ".sourceignore",
            "# nothing

",
        );
        assert!(
            SourceIgnored::new(&g)
                .unwrap()
                .entry("apps/logo.png")
                .is_none()
        );
    }
}
