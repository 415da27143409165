//! Black-box tests of fledge, in one binary.
#![allow(
    clippy::unwrap_used,
    clippy::struct_excessive_bools,
    clippy::missing_panics_doc,
    clippy::must_use_candidate
)]

mod artifact;
mod bad_input;
mod cli;
mod corpus;
mod daemon_crash;
mod demo;
mod differential;
mod docs;
mod executor;
mod faults;
mod flagger_examples;
mod flux_build;
mod flux_repo;
mod fuzz;
mod git_fds;
mod git_http;
mod git_source;
mod git_ssh;
mod git_verify;
mod git_writeback;
mod health;
mod helm;
mod helm_oci;
mod helm_postrender;
mod image_automation;
mod image_push;
mod knative;
mod kube_api;
mod kustomize_tail;
mod listener;
mod loadtester;
mod metric_providers;
mod notify;
mod oci_source;
mod oci_verify;
mod outcomes;
mod prometheus;
mod properties;
mod rbac;
mod real_cluster;
mod registry;
mod report;
mod retiring;
mod rollout_prometheus;
mod routing_schemas;
mod safety;
mod service_targets;
mod shards;
mod sops;
mod support;
mod validate;
mod webhook;

use std::path::PathBuf;

/// The reference data the tests read (the kustomize corpus, Flagger's examples, upstream CRD
/// schemas), kept in the repository with their licences under `tests/data`.
pub fn data_dir() -> PathBuf {
    repo_dir().join("tests/data")
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
