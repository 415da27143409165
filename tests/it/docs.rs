//! The docs, held to what a machine can check: every relative link in README.md and docs/*.md
//! leads to a file that exists (and a `#anchor` into a Markdown page to one of its headings),
//! and docs/daemon.md names exactly the flags that `fledge run --help` and
//! `fledge status --help` list (flags of other programs' command lines aside).
//!
//! Links are found with a regex rather than a Markdown parser: the pages use inline links only
//! (`[text](target)`), and a parser would be one more dependency for this one file.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use regex::Regex;

use super::support::ok;
use super::{repo_dir, tree};

/// README.md and every page under docs/.
fn pages(root: &Path) -> Vec<PathBuf> {
    let mut pages = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

/// A page without its fenced code blocks and code spans (which may run over lines), where
/// brackets are code, not links.
fn prose(markdown: &str) -> String {
    let mut out = String::new();
    let mut fenced = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            out.push_str(line);
            out.push('\n');
        }
    }
    Regex::new(r"`[^`]*`")
        .unwrap()
        .replace_all(&out, "")
        .into_owned()
}

/// The targets of a page's inline links.
fn links(markdown: &str) -> Vec<String> {
    let link = Regex::new(r"\]\(([^)\s]+)\)").unwrap();
    link.captures_iter(&prose(markdown))
        .map(|c| c[1].to_owned())
        .collect()
}

/// GitHub's anchor of a heading: lowercase letters, digits, `-` and `_` kept, spaces made
/// hyphens, everything else (backquotes, brackets, dots, colons) dropped.
fn anchor(heading: &str) -> String {
    heading
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            '-' | '_' => Some(c),
            c if c.is_alphanumeric() => Some(c),
            _ => None,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// The anchors of a page's headings.
fn anchors(markdown: &str) -> BTreeSet<String> {
    let mut fenced = false;
    let mut out = BTreeSet::new();
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.starts_with('#') {
            out.insert(anchor(line.trim_start_matches('#').trim()));
        }
    }
    out
}

/// The relative links of the page at `page` that lead nowhere, each with why and the page's
/// path below `root`.
fn broken_links(root: &Path, page: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(page).unwrap();
    let name = page.strip_prefix(root).unwrap_or(page).display();
    let dir = page.parent().unwrap();
    let mut broken = Vec::new();
    for target in links(&text) {
        if target.contains("://") || target.starts_with("mailto:") {
            continue;
        }
        let (path, fragment) = target.split_once('#').unwrap_or((&target, ""));
        let file = if path.is_empty() {
            page.to_path_buf()
        } else {
            dir.join(path)
        };
        if !file.exists() {
            broken.push(format!("{name}: {target}: no such file"));
        } else if !fragment.is_empty() && file.extension().is_some_and(|x| x == "md") {
            let headings = anchors(&std::fs::read_to_string(&file).unwrap());
            if !headings.contains(fragment) {
                broken.push(format!(
                    "{name}: {target}: no heading with that anchor (the page has {headings:?})"
                ));
            }
        }
    }
    broken
}

#[test]
fn every_relative_link_of_the_readme_and_the_docs_leads_to_a_file_and_heading_that_exist() {
    let root = repo_dir();
    let pages = pages(&root);
    assert!(pages.len() > 1, "README.md and docs/*.md: {pages:?}");
    let count: usize = pages
        .iter()
        .map(|p| links(&std::fs::read_to_string(p).unwrap()).len())
        .sum();
    assert!(count > 10, "the pages link to each other: {count} links");
    let broken: Vec<String> = pages.iter().flat_map(|p| broken_links(&root, p)).collect();
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn a_link_to_a_missing_file_or_heading_is_found_and_code_is_not_read_as_links() {
    let t = tree(&[
        ("docs/a.md", "# A page\n\n## `fledge plan`\n"),
        (
            "docs/b.md",
            "[ok](a.md) [ok](a.md#fledge-plan) [ok](#b) [web](https://example.com/x)\n\
             [gone](../nothing.md) [no heading](a.md#fledge-hash)\n\
             `[code](missing.md)`\n```\n[code](missing-too.md)\n```\n# B\n",
        ),
    ]);
    let broken = broken_links(t.path(), &t.path().join("docs/b.md"));
    assert_eq!(broken.len(), 2, "{broken:#?}");
    assert!(
        broken[0].ends_with("../nothing.md: no such file"),
        "{broken:#?}"
    );
    assert!(
        broken[1].contains("a.md#fledge-hash: no heading"),
        "{broken:#?}"
    );
}

/// The long flags a command's `--help` lists, `--help` itself aside.
fn help_flags(command: &str) -> BTreeSet<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_fledge"))
        .args([command, "--help"])
        .output()
        .unwrap();
    let flag = Regex::new(r"--[a-z][a-z0-9-]*").unwrap();
    ok(&out)
        .lines()
        .filter(|l| l.trim_start().starts_with('-'))
        .filter_map(|l| flag.find(l).map(|m| m.as_str().to_owned()))
        .filter(|f| f != "--help")
        .collect()
}

