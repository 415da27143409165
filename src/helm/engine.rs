//! The `fledge-helm` process: one JSON request on its stdin, one JSON answer on its stdout.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{MessageRequest, Rendered, Request};

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

    /// Renders `request`; `Err` is Helm's own error (a template that fails, a chart that does
    /// not load) or why the engine could not be run.
    pub fn render(&self, request: &Request) -> Result<Rendered, String> {
        self.call(request)
    }

    /// Renders the commit message of an image update (a Go template with sprig's hermetic
    /// functions, over the data image-automation-controller gives its templates); `Err` is the
    /// template's error.
    pub fn message(&self, request: &MessageRequest) -> Result<String, String> {
        let message: Message = self.call(&serde_json::json!({ "message": request }))?;
        Ok(message.message)
    }

    fn call<T: serde::de::DeserializeOwned>(
        &self,
        request: &impl serde::Serialize,
    ) -> Result<T, String> {
        let body = serde_json::to_vec(request).map_err(|e| e.to_string())?;
        let mut child = Command::new(&self.path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{PROGRAM} ({}) cannot be run: {e}", self.path.display()))?;
        // Written from another thread: a large answer must be read while the request is written.
        let mut stdin = child.stdin.take();
        let writer =
            std::thread::spawn(move || stdin.as_mut().map(|s| s.write_all(&body)).transpose());
        let out = child
            .wait_with_output()
            .map_err(|e| format!("{PROGRAM}: {e}"))?;
        let written = writer.join().unwrap_or(Ok(None));
        match serde_json::from_slice::<Answer<T>>(&out.stdout) {
            Ok(a) if a.error.is_empty() => Ok(a.rendered),
            Ok(a) => Err(a.error),
            Err(e) => Err(format!(
                "{PROGRAM} ({}) gave no answer ({e}; exit {}{}): {}",
                self.path.display(),
                out.status,
                written
                    .err()
                    .map(|e| format!(", writing the request: {e}"))
                    .unwrap_or_default(),
                String::from_utf8_lossy(&out.stderr).trim()
            )),
        }
    }
}
