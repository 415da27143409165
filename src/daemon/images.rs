//! Image automation, as Flux's image-reflector-controller and image-automation-controller do it
//! together: each `ImageRepository` of the commit is scanned at its interval (tags listed from
//! its registry, with the credentials of its `kubernetes.io/dockerconfigjson` Secret); each
//! `ImageUpdateAutomation` then takes, for every `ImagePolicy` it selects, the latest tag (its
//! digest too when the policy reflects one), applies the setters to the files under its path on
//! its branch and pushes one commit, whose message is its template rendered as Flux renders it.
//!
//! The commit is a proposal like a person's: fledge's rollout takes it through a canary, and a
//! canary that fails reverts it and records the failed images under `.fledge/failed/` on the
//! tracked branch. A tag recorded there is never chosen again (Flux's automation would push it
//! again at its next interval, undoing the rollback); a person allows it by deleting the entry.
//!
//! Only the GitRepository fledge runs on is updated: an automation naming another fails,
//! saying so. Errors go to the log and, once each, to the global alerts.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::context::Context;
use super::shared::{ImageWorld, World};
use crate::flux::Id;
use crate::flux::image::{ImagePolicy, ImageRepository, ImageUpdateAutomation, Images, Reflect};
use crate::helm::{MessageChange, MessageRequest, NamespacedName};
use crate::registry::{self, Access};
use crate::release::spec::Severity;
use crate::report::alerts::Alert;
use crate::rollout::targets::ClusterData;
use crate::writeback::setters::{self, Setters};
use crate::writeback::sign::CommitSigner;
use crate::writeback::{Also, AlsoSource, Change, GitWriter, Target, WriterConfig, Written};

/// A write's error, naming the field it comes from where it is one of the push's.
fn pushed_error(a: &ImageUpdateAutomation, e: &crate::writeback::Error) -> String {
    let text = e.to_string();
    match e {
        crate::writeback::Error::AlsoRefused { .. } => format!("spec.git.push.refspec: {text}"),
        _ if !a.push_options.is_empty() && text.contains("push options") => {
            format!("spec.git.push.options: {text}")
        }
        _ => text,
    }
}

/// How often the task looks for what is due.
const STEP: Duration = Duration::from_secs(1);

/// One scan of an image repository.
struct Scan {
    at: Instant,
    /// The repository as scanned: a changed spec scans again at once.
    spec: ImageRepository,
    tags: Result<Vec<String>, String>,
}

/// The image automation task.
pub struct Automation {
    /// The tracked repository's writer settings (the author is each automation's).
    writer: WriterConfig,
    /// The branch fledge tracks: an automation's checkout branch when it names none.
    branch: String,
    cluster: Arc<dyn ClusterData>,
    engine: Result<crate::helm::engine::Engine, String>,
    ctx: Context,
    scans: BTreeMap<Id, Scan>,
    /// Bumped whenever a scan's tags change: automations run again at once.
    generation: u64,
    /// When each automation last ran, and at which generation.
    runs: BTreeMap<Id, (Instant, u64)>,
    /// Digests read, by `name:tag` (kept for `IfNotPresent`).
    digests: BTreeMap<String, String>,
    /// Errors alerted, so that each is alerted once.
    alerted: BTreeSet<String>,
}

impl Automation {
    #[must_use]
    pub fn new(
        writer: WriterConfig,
        branch: String,
        helm_engine: Option<std::path::PathBuf>,
        ctx: Context,
    ) -> Self {
        Self {
            writer: WriterConfig {
                cache_dir: writer.cache_dir.join("images"),
                side_branch_on_refusal: false,
                ..writer
            },
            branch,
            cluster: ctx.env.cluster.clone(),
            engine: crate::helm::engine::Engine::locate(helm_engine),
            ctx,
            scans: BTreeMap::new(),
            generation: 0,
            runs: BTreeMap::new(),
            digests: BTreeMap::new(),
            alerted: BTreeSet::new(),
        }
    }

