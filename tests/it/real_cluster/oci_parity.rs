//! Which tag an OCIRepository follows, fledge's choice held to source-controller v1.9.6's on the
//! same objects and the same registry: each OCIRepository below is applied to the real API
//! server, where source-controller lists the loopback registry's tags and reports
//! `status.artifact.revision` (`<tag>@sha256:…`), or fails; fledge reads the same object with
//! its own parser, lists the tags with its own registry edge and chooses. Both must agree on
//! every reference, failures included.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::eventually::within;
use crate::support::flux;
use crate::support::registry;
use crate::support::testcluster::{TestCluster, or_skip};

/// Tags of every shape a range tells apart: with and without `v`, pre-releases, two parts, a
/// build stamp written with `_`, words.
const TAGS: &[&str] = &[
    "6.0.0",
    "6.2.0",
    "v6.3.0",
    "6.4",
    "6.5.0-rc.1",
    "6.6.0",
    "6.6.1_build",
    "7.0.0-alpha",
    "7.0.0",
    "latest",
    "main",
];

/// `(name, spec.ref)` of each OCIRepository.
fn references() -> Vec<(&'static str, Value)> {
    vec![
        ("any", json!({"semver": "*"})),
        ("six", json!({"semver": "6.x"})),
        ("below-seven", json!({"semver": ">=6.0.0 <7.0.0"})),
        ("pre", json!({"semver": ">=6.5.0-0 <7.0.0"})),
        ("pre-seven", json!({"semver": ">=7.0.0-0"})),
        ("tilde", json!({"semver": "~6.3"})),
        ("caret", json!({"semver": "^6.2.1"})),
        ("v-only", json!({"semver": "*", "semverFilter": "^v"})),
        (
            "filtered",
            json!({"semver": ">=6", "semverFilter": "^6\\.[0-4]"}),
        ),
        ("none", json!({"semver": ">=8.0.0"})),
        ("tag", json!({"tag": "main"})),
        ("latest", json!({})),
        ("tag-and-range", json!({"tag": "6.0.0", "semver": "6.2.x"})),
    ]
}

/// source-controller's verdict on `ns/name`: the tag of its artifact's revision, or its
/// `Ready` condition when it failed.
async fn flux_choice(c: &TestCluster, ns: &str, name: &str) -> Result<String, String> {
    let decided = |o: &Value| {
        o["status"]["artifact"]["revision"].is_string()
            || o["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| {
                    c["type"] == "Ready"
                        && c["status"] == "False"
                        && c["observedGeneration"] == o["metadata"]["generation"]
                })
    };
    let seen = within(
        Duration::from_secs(120),
        || async { c.get(&["ocirepository.source.toolkit.fluxcd.io", name, "-n", ns]) },
        |o| o.as_ref().is_some_and(decided),
    )
    .await
    .unwrap_or_else(|last| panic!("source-controller never decided {ns}/{name}: {last:?}"))
    .unwrap();
    match seen["status"]["artifact"]["revision"].as_str() {
        Some(r) => Ok(r.split('@').next().unwrap_or(r).to_owned()),
        None => Err(seen["status"]["conditions"].to_string()),
    }
}

/// fledge's choice for `repo` among `tags`: the tag, or why there is none.
fn fledge_choice(
    repo: &fledge::flux::oci::OciRepository,
    tags: &[String],
) -> Result<String, String> {
    use fledge::flux::oci::{Follow, highest};
    match repo.follows().map_err(|e| e.to_string())? {
        Follow::Digest(d) => Ok(d),
        Follow::Tag(t) => {
            if tags.contains(&t) {
                Ok(t)
            } else {
                Err(format!("no tag {t}"))
            }
        }
        Follow::Semver { range, filter, .. } => {
            highest(tags.iter().map(String::as_str), &range, filter.as_ref())
                .ok_or_else(|| "no tag in range".to_owned())
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn fledge_follows_the_tag_source_controller_follows_for_every_reference() {
    let Some(c) = or_skip() else { return };
    let Some(flux) = flux::or_skip(c).await else {
        return;
    };
    let Some(reg) = registry::or_skip().await else {
        return;
    };
    for tag in TAGS {
        reg.push_image("manifests", tag).await;
    }
    let ns = c.namespace("oci-parity");
    let url = format!("oci://{}/manifests", reg.addr());
    let access = fledge::registry::Access {
        insecure: true,
        timeout: Duration::from_secs(10),
        ..Default::default()
    };
    let image = format!("{}/manifests", reg.addr());
    let tags = fledge::registry::tags(&image, &access).await.unwrap();
    let mut disagreements = Vec::new();
    for (name, reference) in references() {
        let o = json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"url": url, "interval": "10m", "insecure": true, "ref": reference}});
        flux.apply(&o);
        let repo = fledge::flux::oci::OciRepository::parse(&o).unwrap();
        let ours = fledge_choice(&repo, &tags);
        let theirs = flux_choice(c, &ns, name).await;
        let agree = match (&ours, &theirs) {
            (Ok(a), Ok(b)) => a == b,
            (Err(_), Err(_)) => true,
            _ => false,
        };
        if !agree {
            disagreements.push(format!("{name}: fledge {ours:?}, Flux {theirs:?}"));
        }
    }
    assert!(
        disagreements.is_empty(),
        "fledge and source-controller disagree:\n{}\n{}",
        disagreements.join("\n"),
        flux.logs()
    );
}
