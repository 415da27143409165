//! Black-box tests of fledge, in one binary.
#![allow(
    clippy::unwrap_used,
    clippy::struct_excessive_bools,
    clippy::missing_panics_doc,
    clippy::must_use_candidate
)]

mod bad_input;
mod cli;
mod corpus;
mod daemon_crash;
mod demo;
mod differential;
mod executor;
mod flagger_examples;
mod fuzz;
mod git_http;
mod git_source;
mod git_ssh;
mod git_verify;
mod git_writeback;
mod kube_api;
mod outcomes;
mod prometheus;
mod rbac;
mod report;
mod rollout_prometheus;
mod routing_schemas;
mod support;
mod validate;
mod webhook;

use std::path::{Path, PathBuf};

/// The shared reference data (kustomize corpus, schemas, examples) that sits beside the
/// repository; `FLEDGE_SHARED_DIR` overrides where.
pub fn shared_dir() -> PathBuf {
    let dir = std::env::var_os("FLEDGE_SHARED_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"),
        PathBuf::from,
    );
    assert!(
        dir.join("kustomize-corpus").is_dir(),
        "shared reference data not found at {} (set FLEDGE_SHARED_DIR)",
        dir.display()
    );
    dir
}

/// The repository root.
pub fn repo_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Writes files (path, contents) below a new temporary directory.
pub fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (path, contents) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().expect("files have a parent")).expect("mkdir");
        std::fs::write(p, contents).expect("write");
    }
    dir
}

/// Runs `fledge build` on a directory of the repository; returns its stdout (asserting success).
pub fn build_repo_dir(dir: &str) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fledge"))
        .args(["build", dir])
        .current_dir(repo_dir())
        .output()
        .unwrap();
    support::ok(&out)
}
