//! `render`: a config repository → the objects it declares, without a kustomize binary.
//!
//! Owns the kustomization.yaml subset (resources, bases, components, generators, the built-in
//! transformers, patches, replacements and vars), plain manifest folders, strategic-merge and
//! JSON patches, and the output order and format of `kubectl kustomize`. It reads files only
//! through [`Files`], below one root, and never does other I/O; the same input always renders the
//! same output.
//!
//! Invariants: nothing is read outside the root (no `..` past it, no symlink out of it, no
//! remote bases); a kustomization field fledge does not implement is an error naming it; an
//! error leaves no partial output.

mod build;
pub mod decrypt;
pub mod fieldspec;
pub mod flux;
pub mod fs;
mod generate;
mod generators;
pub mod kustomization;
mod nameref;
pub mod object;
mod order;
mod patch;
mod plugins;
mod replace;
mod selector;
pub use selector::ObjectSelector;
pub mod smp;
pub mod source_ignore;
mod transform;
mod transformers;
pub mod varsub;
mod widen;
pub mod yaml;

use std::fmt;

pub use build::{render, render_with};
pub use decrypt::{Decrypt, Options};
pub use fs::{DiskFiles, Files, MemFiles};
pub use object::{Gvk, ResId, Resource};
pub use widen::Widening;

/// Why a render failed. Every variant names the file (root-relative) it is about.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}:{line}:{column}: invalid YAML: {message}")]
    Yaml {
        path: DisplayPath,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: cannot read file: {source}")]
    Read {
        path: DisplayPath,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: field `{field}` is not supported by fledge: {hint}")]
    Unsupported {
        path: DisplayPath,
        field: String,
        hint: String,
    },
    #[error(
        "{path}: unknown field `{field}` (check its spelling against the kustomization reference)"
    )]
    UnknownField { path: DisplayPath, field: String },
    #[error("{path}: `{reference}` is outside {scope}")]
    OutsideRoot {
        path: DisplayPath,
        reference: String,
        scope: String,
    },
    #[error(
        "{path}: remote resource `{reference}` is not supported: vendor it into the repository and refer to it by a relative path"
    )]
    Remote {
        path: DisplayPath,
        reference: String,
    },
    #[error(
        "{path}: `{reference}` cannot be read: `{link}` is a symlink loop (its chain of targets comes back to itself); point it at a file or directory"
    )]
    LinkLoop {
        path: DisplayPath,
        reference: String,
        link: DisplayPath,
    },
    #[error("{path}: `{reference}` does not exist")]
    Missing {
        path: DisplayPath,
        reference: String,
    },
    #[error(
        "{path}: no such directory in the repository (check --path, or the commit that moved it): nothing is applied or pruned"
    )]
    NoSuchPath { path: DisplayPath },
    #[error("{path}: no kustomization.yaml, kustomization.yml or Kustomization in this directory")]
    NoKustomization { path: DisplayPath },
    #[error("{path}: kustomization cycle: {chain}")]
    Cycle { path: DisplayPath, chain: String },
    #[error("{path}: {id} is declared twice (also in {other})")]
    Duplicate {
        path: DisplayPath,
        id: String,
        other: String,
    },
    #[error("{path}: patch failed on {target}: {message}")]
    Patch {
        path: DisplayPath,
        target: String,
        message: String,
    },
    #[error("{path}: {message}")]
    Invalid { path: DisplayPath, message: String },
    #[error("Flux Kustomization `spec.{field}`: {message}")]
    FluxSpec { field: String, message: String },
    #[error("{path}: postBuild: {cause}")]
    PostBuild {
        path: DisplayPath,
        cause: varsub::Error,
    },
}

impl Error {
    /// A reference that leaves the build root, by `..` or through a symlink (not one a
    /// kustomization's own-directory rule forbids): a wider root may hold it.
    #[must_use]
    pub fn leaves_build_root(&self) -> bool {
        matches!(self, Self::OutsideRoot { scope, .. } if scope == BUILD_ROOT || scope == BUILD_ROOT_BY_LINK)
    }

    pub(crate) fn invalid(path: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            path: DisplayPath::new(path),
            message: message.into(),
        }
    }
}

/// How errors name the root of a build.
pub(crate) const BUILD_ROOT: &str =
    "the build root (the repository, or `--root`), and nothing outside it is read";

/// How errors name the root of a build that a symlink leaves.
pub(crate) const BUILD_ROOT_BY_LINK: &str = "the build root: it is a symlink that leads out of it";

/// A root-relative path as it appears in messages (`.` for the root itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayPath(pub String);

impl DisplayPath {
    #[must_use]
    pub fn new(path: &str) -> Self {
        Self(path.to_owned())
    }
}

impl fmt::Display for DisplayPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str(".")
        } else {
            f.write_str(&self.0)
        }
    }
}