/// Programs other than fledge whose command lines the pages show (`git gc --auto`).
const OTHER_PROGRAMS: &[&str] = &["git", "kubectl", "ssh-keygen", "docker", "cargo"];

/// The long flags a page names in prose, code spans and code blocks, but not in another
/// program's command line: a code span or a command of a code block (its `\` continuations
/// joined) that starts with one of [`OTHER_PROGRAMS`].
fn named_flags(markdown: &str) -> BTreeSet<String> {
    let mut texts = Vec::new();
    let mut rest = String::new();
    let (mut fenced, mut continued) = (false, false);
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            (fenced, continued) = (!fenced, false);
        } else if fenced {
            let command = line.trim_end();
            let text = command.strip_suffix('\\').unwrap_or(command);
            match texts.last_mut() {
                Some(last) if continued => *last = format!("{last} {text}"),
                _ => texts.push(text.to_owned()),
            }
            continued = command.ends_with('\\');
        } else {
            rest.push_str(line);
            rest.push('\n');
        }
    }
    let span = Regex::new(r"`([^`]*)`").unwrap();
    texts.extend(span.captures_iter(&rest).map(|c| c[1].to_owned()));
    texts.push(span.replace_all(&rest, " ").into_owned());
    let flag = Regex::new(r"(?m)(?:^|[^\w-])(--[a-z][a-z0-9]*(?:-[a-z0-9]+)*)").unwrap();
    texts
        .iter()
        .filter(|t| {
            let first = t
                .trim_start()
                .trim_start_matches("$ ")
                .split_whitespace()
                .next();
            !first.is_some_and(|p| OTHER_PROGRAMS.contains(&p))
        })
        .flat_map(|t| flag.captures_iter(t).map(|c| c[1].to_owned()))
        .collect()
}

#[test]
fn flags_of_other_programs_and_continued_commands_are_read_as_such() {
    let page = "`git gc --auto` and `--interval`, or --listen in prose\n\
                ```sh\nkubectl -n x create secret \\\n  --from-file=a\n\
                fledge run --repo r \\\n  --path p   # --coalesce\n```\n";
    let named: Vec<String> = named_flags(page).into_iter().collect();
    assert_eq!(
        named,
        ["--coalesce", "--interval", "--listen", "--path", "--repo"],
        "{page}"
    );
}

#[test]
fn the_daemon_page_names_every_flag_of_fledge_run_and_fledge_status_and_no_other() {
    let page = std::fs::read_to_string(repo_dir().join("docs/daemon.md")).unwrap();
    let named = named_flags(&page);
    let run = help_flags("run");
    let status = help_flags("status");
    assert!(
        run.contains("--repo") && status.contains("--watch"),
        "{run:?} {status:?}"
    );
    let listed: BTreeSet<String> = run.union(&status).cloned().collect();
    let unknown: Vec<&String> = named
        .iter()
        .filter(|f| !listed.contains(*f) && *f != "--help")
        .collect();
    assert!(
        unknown.is_empty(),
        "docs/daemon.md names flags neither `fledge run --help` nor `fledge status --help` lists: {unknown:?}"
    );
    let undocumented: Vec<&String> = listed.difference(&named).collect();
    assert!(
        undocumented.is_empty(),
        "docs/daemon.md does not describe these flags: {undocumented:?}"
    );
}
