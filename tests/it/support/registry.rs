//! A real OCI registry on loopback for the tests: the distribution registry (v2), Debian's
//! `docker-registry`, started per test with a generated configuration (filesystem storage in a
//! temporary directory, deletes enabled, plain HTTP on `127.0.0.1:<free port>`), waited for
//! until `GET /v2/` answers, and stopped when dropped. Images are pushed with the real `skopeo`
//! from a minimal OCI image layout built in a temporary directory: one gzipped tar layer with a
//! file naming the repository and the tag (so that every tag has its own digest), a config, a
//! manifest, `index.json` and `oci-layout`.
//!
//! Every test of it starts with [`or_skip`]: where `docker-registry` or `skopeo` is missing
//! (`apt-get install docker-registry skopeo`) it returns `None` and says so once on stderr;
//! under `CI=true` that is a failure instead.

use std::io::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{Value, json};
use sha2::Digest as _;

use super::daemon::free_port;
use super::eventually::within;

/// The media types a manifest of [`Registry::push_image`] is asked for with.
const ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
    application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json, \
    application/vnd.docker.distribution.manifest.list.v2+json";

/// A running registry; stopped (and its storage removed) when dropped.
pub(crate) struct Registry {
    child: Child,
    port: u16,
    /// Its configuration, storage and log (`registry.log`).
    dir: tempfile::TempDir,
    client: reqwest::Client,
}

/// What is missing to run a registry and push to it, if anything.
fn missing() -> Option<String> {
    let runs = |tool: &str, arg: &str| {
        Command::new(tool)
            .arg(arg)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let missing: Vec<&str> = [("docker-registry", "--version"), ("skopeo", "--version")]
        .into_iter()
        .filter(|(tool, arg)| !runs(tool, arg))
        .map(|(tool, _)| tool)
        .collect();
    (!missing.is_empty()).then(|| missing.join(" and "))
}

/// A registry, started; `None` where `docker-registry` or `skopeo` is missing and `CI` is not
/// `true` (said once, on stderr).
pub(crate) async fn or_skip() -> Option<Registry> {
    static MISSING: OnceLock<Option<String>> = OnceLock::new();
    static SAID: std::sync::Once = std::sync::Once::new();
    let Some(what) = MISSING.get_or_init(missing) else {
        return Some(Registry::start().await);
    };
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "the OCI registry tests need {what} (apt-get install docker-registry skopeo), and under \
         CI=true they are never skipped"
    );
    SAID.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "OCI registry tests SKIPPED: {what} not found (apt-get install docker-registry \
             skopeo); set CI=true to make this an error"
        );
    });
    None
}

impl Registry {
    /// Starts a registry on a free loopback port and waits (at most 30 s) until `GET /v2/`
    /// answers 200. A port taken between being found free and bound is given up for another.
    pub(crate) async fn start() -> Self {
        let client = fledge::net::http_client(Duration::from_secs(10), false);
        for attempt in 1..=3 {
            let mut registry = Self::spawn(&client);
            match registry.until_up().await {
                Ok(()) => return registry,
                Err(why) if attempt < 3 => {
                    eprintln!(
                        "the registry did not start (try {attempt}), again on another port: {why}"
                    );
                }
                Err(why) => panic!("the registry did not start: {why}"),
            }
        }
        unreachable!("the last try returns or panics")
    }

