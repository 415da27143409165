//! Differential tests against the real thing: random overlays over a realistic base, rendered by
//! fledge and by `kubectl kustomize` (kustomize v5.5.0), must print the same bytes — or both
//! fail.

use std::fmt::Write as _;
use std::process::Command;

use proptest::prelude::*;

use super::{data_dir, repo_dir, tree};

const BASE: &[(&str, &str)] = &[
    (
        "base/kustomization.yaml",
        "resources:\n- deploy.yaml\n- svc.yaml\n- rbac.yaml\n- hpa.yaml\n- ingress.yaml\n- canary.yaml\nconfigMapGenerator:\n- name: cfg\n  literals:\n  - MODE=base\n  - LEVEL=info\n",
    ),
    (
        "base/deploy.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels:\n    app: web\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      serviceAccountName: web\n      containers:\n      - name: app\n        image: nginx:1.25\n        args: [\"--mode=$(MODE)\"]\n        env:\n        - name: A\n          value: \"1\"\n        envFrom:\n        - configMapRef:\n            name: cfg\n        volumeMounts:\n        - name: config\n          mountPath: /etc/cfg\n      - name: sidecar\n        image: busybox\n      volumes:\n      - name: config\n        configMap:\n          name: cfg\n",
    ),
    (
        "base/svc.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector:\n    app: web\n  ports:\n  - name: http\n    port: 80\n    targetPort: 8080\n",
    ),
    (
        "base/rbac.yaml",
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: web\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: reader\nrules:\n- apiGroups: [\"\"]\n  resources: [configmaps]\n  verbs: [get]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: web-reader\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n  name: reader\nsubjects:\n- kind: ServiceAccount\n  name: web\n- kind: ServiceAccount\n  name: default\n",
    ),
    (
        "base/hpa.yaml",
        "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: web\nspec:\n  scaleTargetRef:\n    apiVersion: apps/v1\n    kind: Deployment\n    name: web\n  minReplicas: 1\n  maxReplicas: 3\n",
    ),
    (
        "base/ingress.yaml",
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: web\nspec:\n  rules:\n  - host: web.example.com\n    http:\n      paths:\n      - path: /\n        pathType: Prefix\n        backend:\n          service:\n            name: web\n            port:\n              number: 80\n",
    ),
    (
        "base/canary.yaml",
        "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata:\n  name: web\nspec:\n  targetRef:\n    apiVersion: apps/v1\n    kind: Deployment\n    name: web\n  service:\n    port: 80\n  analysis:\n    interval: 1m\n    stepWeight: 10\n    metrics:\n    - name: request-success-rate\n      thresholdRange:\n        min: 99\n",
    ),
];

/// One random overlay: each field is a feature the overlay may use.
#[derive(Debug, Clone)]
struct Overlay {
    namespace: Option<&'static str>,
    prefix: Option<&'static str>,
    suffix: Option<&'static str>,
    common_labels: bool,
    labels: Option<(bool, bool)>,
    annotations: bool,
    image: Option<u8>,
    replicas: Option<u8>,
    cm_merge: Option<bool>,
    secret: bool,
    smp: Option<u8>,
    json6902: bool,
    selector_patch: bool,
    replacement: bool,
    var: bool,
    canary_patch: bool,
    disable_hash: bool,
}

fn overlay() -> impl Strategy<Value = Overlay> {
    let a = (
        prop::option::of(prop::sample::select(vec!["prod", "team-a", "default"])),
        prop::option::of(prop::sample::select(vec!["p-", "x1-"])),
        prop::option::of(prop::sample::select(vec!["-v2", "-s"])),
        any::<bool>(),
        prop::option::of((any::<bool>(), any::<bool>())),
        any::<bool>(),
        prop::option::of(0u8..3),
        prop::option::of(0u8..5),
    );
    let b = (
        prop::option::of(any::<bool>()),
        any::<bool>(),
        prop::option::of(0u8..3),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    );
    (a, b).prop_map(
        |(
            (namespace, prefix, suffix, common_labels, labels, annotations, image, replicas),
            (
                cm_merge,
                secret,
                smp,
                json6902,
                selector_patch,
                replacement,
                var,
                canary_patch,
                disable_hash,
            ),
        )| Overlay {
            namespace,
            prefix,
            suffix,
            common_labels,
            labels,
            annotations,
            image,
            replicas,
            cm_merge,
            secret,
            smp,
            json6902,
            selector_patch,
            replacement,
            var,
            canary_patch,
            disable_hash,
        },
    )
}

fn overlay_files(o: &Overlay) -> Vec<(String, String)> {
    let mut k = String::from("resources:\n- ../base\n");
    let mut files = Vec::new();
    if let Some(ns) = o.namespace {
        let _ = writeln!(k, "namespace: {ns}");
    }
    if let Some(p) = o.prefix {
        let _ = writeln!(k, "namePrefix: {p}");
    }
    if let Some(s) = o.suffix {
        let _ = writeln!(k, "nameSuffix: {s}");
    }
    if o.common_labels {
        k.push_str("commonLabels:\n  team: blue\n  tier: \"1\"\n");
    }
    if let Some((sel, tmpl)) = o.labels {
        let _ = write!(
            k,
            "labels:\n- pairs:\n    env: test\n  includeSelectors: {sel}\n  includeTemplates: {tmpl}\n"
        );
    }
    if o.annotations {
        k.push_str("commonAnnotations:\n  owner: \"platform team\"\n  note: \"yes\"\n");
    }
    match o.image {
        Some(0) => k.push_str("images:\n- name: nginx\n  newTag: \"1.26\"\n"),
        Some(1) => k.push_str("images:\n- name: nginx\n  newName: registry.example.com:5000/nginx\n"),
        Some(_) => k.push_str("images:\n- name: busybox\n  digest: sha256:24a0c4b4a4c0eb97a1aabb8e29f18e917d05abfe1b7a7c07857230879ce7d3d3\n"),
        None => {}
    }
    if let Some(n) = o.replicas {
        let _ = write!(k, "replicas:\n- name: web\n  count: {n}\n");
    }
    match o.cm_merge {
        Some(true) => k.push_str(
            "configMapGenerator:\n- name: cfg\n  behavior: merge\n  literals:\n  - MODE=overlay\n",
        ),
        Some(false) => k.push_str(
            "configMapGenerator:\n- name: cfg\n  behavior: replace\n  literals:\n  - ONLY=this\n",
        ),
        None => {}
    }
    if o.secret {
        k.push_str(
            "secretGenerator:\n- name: creds\n  literals:\n  - password=s3cr3t\n  type: Opaque\n",
        );
    }
    if o.disable_hash {
        k.push_str("generatorOptions:\n  disableNameSuffixHash: true\n");
    }
    let mut patches = String::new();
    match o.smp {
        Some(0) => {
            patches.push_str("- path: add-env.yaml\n");
            files.push(("overlay/add-env.yaml".into(), "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        env:\n        - name: B\n          value: two\n        - name: A\n          value: one\n      - name: logger\n        image: fluentbit:2\n".into()));
        }
        Some(1) => patches.push_str("- patch: |-\n    apiVersion: apps/v1\n    kind: Deployment\n    metadata:\n      name: web\n    spec:\n      template:\n        spec:\n          containers:\n          - name: sidecar\n            $patch: delete\n"),
        Some(_) => patches.push_str("- patch: |-\n    apiVersion: v1\n    kind: Service\n    metadata:\n      name: web\n    spec:\n      ports:\n      - port: 80\n        targetPort: 9090\n      - name: metrics\n        port: 9797\n"),
        None => {}
    }
    if o.json6902 {
        patches.push_str("- target:\n    kind: Service\n  patch: |-\n    - op: add\n      path: /metadata/annotations\n      value: {patched: \"true\"}\n");
    }
    if o.selector_patch {
        patches.push_str("- target:\n    labelSelector: app=web\n  patch: |-\n    - op: add\n      path: /metadata/labels/selected\n      value: \"yes\"\n");
    }
    if o.canary_patch {
        patches.push_str("- patch: |-\n    apiVersion: flagger.app/v1beta1\n    kind: Canary\n    metadata:\n      name: web\n    spec:\n      analysis:\n        stepWeight: 25\n        metrics:\n        - name: request-duration\n          thresholdRange:\n            max: 500\n");
    }
    if !patches.is_empty() {
        k.push_str("patches:\n");
        k.push_str(&patches);
    }
    if o.replacement {
        k.push_str("replacements:\n- source:\n    kind: Deployment\n    name: web\n    fieldPath: spec.template.spec.containers.[name=app].image\n    options:\n      delimiter: \":\"\n      index: 1\n  targets:\n  - select:\n      kind: Service\n    fieldPaths:\n    - metadata.annotations.version\n    options:\n      create: true\n");
    }
    if o.var {
        k.push_str("vars:\n- name: MODE\n  objref:\n    apiVersion: v1\n    kind: Service\n    name: web\n  fieldref:\n    fieldpath: metadata.name\n");
    }
    files.push(("overlay/kustomization.yaml".into(), k));
    files
}

fn kubectl_kustomize(dir: &std::path::Path) -> Result<String, String> {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .expect("kubectl is on this machine kind (it ships kustomize v5.5.0); install kubectl to run this test");
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Builds `files` (plus the base) with both tools: equal bytes, or both failing.
fn compare(extra: &[(String, String)], what: &dyn std::fmt::Debug) -> Result<(), TestCaseError> {
    let mut all: Vec<(&str, &str)> = BASE.to_vec();
    all.extend(extra.iter().map(|(p, c)| (p.as_str(), c.as_str())));
    let t = tree(&all);
    let theirs = kubectl_kustomize(&t.path().join("overlay"));
    let ours = fledge_build(t.path());
    match (&theirs, &ours) {
        (Ok(a), Ok(b)) => prop_assert_eq!(a, b, "layout: {:?}", what),
        (Err(_), Err(_)) => {}
        _ => prop_assert!(
            false,
            "one failed, one did not: {:?}\nkustomize: {:?}\nfledge: {:?}",
            what,
            theirs,
            ours
        ),
    }
    Ok(())
}

fn fledge_build(dir: &std::path::Path) -> Result<String, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_fledge"))
        .arg("build")
        .arg(dir.join("overlay"))
        .arg("--root")
        .arg(dir)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_overlays_match_kubectl_kustomize(o in overlay()) {
        compare(&overlay_files(&o), &o)?;
    }
}

#[test]
fn example_overlays_match_kubectl_kustomize() {
    for env in ["base", "staging", "production"] {
        let dir = repo_dir().join("examples/repo-layout").join(env);
        let theirs = kubectl_kustomize(&dir).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_fledge"))
            .arg("build")
            .arg(&dir)
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_eq!(theirs, String::from_utf8(out.stdout).unwrap(), "{env}");
    }
}

/// A two-level layout: the base included twice through variants `a` and `b`, an optional
/// component, and a top overlay over both.
#[derive(Debug, Clone)]
struct Layers {
    a_prefix: Option<&'static str>,
    a_namespace: Option<&'static str>,
    a_component: bool,
    b: Option<(
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
    )>,
    top_prefix: Option<&'static str>,
    top_namespace: Option<&'static str>,
    top_labels: bool,
    top_cm_merge: bool,
}

fn layers() -> impl Strategy<Value = Layers> {
    (
        prop::option::of(prop::sample::select(vec!["a-", "x-"])),
        prop::option::of(prop::sample::select(vec!["ns-a", "shared"])),
        any::<bool>(),
        prop::option::of((
            prop::option::of(prop::sample::select(vec!["b-", "x-"])),
            prop::option::of(prop::sample::select(vec!["-b", "-v1"])),
            prop::option::of(prop::sample::select(vec!["ns-b", "shared"])),
        )),
        prop::option::of(prop::sample::select(vec!["top-"])),
        prop::option::of(prop::sample::select(vec!["prod"])),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(
                a_prefix,
                a_namespace,
                a_component,
                b,
                top_prefix,
                top_namespace,
                top_labels,
                top_cm_merge,
            )| Layers {
                a_prefix,
                a_namespace,
                a_component,
                b,
                top_prefix,
                top_namespace,
                top_labels,
                top_cm_merge,
            },
        )
}

fn layer_files(l: &Layers) -> Vec<(String, String)> {
    let mut files = vec![(
        "comp/kustomization.yaml".to_owned(),
        "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nconfigMapGenerator:\n- name: extra\n  literals:\n  - FEATURE=on\npatches:\n- patch: |-\n    apiVersion: apps/v1\n    kind: Deployment\n    metadata:\n      name: web\n    spec:\n      template:\n        spec:\n          containers:\n          - name: app\n            envFrom:\n            - configMapRef:\n                name: extra\n".to_owned(),
    )];
    let mut a = String::from("resources:\n- ../base\n");
    if let Some(p) = l.a_prefix {
        let _ = writeln!(a, "namePrefix: {p}");
    }
    if let Some(ns) = l.a_namespace {
        let _ = writeln!(a, "namespace: {ns}");
    }
    if l.a_component {
        a.push_str("components:\n- ../comp\n");
    }
    files.push(("a/kustomization.yaml".into(), a));
    let mut top = String::from("resources:\n- ../a\n");
    if let Some((prefix, suffix, ns)) = l.b {
        let mut b = String::from("resources:\n- ../base\n");
        if let Some(p) = prefix {
            let _ = writeln!(b, "namePrefix: {p}");
        }
        if let Some(s) = suffix {
            let _ = writeln!(b, "nameSuffix: {s}");
        }
        if let Some(ns) = ns {
            let _ = writeln!(b, "namespace: {ns}");
        }
        files.push(("b/kustomization.yaml".into(), b));
        top.push_str("- ../b\n");
    }
    if let Some(p) = l.top_prefix {
        let _ = writeln!(top, "namePrefix: {p}");
    }
    if let Some(ns) = l.top_namespace {
        let _ = writeln!(top, "namespace: {ns}");
    }
    if l.top_labels {
        top.push_str("labels:\n- pairs:\n    layer: top\n  includeSelectors: true\n");
    }
    if l.top_cm_merge {
        top.push_str(
            "configMapGenerator:\n- name: cfg\n  behavior: merge\n  literals:\n  - LEVEL=debug\n",
        );
    }
    files.push(("overlay/kustomization.yaml".into(), top));
    files
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn layered_overlays_match_kubectl_kustomize(l in layers()) {
        compare(&layer_files(&l), &l)?;
    }
}

/// Inputs at the edges of YAML and of the kustomization format (`tests/data/kubectl-edge-cases`,
/// one kustomization per folder): each built by both tools must print the same bytes, or make
/// both fail. Where kubectl refuses, fledge's error must name a file of the case, so that a
/// refusal for an unrelated reason does not pass.
#[test]
fn edge_cases_match_kubectl_kustomize() {
    let root = data_dir().join("kubectl-edge-cases");
    let mut cases: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 9, "{cases:?}");
    let mut wrong = Vec::new();
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let theirs = kubectl_kustomize(case);
        let out = Command::new(env!("CARGO_BIN_EXE_fledge"))
            .arg("build")
            .arg(case)
            .arg("--root")
            .arg(case)
            .output()
            .unwrap();
        let ours = if out.status.success() {
            Ok(String::from_utf8(out.stdout).unwrap())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        };
        let agree = match (&theirs, &ours) {
            (Ok(a), Ok(b)) => a == b,
            (Err(_), Err(e)) => std::fs::read_dir(case)
                .unwrap()
                .any(|f| e.contains(&*f.unwrap().file_name().to_string_lossy())),
            _ => false,
        };
        if !agree {
            wrong.push(format!("{name}:\nkubectl: {theirs:?}\nfledge:  {ours:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}

/// `overlays` as one tree: each overlay of `overlay_files` under `o<i>/`, wrapped in `w<i>/`
/// (its own namespace, so that the overlays' objects do not collide), all resources of the
/// top kustomization, which renders them in parallel.
fn overlay_set(overlays: &[Overlay]) -> fledge::render::MemFiles {
    let mut files = fledge::render::MemFiles::new();
    for (path, contents) in BASE {
        files.insert(path, *contents);
    }
    let mut top = String::from("resources:\n");
    for (i, o) in overlays.iter().enumerate() {
        // A var's name is global to the build: only the first overlay may declare one.
        let o = Overlay {
            var: o.var && i == 0,
            ..o.clone()
        };
        for (path, contents) in overlay_files(&o) {
            files.insert(&path.replacen("overlay/", &format!("o{i}/"), 1), contents);
        }
        files.insert(
            &format!("w{i}/kustomization.yaml"),
            format!("resources:\n- ../o{i}\nnamespace: ns{i}\n"),
        );
        let _ = writeln!(top, "- w{i}");
    }
    files.insert("top/kustomization.yaml", top.replace("- w", "- ../w"));
    files
}

/// Renders `top/` on a pool of `threads` threads: the printed stream, or the error.
fn render_on(files: &fledge::render::MemFiles, threads: usize) -> Result<String, String> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        fledge::render::render(files, "top")
            .map(|objects| fledge::render::yaml::emit_stream(&objects))
            .map_err(|e| e.to_string())
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Rendering in parallel changes nothing: the same bytes in the same order (or the same
    /// error) on one thread as on four.
    #[test]
    fn random_overlay_sets_render_the_same_on_one_thread_and_on_four(
        overlays in prop::collection::vec(overlay(), 2..6)
    ) {
        let files = overlay_set(&overlays);
        let one = render_on(&files, 1);
        prop_assert_eq!(&one, &render_on(&files, 4), "overlays: {:?}", overlays);
        let both = one.as_ref().map_or(0, |s| s.matches("\nkind: Deployment\n").count());
        prop_assert!(one.is_ok() && both == overlays.len(), "{:?}", one);
    }
}
