//! The install steps of docs/install.md ("Installing", "Upgrading"), run as written on the real
//! API server: deploy/ first (it brings the Namespace), then the credentials Secret from files,
//! then an upgrade that applies deploy/ again and leaves every key of the Secret as it was.

use std::collections::BTreeMap;
use std::process::Command;

use base64::Engine as _;
use serde_json::Value;

use crate::repo_dir;
use crate::support::testcluster::{TestCluster, or_skip};

/// The `sh` code blocks of docs/install.md's section `## {heading}` that run kubectl, in order.
fn kubectl_blocks(heading: &str) -> Vec<String> {
    let page = std::fs::read_to_string(repo_dir().join("docs/install.md")).unwrap();
    let section = page
        .split(&format!("\n## {heading}\n"))
        .nth(1)
        .unwrap_or_else(|| panic!("docs/install.md has the section `## {heading}`"))
        .split("\n## ")
        .next()
        .unwrap();
    section
        .split("```sh\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap().to_owned())
        .filter(|b| b.contains("kubectl"))
        .collect()
}

/// Runs one block of docs/install.md with bash, as a person would paste it: from the
/// repository's root, with kubectl pointed at the test cluster and `CREDENTIALS` at
/// `credentials`.
fn run(block: &str, kubeconfig: &std::path::Path, credentials: &std::path::Path) {
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", block])
        .current_dir(repo_dir())
        .env("KUBECONFIG", kubeconfig)
        .env("CREDENTIALS", credentials)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{block}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The data of the Secret fledge-credentials, decoded.
fn credentials_secret(c: &TestCluster) -> BTreeMap<String, Vec<u8>> {
    let text = c.kubectl(&[
        "get",
        "secret",
        "fledge-credentials",
        "-n",
        "fledge-system",
        "-o",
        "json",
    ]);
    let secret: Value = serde_json::from_str(&text).unwrap();
    secret["data"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(v.as_str().unwrap())
                .unwrap();
            (k.clone(), bytes)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_install_steps_work_on_a_fresh_cluster_and_an_upgrade_keeps_the_credentials() {
    let Some(c) = or_skip() else { return };
    let (installs, upgrades) = (kubectl_blocks("Installing"), kubectl_blocks("Upgrading"));
    let ([install], [upgrade]) = (&installs[..], &upgrades[..]) else {
        panic!("one install block and one upgrade block: {installs:#?} {upgrades:#?}");
    };
    // The four files, each with bytes a careless copy would change: no trailing newline,
    // several, every byte value.
    let dir = tempfile::tempdir().unwrap();
    let files: BTreeMap<&str, Vec<u8>> = [
        ("identity", b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----\n".to_vec()),
        ("known_hosts", b"github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n\n".to_vec()),
        ("forge-token", b"ghp_t0ken".to_vec()),
        ("webhook-secret", (0..=255u8).collect()),
    ]
    .into();
    for (name, bytes) in &files {
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    let expected: BTreeMap<String, Vec<u8>> = files
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    run(install, &c.kubeconfig(), dir.path());
    assert_eq!(credentials_secret(c), expected, "the Secret as created");
    // The Deployment mounts that Secret.
    let volumes = c.jsonpath(
        "deployment/fledge",
        "fledge-system",
        "{.spec.template.spec.volumes[*].secret.secretName}",
    );
    assert_eq!(volumes.trim(), "fledge-credentials");
    // An upgrade, twice: the keys survive byte for byte.
    for _ in 0..2 {
        run(upgrade, &c.kubeconfig(), dir.path());
        assert_eq!(
            credentials_secret(c),
            expected,
            "the Secret after an upgrade"
        );
    }
}