    /// Scans and updates whatever is due, until `shutdown`.
    pub async fn run(mut self, mut world: watch::Receiver<World>, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return,
                r = world.changed() => if r.is_err() { return },
                () = tokio::time::sleep(STEP) => {}
            }
            let w = world.borrow_and_update().images.clone();
            if w.images.is_empty() {
                continue;
            }
            self.scan_due(&w.images).await;
            self.update_due(&w).await;
        }
    }

    /// Scans every image repository whose interval passed (or whose spec changed).
    async fn scan_due(&mut self, images: &Images) {
        for r in images.repositories.values().filter_map(|r| r.as_ref().ok()) {
            let due = self
                .scans
                .get(&r.id)
                .is_none_or(|s| s.spec != *r || s.at.elapsed() >= r.interval);
            if r.suspend || !due {
                continue;
            }
            let tags = self.tags(r).await;
            if let Err(e) = &tags {
                self.problem(format!("ImageRepository {}: {e}", r.id));
            }
            let changed = self.scans.get(&r.id).is_none_or(|s| s.tags != tags);
            if changed {
                self.generation += 1;
                if let Ok(t) = &tags {
                    info!(repository = %r.id, image = %r.image, tags = t.len(), "image repository scanned");
                }
            }
            self.scans.insert(
                r.id.clone(),
                Scan {
                    at: Instant::now(),
                    spec: r.clone(),
                    tags,
                },
            );
        }
    }

    /// The tags of `r`'s image, with its Secrets' credentials.
    async fn tags(&self, r: &ImageRepository) -> Result<Vec<String>, String> {
        let access = self.access(r).await?;
        registry::tags(&r.image, &access)
            .await
            .map_err(|e| e.message)
    }

    /// How to reach `r`'s registry: `spec.secretRef` (`.dockerconfigjson`), `spec.certSecretRef`
    /// (`ca.crt`), `spec.insecure`, `spec.timeout`.
    async fn access(&self, r: &ImageRepository) -> Result<Access, String> {
        let mut access = Access {
            insecure: r.insecure,
            timeout: r.timeout,
            ..Access::default()
        };
        if let Some(name) = &r.secret {
            let data = self.secret(&r.id.namespace, name, "spec.secretRef").await?;
            let config = data.get(".dockerconfigjson").ok_or_else(|| {
                format!("spec.secretRef: Secret {}/{name} has no `.dockerconfigjson` (create it with `kubectl create secret docker-registry`)", r.id.namespace)
            })?;
            access.basic = registry::docker_credentials(config, &registry::registry_of(&r.image))
                .map_err(|e| {
                format!("spec.secretRef: Secret {}/{name}: {e}", r.id.namespace)
            })?;
        }
        if let Some(name) = &r.cert_secret {
            let data = self
                .secret(&r.id.namespace, name, "spec.certSecretRef")
                .await?;
            if data.contains_key("tls.crt") {
                return Err(format!(
                    "spec.certSecretRef: Secret {}/{name}: client certificates (tls.crt, tls.key) are not supported yet; keep ca.crt only",
                    r.id.namespace
                ));
            }
            access.ca = data.get("ca.crt").cloned();
        }
        Ok(access)
    }

    /// A Secret's data, decoded ([`crate::object::secret_bytes`]).
    async fn secret(
        &self,
        namespace: &str,
        name: &str,
        field: &str,
    ) -> Result<BTreeMap<String, Vec<u8>>, String> {
        let (cluster, ns, n) = (self.cluster.clone(), namespace.to_owned(), name.to_owned());
        let object = tokio::task::spawn_blocking(move || cluster.object("Secret", &ns, &n))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("{field}: {e}"))?
            .ok_or_else(|| format!("{field}: Secret {namespace}/{name} does not exist"))?;
        crate::object::secret_bytes(&object).map_err(|e| format!("{field}: {e}"))
    }

    /// Runs every automation whose interval passed or whose policies' tags changed.
    async fn update_due(&mut self, w: &ImageWorld) {
        for a in w.images.automations.values() {
            let a = match a {
                Ok(a) => a,
                Err(e) => {
                    self.problem(format!("ImageUpdateAutomation {e}"));
                    continue;
                }
            };
            let due = self.runs.get(&a.id).is_none_or(|(at, generation)| {
                *generation != self.generation || at.elapsed() >= a.interval
            });
            if a.suspend || !due {
                continue;
            }
            self.runs
                .insert(a.id.clone(), (Instant::now(), self.generation));
            if let Err(e) = self.update(a, w).await {
                self.problem(format!("ImageUpdateAutomation {}: {e}", a.id));
            }
        }
    }

    /// The setters of the policies `a` selects: each policy's latest tag, never one whose
    /// canary failed (`failed`: images `name:tag`).
    async fn setters(
        &mut self,
        a: &ImageUpdateAutomation,
        w: &ImageWorld,
        failed: &BTreeSet<String>,
    ) -> Setters {
        let mut setters = Setters::default();
        let policies: Vec<&ImagePolicy> = w
            .images
            .policies
            .values()
            .filter_map(|p| p.as_ref().ok())
            .filter(|p| a.selects(p) && !p.suspend)
            .collect();
        for p in policies {
            let Some(scan) = self.scans.get(&p.repository) else {
                self.problem(format!("ImagePolicy {}: spec.imageRepositoryRef: ImageRepository {} is not in the repository (or not scanned yet)", p.id, p.repository));
                continue;
            };
            let (Ok(tags), spec) = (scan.tags.clone(), scan.spec.clone()) else {
                continue;
            };
            let image = spec.image.clone();
            let refused: BTreeSet<String> = tags
                .iter()
                .filter(|t| failed.contains(&registry::normal(&format!("{image}:{t}"))))
                .cloned()
                .collect();
            let kept = spec.kept(&tags);
            let tag = match p.latest(&kept, &refused) {
                Ok(Some(t)) => t,
                Ok(None) => {
                    self.problem(format!("ImagePolicy {}: no tag of {image} qualifies", p.id));
                    continue;
                }
                Err(e) => {
                    self.problem(format!("ImagePolicy {}: {e}", p.id));
                    continue;
                }
            };
            let digest = match self.digest(p, &spec, &tag).await {
                Ok(d) => d,
                Err(e) => {
                    self.problem(format!("ImagePolicy {}: {e}", p.id));
                    continue;
                }
            };
            setters.add(&p.id.namespace, &p.id.name, &image, &tag, digest.as_deref());
        }
        setters
    }

    /// The digest of `image:tag` when `p` reflects one (`IfNotPresent` reads it once).
    async fn digest(
        &mut self,
        p: &ImagePolicy,
        r: &ImageRepository,
        tag: &str,
    ) -> Result<Option<String>, String> {
        let key = format!("{}:{tag}", r.image);
        match (p.reflect, self.digests.get(&key)) {
            (Reflect::Never, _) => return Ok(None),
            (Reflect::IfNotPresent, Some(d)) => return Ok(Some(d.clone())),
            _ => {}
        }
        let access = self.access(r).await?;
        let d = registry::digest(&r.image, tag, &access)
            .await
            .map_err(|e| e.message)?;
        self.digests.insert(key, d.clone());
        Ok(Some(d))
    }

    /// Applies `a`'s setters to its push branch and pushes the commit, when anything changes.
    async fn update(&mut self, a: &ImageUpdateAutomation, w: &ImageWorld) -> Result<(), String> {
        if w.repository.as_ref() != Some(&a.source) {
            return Err(format!(
                "spec.sourceRef: fledge updates the GitRepository it runs on ({}), not GitRepository {}",
                w.repository
                    .as_ref()
                    .map_or_else(|| "none".to_owned(), ToString::to_string),
                a.source
            ));
        }
        let target = self.target(a)?;
        let signer = match &a.signing_key {
            Some(name) => Some(Arc::new(self.signer(a, name).await?)),
            None => None,
        };
        let git = GitWriter::open(WriterConfig {
            author_name: a.author_name.clone(),
            author_email: a.author_email.clone(),
            signer,
            ..self.writer.clone()
        })
        .map_err(|e| e.to_string())?;
        let (snap, failed) = self.base(&git, &target).await?;
        let setters = self.setters(a, w, &failed).await;
        if setters.is_empty() {
            return Ok(());
        }
        let (updated, problems) = setters::update_tree(snap.files.iter(), &a.path, &setters);
        for f in problems {
            warn!(automation = %a.id, file = %f, "the file holds an image policy marker but is not YAML; left alone");
        }
        if updated.is_empty() {
            return Ok(());
        }
        let message = self.message(a, &updated)?;
        let change = Change::Setters {
            path: a.path.clone(),
            setters,
            message,
        };
        match git
            .write_to(&target, &change, "image-update")
            .await
            .map_err(|e| pushed_error(a, &e))?
        {
            Written::Pushed { branch, commit } => {
                let files: Vec<&str> = updated.iter().map(|(f, _)| f.as_str()).collect();
                info!(automation = %a.id, branch, commit = %commit, files = ?files, "image update pushed");
            }
            Written::Unchanged | Written::SideBranch { .. } => {}
        }
        Ok(())
    }

    /// Where `a` pushes, as image-automation-controller v1.2.0 does: the push branch (the
    /// checkout branch when none is given), created from the checkout branch when it does not
    /// exist; then the refspec, from the push branch (the new commit) or the checkout branch
    /// (its head); the push options with both.
    fn target(&self, a: &ImageUpdateAutomation) -> Result<Target, String> {
        let checkout = a.checkout.clone().unwrap_or_else(|| self.branch.clone());
        let push = a.push.clone().unwrap_or_else(|| checkout.clone());
        let also = match &a.refspec {
            None => None,
            Some(r) if r.source_branch == push => Some(Also {
                source: AlsoSource::Commit,
                dst: r.dst.clone(),
            }),
            Some(r) if r.source_branch == checkout => Some(Also {
                source: AlsoSource::From,
                dst: r.dst.clone(),
            }),
            Some(r) => {
                return Err(format!(
                    "spec.git.push.refspec: the source refs/heads/{} is neither the push branch ({push}) nor the checkout branch ({checkout}); image-automation-controller's clone has no other branch to push",
                    r.source_branch
                ));
            }
        };
        Ok(Target {
            from: (push != checkout).then_some(checkout),
            branch: push,
            also,
            options: a.push_options.clone(),
        })
    }

    /// The files the setters apply to — the push branch's, or the checkout branch's while the
    /// push branch does not exist — and the images whose canary failed: those recorded in those
    /// files and on the branch fledge tracks, where a failed canary records them (so a push
    /// branch behind it never brings a failed tag back).
    async fn base(
        &self,
        git: &GitWriter,
        target: &Target,
    ) -> Result<(crate::source::Snapshot, BTreeSet<String>), String> {
        let read = |repo: &git2::Repository, head| {
            crate::source::read_tree(repo, head).map_err(|e| crate::writeback::Error::Git {
                message: e.to_string(),
            })
        };
        let (snap, from) = match (git.inspect(&target.branch, read).await, &target.from) {
            (Err(crate::writeback::Error::NoBranch { .. }), Some(from)) => {
                (git.inspect(from, read).await, from.as_str())
            }
            (r, _) => (r, target.branch.as_str()),
        };
        let snap = snap.map_err(|e| e.to_string())?;
        let mut failed = crate::writeback::record::failed_images(snap.files.iter());
        if from != self.branch {
            let tracked = git
                .inspect(&self.branch, read)
                .await
                .map_err(|e| format!("reading the failure records of {}: {e}", self.branch))?;
            failed.extend(crate::writeback::record::failed_images(
                tracked.files.iter(),
            ));
        }
        let failed = failed.iter().map(|i| registry::normal(i)).collect();
        Ok((snap, failed))
    }

    /// The signer of `spec.git.commit.signingKey`: the OpenPGP key in `git.asc` of the Secret
    /// `name` in `a`'s namespace, unlocked by its `passphrase`.
    async fn signer(&self, a: &ImageUpdateAutomation, name: &str) -> Result<CommitSigner, String> {
        let field = "spec.git.commit.signingKey.secretRef";
        let ns = &a.id.namespace;
        let data = self.secret(ns, name, field).await?;
        let key = data.get("git.asc").ok_or_else(|| {
            format!("{field}: Secret {ns}/{name} has no `git.asc` (an ASCII-armored OpenPGP private key)")
        })?;
        CommitSigner::new(key, data.get("passphrase").map(Vec::as_slice))
            .map_err(|e| format!("{field}: Secret {ns}/{name}: the key in `git.asc` {e}"))
    }

    /// The commit message: `a`'s template (Flux's default message when it has none), rendered
    /// by Helm's engine as Flux renders it.
    fn message(
        &self,
        a: &ImageUpdateAutomation,
        updated: &[(String, setters::Updated)],
    ) -> Result<String, String> {
        let Some(template) = &a.message_template else {
            return Ok("Update from image update automation".to_owned());
        };
        let engine = self.engine.as_ref().map_err(|e| {
            format!("spec.git.commit.messageTemplate is a Go template, which fledge renders with Helm's engine: {e}")
        })?;
        let changes = updated
            .iter()
            .flat_map(|(file, u)| {
                u.changes.iter().map(move |c| MessageChange {
                    file: file.clone(),
                    object: BTreeMap::from([
                        ("apiVersion", c.object.api_version.clone()),
                        ("kind", c.object.kind.clone()),
                        ("name", c.object.name.clone()),
                        ("namespace", c.object.namespace.clone()),
                    ]),
                    old_value: c.old.clone(),
                    new_value: c.new.clone(),
                    setter: c.setter.clone(),
                })
            })
            .collect();
        engine
            .message(&MessageRequest {
                template: template.clone(),
                automation_object: NamespacedName {
                    namespace: a.id.namespace.clone(),
                    name: a.id.name.clone(),
                },
                changes,
                values: a.template_values.clone(),
            })
            .map_err(|e| format!("spec.git.commit.messageTemplate: {e}"))
    }

    /// Logs a problem, and alerts it the first time.
    fn problem(&mut self, message: String) {
        warn!("{message}");
        if self.alerted.insert(message.clone()) {
            self.ctx.alert_global(Alert {
                object: "image automation".into(),
                message,
                severity: Severity::Error,
                fields: Vec::new(),
            });
        }
    }
}
