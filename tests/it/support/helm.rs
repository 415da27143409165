//! Helm: fledge's engine (`fledge-helm`, built from `engine/helm`) and the real helm CLI
//! v4.3.2, the oracle of the chart tests, both built from Go modules by `scripts/helm.sh` (or
//! given by `FLEDGE_HELM_ENGINE` and `FLEDGE_HELM`).
//!
//! Every test of it starts with [`or_skip`]: where they cannot be built (no Go) it returns
//! `None`, the test returns and passes, and the test binary says so once on stderr; under
//! `CI=true` that is a failure instead, so CI never skips them.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The two binaries.
pub(crate) struct Helm {
    pub(crate) engine: PathBuf,
    pub(crate) cli: PathBuf,
}

static HELM: OnceLock<Option<Helm>> = OnceLock::new();

fn binaries() -> Result<Helm, String> {
    if let (Some(engine), Some(cli)) = (
        std::env::var_os("FLEDGE_HELM_ENGINE"),
        std::env::var_os("FLEDGE_HELM"),
    ) {
        return Ok(Helm {
            engine: engine.into(),
            cli: cli.into(),
        });
    }
    let out = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/helm.sh"))
        .stdin(Stdio::null())
        .output()
        .expect("scripts/helm.sh runs");
    let said = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("scripts/helm.sh: {}\n{said}", out.status));
    }
    let _ = std::io::stderr().write_all(said.as_bytes());
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    match (lines.next(), lines.next()) {
        (Some(engine), Some(cli)) => Ok(Helm {
            engine: engine.into(),
            cli: cli.into(),
        }),
        _ => Err(format!("scripts/helm.sh printed {text:?}")),
    }
}

/// Helm for this test binary; `None` where it cannot be built and `CI` is not `true`.
pub(crate) fn or_skip() -> Option<&'static Helm> {
    HELM.get_or_init(|| match binaries() {
        Ok(h) => Some(h),
        Err(said) if std::env::var("CI").as_deref() == Ok("true") => panic!(
            "the Helm tests need fledge-helm and helm, built from Go modules with Go 1.26 \
             (scripts/helm.sh), and under CI=true they are never skipped:\n{said}"
        ),
        Err(_) => {
            let _ = writeln!(
                std::io::stderr(),
                "Helm tests SKIPPED: fledge-helm and helm could not be built (they need Go 1.26 \
                 and the Go module proxy; see docs/helm.md); set CI=true to make this an error"
            );
            None
        }
    })
    .as_ref()
}

impl Helm {
    /// Runs the helm CLI with a home of its own in `dir`; its stdout.
    pub(crate) fn run(&self, dir: &Path, args: &[&str]) -> String {
        let out = Command::new(&self.cli)
            .args(args)
            .current_dir(dir)
            .env("HELM_CACHE_HOME", dir.join(".helm/cache"))
            .env("HELM_CONFIG_HOME", dir.join(".helm/config"))
            .env("HELM_DATA_HOME", dir.join(".helm/data"))
            .output()
            .expect("helm runs");
        assert!(
            out.status.success(),
            "helm {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("helm prints text")
    }
}