    /// `docker-registry serve` of a configuration written into a new temporary directory, on a
    /// free port.
    fn spawn(client: &reqwest::Client) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let config = json!({
            "version": 0.1,
            "log": {"level": "info", "accesslog": {"disabled": true}},
            "storage": {
                "filesystem": {"rootdirectory": dir.path().join("storage")},
                "delete": {"enabled": true},
            },
            "http": {"addr": format!("127.0.0.1:{port}"), "secret": "fledge-tests"},
        });
        // YAML is a superset of JSON.
        let path = dir.path().join("config.yml");
        std::fs::write(&path, config.to_string()).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("docker-registry starts: {e}"));
        Self {
            child,
            port,
            dir,
            client: client.clone(),
        }
    }

    /// Waits until `GET /v2/` answers 200; the registry's log when it exits or never does.
    async fn until_up(&mut self) -> Result<(), String> {
        let url = format!("http://{}/v2/", self.addr());
        let client = &self.client;
        let seen = within(
            Duration::from_secs(30),
            || async { client.get(&url).send().await.map(|r| r.status().as_u16()) },
            |s| matches!(s, Ok(200)) || self.child.try_wait().is_ok_and(|e| e.is_some()),
        )
        .await;
        match seen {
            Ok(Ok(200)) => Ok(()),
            Ok(last) | Err(last) => Err(format!("GET /v2/: {last:?}\n{}", self.log())),
        }
    }

    /// Where it listens: `127.0.0.1:<port>`.
    pub(crate) fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The registry's log.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Pushes a small image (one layer holding `/image.txt`, naming `repo` and `tag`) as
    /// `<addr>/<repo>:<tag>` with `skopeo copy`; returns its manifest digest (`sha256:…`).
    pub(crate) async fn push_image(&self, repo: &str, tag: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let digest = oci_layout(dir.path(), repo, tag);
        // A policy of its own, so that the host's /etc/containers/policy.json does not matter.
        let policy = dir.path().join("policy.json");
        std::fs::write(
            &policy,
            r#"{"default":[{"type":"insecureAcceptAnything"}]}"#,
        )
        .unwrap();
        let out = tokio::process::Command::new("skopeo")
            .arg("--policy")
            .arg(&policy)
            .args(["copy", "--quiet", "--dest-tls-verify=false"])
            .arg(format!("oci:{}:{tag}", dir.path().join("layout").display()))
            .arg(format!("docker://{}/{repo}:{tag}", self.addr()))
            .stdin(Stdio::null())
            .output()
            .await
            .expect("skopeo runs");
        assert!(
            out.status.success(),
            "skopeo copy to {}/{repo}:{tag}: {}\n{}\n--- the registry's log:\n{}",
            self.addr(),
            out.status,
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        digest
    }

    /// The tags of `repo` (`GET /v2/<repo>/tags/list`), sorted (the registry lists them in its
    /// storage's order).
    pub(crate) async fn tags(&self, repo: &str) -> Vec<String> {
        let url = format!("http://{}/v2/{repo}/tags/list", self.addr());
        let r = self.client.get(&url).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "GET {url}: {r:?}");
        let list: Value = r.json().await.unwrap();
        let mut tags: Vec<String> = list["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| t.as_str().expect("a tag").to_owned())
            .collect();
        tags.sort();
        tags
    }

    /// The manifest digest of `repo:tag` (`sha256:…`): the `Docker-Content-Digest` of a `HEAD`
    /// of its manifest.
    pub(crate) async fn digest(&self, repo: &str, tag: &str) -> String {
        let url = format!("http://{}/v2/{repo}/manifests/{tag}", self.addr());
        let r = self
            .client
            .head(&url)
            .header("accept", ACCEPT)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "HEAD {url}: {r:?}");
        r.headers()["docker-content-digest"]
            .to_str()
            .unwrap()
            .to_owned()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `sha256:<hex>` of `bytes`.
fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// Stores `bytes` as a blob of the layout at `layout`; returns its descriptor (with
/// `media_type`).
fn blob(layout: &Path, media_type: &str, bytes: &[u8]) -> Value {
    let digest = sha256(bytes);
    let hex = digest.strip_prefix("sha256:").expect("sha256");
    std::fs::write(layout.join("blobs/sha256").join(hex), bytes).unwrap();
    json!({"mediaType": media_type, "digest": digest, "size": bytes.len()})
}

/// Writes an OCI image layout into `dir/layout` holding one image tagged `tag`, its one layer
/// made by `tar` and `gzip` (reproducibly: sorted, owned by root, dated 1970); returns the
/// manifest's digest.
fn oci_layout(dir: &Path, repo: &str, tag: &str) -> String {
    let files = dir.join("files");
    std::fs::create_dir(&files).unwrap();
    std::fs::write(files.join("image.txt"), format!("{repo}:{tag}\n")).unwrap();
    let tar = dir.join("layer.tar");
    run(Command::new("tar")
        .args([
            "--sort=name",
            "--mtime=@0",
            "--owner=0",
            "--group=0",
            "--numeric-owner",
        ])
        .arg("-cf")
        .arg(&tar)
        .arg("-C")
        .arg(&files)
        .arg("image.txt"));
    run(Command::new("gzip").args(["-n", "-k"]).arg(&tar));
    let layer = std::fs::read(dir.join("layer.tar.gz")).unwrap();
    let diff_id = sha256(&std::fs::read(&tar).unwrap());

    let layout = dir.join("layout");
    std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    let layer = blob(
        &layout,
        "application/vnd.oci.image.layer.v1.tar+gzip",
        &layer,
    );
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/image.txt"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    });
    let config = blob(
        &layout,
        "application/vnd.oci.image.config.v1+json",
        config.to_string().as_bytes(),
    );
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config,
        "layers": [layer],
    });
    let mut manifest = blob(
        &layout,
        "application/vnd.oci.image.manifest.v1+json",
        manifest.to_string().as_bytes(),
    );
    let digest = manifest["digest"].as_str().unwrap().to_owned();
    manifest["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
    let index = json!({"schemaVersion": 2, "manifests": [manifest]});
    std::fs::write(layout.join("index.json"), index.to_string()).unwrap();
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    digest
}

/// Runs a command that must succeed.
fn run(command: &mut Command) {
    let out = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{command:?} runs: {e}"));
    assert!(
        out.status.success(),
        "{command:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}
