//! The `fledge-helm` process: one JSON request on its stdin, one JSON answer on its stdout.

use std::io::{BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};

use serde_json::Value;

use super::{Lookup, MessageRequest, Rendered, Request};

/// The program's name, beside fledge or on PATH.
pub const PROGRAM: &str = "fledge-helm";

/// The environment variable naming the engine.
pub const ENV: &str = "FLEDGE_HELM_ENGINE";

/// The engine's answer: what it rendered, or Helm's error.
#[derive(serde::Deserialize)]
struct Answer<T> {
    #[serde(default)]
    error: String,
    #[serde(flatten)]
    rendered: T,
}

/// The answer to a [`Message`] request.
#[derive(serde::Deserialize)]
struct Message {
    #[serde(default)]
    message: String,
}

/// Helm's engine, found on this machine.
#[derive(Debug, Clone)]
pub struct Engine {
    path: PathBuf,
}

impl Engine {
    /// The engine at `explicit`, else at `$FLEDGE_HELM_ENGINE`, else `fledge-helm` beside
    /// fledge's own executable, else on PATH; `Err` says how to get it.
    pub fn locate(explicit: Option<PathBuf>) -> Result<Self, String> {
        let from_env = std::env::var_os(ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        if let Some(path) = explicit.or(from_env) {
            return if path.is_file() {
                Ok(Self { path })
            } else {
                Err(format!(
                    "{PROGRAM}, Helm's engine, is not at {} ({ENV} or --helm-engine names it)",
                    path.display()
                ))
            };
        }
        let beside = std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(|d| d.join(PROGRAM)));
        let on_path = std::env::var_os("PATH")
            .map(|p| {
                std::env::split_paths(&p)
                    .map(|d| d.join(PROGRAM))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        beside
            .into_iter()
            .chain(on_path)
            .find(|p| p.is_file())
            .map(|path| Self { path })
            .ok_or_else(|| {
                format!(
                    "rendering a HelmRelease needs {PROGRAM}, Helm's engine, which was not found beside fledge nor on PATH; fledge's image ships it; elsewhere build it with `scripts/helm.sh` (or `go build -o {PROGRAM} ./engine/helm`, Go 1.26) and put it beside fledge, on PATH, or in {ENV}"
                )
            })
    }

    /// Where it is.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renders `request`, each `lookup` of the chart answered by `lookup` (an object or list,
    /// `{}` for none, or why it cannot be read, which fails the render as in Helm); `Err` is
    /// Helm's own error (a template that fails, a chart that does not load) or why the engine
    /// could not be run.
    pub fn render(
        &self,
        request: &Request,
        lookup: &dyn Fn(&Lookup) -> Result<Value, String>,
    ) -> Result<Rendered, String> {
        self.call(request, lookup)
    }

    /// Renders the commit message of an image update (a Go template with sprig's hermetic
    /// functions, over the data image-automation-controller gives its templates); `Err` is the
    /// template's error.
    pub fn message(&self, request: &MessageRequest) -> Result<String, String> {
        let message: Message = self.call(&serde_json::json!({ "message": request }), &|_| {
            Err("a commit message looks nothing up".to_owned())
        })?;
        Ok(message.message)
    }

    /// Sends `request` and answers the engine's lookups until its answer comes: one JSON
    /// value per line each way.
    fn call<T: serde::de::DeserializeOwned>(
        &self,
        request: &impl serde::Serialize,
        lookup: &dyn Fn(&Lookup) -> Result<Value, String>,
    ) -> Result<T, String> {
        let mut body = serde_json::to_vec(request).map_err(|e| e.to_string())?;
        body.push(b'\n');
        let mut child = Command::new(&self.path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{PROGRAM} ({}) cannot be run: {e}", self.path.display()))?;
        // Helm's warnings, read apart so that they never fill the pipe mid-render.
        let stderr = child.stderr.take().map(|mut e| {
            std::thread::spawn(move || {
                let mut s = String::new();
                let _ = std::io::Read::read_to_string(&mut e, &mut s);
                s
            })
        });
        let mut stdin = child.stdin.take();
        // The engine reads the whole request before it writes anything, so this cannot block
        // on a full pipe; a failed write shows in the answer (or its absence) below.
        let written = stdin.as_mut().map(|s| s.write_all(&body)).transpose();
        let mut answer = Vec::new();
        if let Some(out) = child.stdout.take() {
            answer = converse(BufReader::new(out), stdin.as_mut(), lookup);
        }
        drop(stdin);
        let status = child.wait().map_err(|e| format!("{PROGRAM}: {e}"))?;
        let stderr = stderr.and_then(|t| t.join().ok()).unwrap_or_default();
        match serde_json::from_slice::<Answer<T>>(&answer) {
            Ok(a) if a.error.is_empty() => Ok(a.rendered),
            Ok(a) => Err(a.error),
            Err(e) => Err(format!(
                "{PROGRAM} ({}) gave no answer ({e}; exit {status}{}): {}",
                self.path.display(),
                written
                    .err()
                    .map(|e| format!(", writing the request: {e}"))
                    .unwrap_or_default(),
                stderr.trim()
            )),
        }
    }
}

/// Reads the engine's lines, answering each lookup it asks on `stdin`, until a line that is
/// not a lookup: the answer (empty when the engine ended without one).
fn converse(
    mut out: impl std::io::BufRead,
    mut stdin: Option<&mut ChildStdin>,
    lookup: &dyn Fn(&Lookup) -> Result<Value, String>,
) -> Vec<u8> {
    let mut line = Vec::new();
    loop {
        line.clear();
        if out.read_until(b'\n', &mut line).unwrap_or(0) == 0 {
            return line;
        }
        let Ok(Asked { lookup: query }) = serde_json::from_slice::<Asked>(&line) else {
            return line;
        };
        let reply = match lookup(&query) {
            Ok(object) => serde_json::json!({ "object": object }),
            Err(error) => serde_json::json!({ "error": error }),
        };
        let mut text = reply.to_string().into_bytes();
        text.push(b'\n');
        if stdin.as_mut().is_none_or(|s| s.write_all(&text).is_err()) {
            // The engine is gone; what it said last (if anything) follows.
            stdin = None;
        }
    }
}

/// A lookup the engine asks for in the middle of a render.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Asked {
    lookup: Lookup,
}
