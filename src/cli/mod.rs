//! The command line. Each command is a thin shell over the library: it parses arguments, calls
//! one pure entry point and prints the result.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

use crate::render::{self, DiskFiles};

/// `GitOps` reconciler with progressive delivery: Flux-style sync and Flagger-compatible canaries
/// in one daemon, with outcomes written back to Git.
#[derive(Debug, Parser)]
#[command(name = "fledge", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render a kustomization or a plain manifest folder to a YAML stream on stdout, like
    /// `kubectl kustomize DIR`
    Build {
        /// Directory holding kustomization.yaml, or a folder of *.yaml manifests
        dir: PathBuf,
        /// Root below which files may be read (default: DIR itself); bases outside DIR, such
        /// as `../../base`, need a root that contains them
        #[arg(long)]
        root: Option<PathBuf>,
    },
}

/// A failure the CLI reports, with the exit code it maps to.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Render(#[from] render::Error),
    #[error("cannot write output")]
    Output(#[source] std::io::Error),
}

impl Error {
    /// Exit status: 64 for bad usage, 1 for everything else.
    #[must_use]
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => 64,
            _ => 1,
        }
    }
}

/// Runs a parsed command.
pub fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Build { dir, root } => build(&dir, root.as_deref()),
    }
}

/// Splits `dir` into a file root and the directory's path below it. Without an explicit root,
/// the root is the closest ancestor that is a Git work tree (so `../base` works in a repository
/// as it does with kustomize), or `dir` itself.
fn locate(dir: &Path, root: Option<&Path>) -> Result<(DiskFiles, String), Error> {
    let dir_abs = dir
        .canonicalize()
        .map_err(|e| Error::Usage(format!("{}: {e}", dir.display())))?;
    if !dir_abs.is_dir() {
        return Err(Error::Usage(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    let root_abs = match root {
        Some(r) => r
            .canonicalize()
            .map_err(|e| Error::Usage(format!("{}: {e}", r.display())))?,
        None => dir_abs
            .ancestors()
            .find(|a| a.join(".git").exists())
            .unwrap_or(&dir_abs)
            .to_path_buf(),
    };
    let rel = dir_abs.strip_prefix(&root_abs).map_err(|_| {
        Error::Usage(format!(
            "{} is not below the root {}",
            dir.display(),
            root_abs.display()
        ))
    })?;
    let rel = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/");
    let files = DiskFiles::new(&root_abs)
        .map_err(|e| Error::Usage(format!("{}: {e}", root_abs.display())))?;
    Ok((files, rel))
}

fn build(dir: &Path, root: Option<&Path>) -> Result<(), Error> {
    let (files, rel) = locate(dir, root)?;
    let objects = render::render(&files, &rel)?;
    let text = render::yaml::emit_stream(&objects);
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes()).map_err(Error::Output)?;
    out.flush().map_err(Error::Output)
}
