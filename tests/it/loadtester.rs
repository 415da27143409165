//! `fledge loadtester` against Flagger's flagger-loadtester v1.36.1: the same requests (gates,
//! rollback gates, `bash` tasks that succeed, fail and time out, `helm` and `kubectl` tasks,
//! background `cmd` tasks, unknown types, malformed payloads, a refused namespace) get the same
//! status codes and bodies from both, except where Flagger's server panics. And the built-in
//! `hey`: the requests it makes, counted by a local server.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fledge::loadtester::hey::{Builtin, Invocation};

use crate::support::eventually;
use crate::support::loadtester::{LoadTester, or_skip};

/// Both servers' flags: tasks killed after 2s, payloads only from namespace `test`.
const FLAGGER_FLAGS: [&str; 4] = ["-timeout", "2s", "-namespace-regexp", "^test$"];
const FLEDGE_FLAGS: [&str; 4] = ["--timeout", "2s", "--namespace-regexp", "^test$"];

fn payload(name: &str, namespace: &str, metadata: &str) -> String {
    format!(
        r#"{{"name":"{name}","namespace":"{namespace}","phase":"Progressing","checksum":"abc","metadata":{metadata}}}"#
    )
}

/// Requests both must answer alike, in order: (method, path, body).
fn same_answers() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let mut requests: Vec<_> = requests()
        .into_iter()
        .map(|(m, p, b)| (m, p, b.into_bytes()))
        .collect();
    // Go's decoder: invalid UTF-8 becomes U+FFFD; of two keys for a field (matched regardless of
    // case), the later wins.
    requests.extend([
        (
            "POST",
            "/gate/open",
            b"{\"name\":\"x\xff\",\"namespace\":\"test\"}".to_vec(),
        ),
        (
            "POST",
            "/gate/check",
            b"{\"name\":\"x\xff\",\"namespace\":\"test\"}".to_vec(),
        ),
        (
            "POST",
            "/gate/open",
            br#"{"name":"c","NAME":"d","Namespace":"test"}"#.to_vec(),
        ),
        (
            "POST",
            "/gate/check",
            br#"{"name":"d","namespace":"test"}"#.to_vec(),
        ),
        (
            "POST",
            "/gate/check",
            br#"{"name":"c","namespace":"test"}"#.to_vec(),
        ),
        (
            "POST",
            "/gate/check",
            br#"{"name":"d","namespace":"test","name":null}"#.to_vec(),
        ),
    ]);
    requests
}

fn requests() -> Vec<(&'static str, &'static str, String)> {
    let a = payload("a", "test", "{}");
    let b = payload("b", "test", "{}");
    let other = payload("a", "other", "{}");
    let task = |m: &str| payload("podinfo", "test", m);
    vec![
        ("GET", "/healthz", String::new()),
        ("POST", "/gate/approve", String::new()),
        ("POST", "/gate/halt", a.clone()),
        // Gates: closed until opened, per canary, remembered.
        ("POST", "/gate/check", a.clone()),
        ("POST", "/gate/open", a.clone()),
        ("POST", "/gate/check", a.clone()),
        ("GET", "/gate/check", a.clone()),
        ("POST", "/gate/check", b.clone()),
        ("POST", "/rollback/check", a.clone()),
        ("POST", "/gate/close", a.clone()),
        ("POST", "/gate/check", a.clone()),
        ("POST", "/rollback/open", a.clone()),
        ("POST", "/rollback/check", a.clone()),
        ("POST", "/gate/check", a.clone()),
        ("POST", "/rollback/close", a.clone()),
        ("POST", "/rollback/check", a.clone()),
        // Another namespace than the regexp allows, on every endpoint that reads a payload.
        ("POST", "/gate/open", other.clone()),
        ("POST", "/gate/check", other.clone()),
        ("POST", "/rollback/check", other.clone()),
        ("POST", "/", payload("a", "other", r#"{"cmd":"true"}"#)),
        // Malformed payloads.
        ("POST", "/gate/check", "{".into()),
        ("POST", "/gate/open", r#"{"name":1}"#.into()),
        ("POST", "/", "{".into()),
        ("POST", "/", "[]".into()),
        ("POST", "/", String::new()),
        ("POST", "/", task(r#"{"type":"bash","timeout":5}"#)),
        ("POST", "/", payload("podinfo", "test", "null")),
        ("POST", "/", task("{}")),
        ("POST", "/gate/check/", a.clone()),
        // Blocking tasks: success, output returned or not, failure, time-out.
        ("POST", "/", task(r#"{"type":"bash","cmd":"echo ok"}"#)),
        (
            "POST",
            "/",
            task(r#"{"type":"bash","cmd":"echo ok; echo err >&2","returnCmdOutput":"true"}"#),
        ),
        (
            "POST",
            "/",
            task(r#"{"type":"bash","cmd":"echo ok","returnCmdOutput":"maybe"}"#),
        ),
        (
            "POST",
            "/",
            task(r#"{"type":"bash","cmd":"true","returnCmdOutput":"true"}"#),
        ),
        (
            "POST",
            "/",
            task(r#"{"type":"bash","cmd":"echo '<html>hi'","returnCmdOutput":"true"}"#),
        ),
        (
            "POST",
            "/",
            task(r#"{"type":"bash","cmd":"printf 'a\\001b'","returnCmdOutput":"true"}"#),
        ),
        (
            "POST",
            "/",
            task(r#"{"type":"bash","cmd":"echo out; echo err >&2; exit 3"}"#),
        ),
        (
            "POST",
            "/",
            task(r#"{"type":"bash","cmd":"kill -TERM $$"}"#),
        ),
        ("POST", "/", task(r#"{"type":"bash","cmd":"sleep 10"}"#)),
        ("POST", "/", task(r#"{"type":"bash"}"#)),
        (
            "POST",
            "/",
            task(r#"{"type":"kubectl","cmd":"version --client -o json","returnCmdOutput":"1"}"#),
        ),
        (
            "POST",
            "/",
            task(r#"{"type":"kubectl","cmd":"no-such-verb"}"#),
        ),
        (
            "POST",
            "/",
            task(r#"{"type":"helmv3","cmd":"version --short"}"#),
        ),
        // Background tasks: accepted, or refused without a command.
        ("POST", "/", task(r#"{"cmd":"true","logCmdOutput":"true"}"#)),
        ("POST", "/", task(r#"{"type":"cmd"}"#)),
        ("PUT", "/anything", task(r#"{"cmd":"true"}"#)),
    ]
}

#[tokio::test]
async fn answers_as_flagger_loadtester_does() {
    let Some(binary) = or_skip() else { return };
    let dir = tempfile::tempdir().unwrap();
    let theirs = LoadTester::flagger(binary, &FLAGGER_FLAGS, &dir.path().join("flagger.log")).await;
    let ours = LoadTester::fledge(&FLEDGE_FLAGS, &dir.path().join("fledge.log")).await;
    for (method, path, body) in same_answers() {
        let want = theirs.send_typed(method, path, &body).await;
        let got = ours.send_typed(method, path, &body).await;
        let body = String::from_utf8_lossy(&body);
        assert!(
            want.is_ok(),
            "flagger-loadtester answers {method} {path} {body}: {want:?}"
        );
        assert_eq!(
            got,
            want,
            "{method} {path} {body}\nfledge's log:\n{}",
            ours.log()
        );
    }
}

/// Where the two differ, on purpose: Flagger's server panics on an unknown (or empty) task type
/// (its task factory lookup asserts a type on nothing) and drops the connection; fledge answers
/// the 400 Flagger's code was written to give. Flagger runs `concord` tasks (here: its refusal
/// of one without a server); fledge refuses the type.
#[tokio::test]
async fn differs_where_flagger_loadtester_panics_or_runs_concord() {
    let Some(binary) = or_skip() else { return };
    let dir = tempfile::tempdir().unwrap();
    let theirs = LoadTester::flagger(binary, &FLAGGER_FLAGS, &dir.path().join("flagger.log")).await;
    let ours = LoadTester::fledge(&FLEDGE_FLAGS, &dir.path().join("fledge.log")).await;
    for typ in ["nope", ""] {
        let body = payload(
            "podinfo",
            "test",
            &format!(r#"{{"type":"{typ}","cmd":"x"}}"#),
        );
        assert!(theirs.send("POST", "/", &body).await.is_err(), "{typ}");
        assert_eq!(
            ours.send("POST", "/", &body).await,
            Ok((400, format!("unknown task type {typ}")))
        );
    }
    assert!(
        theirs.log().contains("http: panic serving"),
        "{}",
        theirs.log()
    );
    let concord = payload("podinfo", "test", r#"{"type":"concord","cmd":"x"}"#);
    assert_eq!(
        theirs.send("POST", "/", &concord).await,
        Ok((500, "`server` is required with type concord".into()))
    );
    let (status, text) = ours.send("POST", "/", &concord).await.unwrap();
    assert_eq!(status, 400);
    assert!(
        text.starts_with("task type concord is not supported"),
        "{text}"
    );
}

/// A background command runs once per canary however often it is asked for while it runs, on
/// both.
#[tokio::test]
async fn background_commands_run_once_while_running() {
    let Some(binary) = or_skip() else { return };
    let dir = tempfile::tempdir().unwrap();
    let theirs = LoadTester::flagger(binary, &FLAGGER_FLAGS, &dir.path().join("flagger.log")).await;
    let ours = LoadTester::fledge(&FLEDGE_FLAGS, &dir.path().join("fledge.log")).await;
    for (name, server) in [("flagger", &theirs), ("fledge", &ours)] {
        let file = dir.path().join(format!("{name}.runs"));
        let cmd = format!(
            "echo start >> {0}; sleep 1; echo end >> {0}",
            file.display()
        );
        let body = payload(
            "podinfo",
            "test",
            &serde_json::json!({ "cmd": cmd }).to_string(),
        );
        for _ in 0..3 {
            assert_eq!(
                server.send("POST", "/", &body).await,
                Ok((202, String::new()))
            );
        }
        let runs = eventually(
            format!("{name} runs the command"),
            Duration::from_secs(30),
            || async { std::fs::read_to_string(&file).unwrap_or_default() },
            |s| s.contains("end"),
        )
        .await;
        assert_eq!(runs, "start\nend\n", "{name}");
    }
}

/// A local server counting requests; each recorded as "METHOD body x-test user-agent".
async fn target() -> (String, Arc<AtomicU64>, Arc<Mutex<Vec<String>>>) {
    let count = Arc::new(AtomicU64::new(0));
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let (c, s) = (count.clone(), seen.clone());
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let (c, s) = (c.clone(), s.clone());
        async move {
            let (parts, body) = req.into_parts();
            let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
            let header = |n: &str| {
                parts
                    .headers
                    .get(n)
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default()
            };
            s.lock().unwrap().push(format!(
                "{} {} {} {}",
                parts.method,
                String::from_utf8_lossy(&bytes),
                header("x-test"),
                header("user-agent")
            ));
            c.fetch_add(1, Ordering::SeqCst);
            "ok"
        }
    });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", l.local_addr().unwrap());
    tokio::spawn(axum::serve(l, app).into_future());
    (url, count, seen)
}

fn invocation(command: &str) -> Invocation {
    match Builtin::of(command) {
        Builtin::Load(i) => *i,
        other => panic!("{command} is not built in: {other:?}"),
    }
}

/// The tutorials' `hey -z 2s -q 10 -c 2`: two workers at ten a second each for two seconds,
/// 40 requests. hey's workers wait for their first tick before a request and stop before their
/// next once the duration has passed, so at most 2 × (20 + 1); without the rate limit it would
/// be thousands. More than 21 is more than one worker can make: both ran.
#[tokio::test]
async fn hey_duration_and_rate_bound_the_requests() {
    let (url, count, _) = target().await;
    let summary = invocation(&format!("hey -z 2s -q 10 -c 2 {url}"))
        .run()
        .await
        .unwrap();
    let n = count.load(Ordering::SeqCst);
    assert_eq!(summary.requests(), n);
    assert_eq!(summary.statuses.get(&200), Some(&n));
    assert!((22..=42).contains(&n), "{n} requests\n{summary}");
}

/// `-n` is exact: each of `-c` workers makes its share.
#[tokio::test]
async fn hey_makes_n_requests_with_its_method_body_and_headers() {
    let (url, count, seen) = target().await;
    let summary = invocation(&format!(
        "hey -n 30 -c 3 -m post -d 'hello' -H 'X-Test: 1' {url}"
    ))
    .run()
    .await
    .unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 30);
    assert_eq!(summary.statuses.get(&200), Some(&30));
    let seen = seen.lock().unwrap();
    assert!(
        seen.iter().all(|s| s == "POST hello 1 hey/0.0.1"),
        "{seen:?}"
    );
}

/// A webhook's `cmd: hey ...` makes the load through `fledge loadtester`, without a `hey`
/// binary.
#[tokio::test]
async fn loadtester_runs_hey_commands_itself() {
    let dir = tempfile::tempdir().unwrap();
    let ours = LoadTester::fledge(&["--timeout", "1m"], &dir.path().join("fledge.log")).await;
    let (url, count, _) = target().await;
    let body = payload(
        "podinfo",
        "test",
        &serde_json::json!({ "cmd": format!("hey -n 10 -c 2 {url}"), "logCmdOutput": "true" })
            .to_string(),
    );
    assert_eq!(
        ours.send("POST", "/", &body).await,
        Ok((202, String::new()))
    );
    eventually(
        "the load tester's log says the command finished",
        Duration::from_secs(30),
        || async { ours.log() },
        |log| log.contains("command finished (built-in load generator)"),
    )
    .await;
    assert_eq!(count.load(Ordering::SeqCst), 10, "{}", ours.log());
    assert!(ours.log().contains("[200]\t10 responses"), "{}", ours.log());
}

/// `deploy/loadtester` and the example's copy (in namespace `test`, where the example's
/// Canaries call it) build alike, with fledge as with `kubectl kustomize`.
#[test]
fn deploy_and_example_loadtester_build_alike() {
    let build = |dir: &str| crate::build_repo_dir(dir);
    for dir in ["deploy/loadtester", "examples/repo-layout/loadtester"] {
        let out = std::process::Command::new("kubectl")
            .args(["kustomize", dir])
            .current_dir(crate::repo_dir())
            .output()
            .unwrap();
        assert_eq!(build(dir), crate::support::ok(&out), "{dir}");
    }
    let deploy = build("deploy/loadtester");
    let example = build("examples/repo-layout/loadtester");
    let namespaced = deploy.replace("\nspec:\n", "\n  namespace: test\nspec:\n");
    assert_eq!(
        example,
        format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: test\n---\n{namespaced}"),
    );
    assert!(example.contains("name: flagger-loadtester"));
    assert!(example.contains("port: 80\n"));
    assert!(example.contains("containerPort: 8080"));
}

/// docs/loadtester.md names exactly the flags `fledge loadtester --help` lists.
#[test]
fn the_docs_name_every_flag_of_fledge_loadtester_and_no_other() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fledge"))
        .args(["loadtester", "--help"])
        .output()
        .unwrap();
    let flag = regex::Regex::new(r"--[a-z][a-z-]*[a-z]").unwrap();
    let listed: std::collections::BTreeSet<String> = flag
        .find_iter(&crate::support::ok(&out))
        .map(|m| m.as_str().to_owned())
        .filter(|f| f != "--help")
        .collect();
    let page = std::fs::read_to_string(crate::repo_dir().join("docs/loadtester.md")).unwrap();
    let named: std::collections::BTreeSet<String> = flag
        .find_iter(&page)
        .map(|m| m.as_str().to_owned())
        .collect();
    assert_eq!(named, listed);
}

/// SIGTERM stops the server and kills the commands still running (a load test of a canary
/// that is gone).
#[tokio::test]
async fn sigterm_stops_the_server_and_its_commands() {
    let dir = tempfile::tempdir().unwrap();
    let mut ours = LoadTester::fledge(&[], &dir.path().join("fledge.log")).await;
    let body = payload("podinfo", "test", r#"{"cmd":"sleep 600"}"#);
    assert_eq!(
        ours.send("POST", "/", &body).await,
        Ok((202, String::new()))
    );
    eventually(
        "the command starts",
        Duration::from_secs(30),
        || async { ours.log() },
        |log| log.contains("task starting"),
    )
    .await;
    let status = ours.terminate(Duration::from_secs(60)).await;
    assert!(status.success(), "{status}\n{}", ours.log());
}

/// fledge's own webhook client (what its rollouts call) against `fledge loadtester`, with the
/// example's podinfo Canary: its webhooks name this load tester; a `confirm-rollout` gate
/// holds until opened with the Canary's payload; its `bash` acceptance test passes or fails
/// by its command (one that runs here, where podinfo does not).
#[tokio::test]
async fn fledge_rollout_webhooks_drive_the_load_tester() {
    use fledge::analysis::webhooks::{Webhooks, payload as hook_payload};
    use fledge::release::spec::{HookType, Provider, WebhookSpec};

    let dir = tempfile::tempdir().unwrap();
    let ours = LoadTester::fledge(&["--timeout", "30s"], &dir.path().join("fledge.log")).await;
    let files =
        fledge::render::DiskFiles::new(&crate::repo_dir().join("examples/repo-layout")).unwrap();
    let objects = fledge::render::render(&files, "staging").unwrap();
    let canary = objects
        .iter()
        .find(|o| o["kind"] == "Canary" && o["metadata"]["name"] == "podinfo")
        .unwrap();
    let spec = fledge::release::parse_canary(canary, &Provider::Istio).unwrap();
    let hooks = &spec.analysis.webhooks;
    assert!(
        hooks
            .iter()
            .all(|h| h.url == "http://flagger-loadtester.test/"),
        "{hooks:?}"
    );
    let here = |h: &WebhookSpec, path: &str, cmd: Option<&str>| {
        let mut h = h.clone();
        h.url = format!("{}{path}", ours.base);
        if let Some(cmd) = cmd {
            h.metadata.insert("cmd".into(), cmd.into());
        }
        h
    };
    let gate_of = |path: &str| WebhookSpec {
        name: "ask".into(),
        hook_type: HookType::ConfirmRollout,
        ..here(&hooks[0], path, None)
    };
    let webhooks = Webhooks::new(Duration::from_millis(10));
    let call = |h: WebhookSpec| {
        let body = hook_payload(
            &spec,
            fledge::release::Phase::Progressing,
            "abc",
            &h.metadata,
        );
        let webhooks = webhooks.clone();
        async move { webhooks.call(&h, &body).await }
    };
    let mut gate = gate_of("/gate/check");
    gate.metadata.clear();
    assert_eq!(call(gate.clone()).await, Err("Forbidden".into()));
    let mut open = gate_of("/gate/open");
    open.metadata.clear();
    assert_eq!(call(open).await, Ok(()));
    assert_eq!(call(gate).await, Ok(()));

    let acceptance = hooks
        .iter()
        .find(|h| h.hook_type == HookType::PreRollout)
        .unwrap();
    assert_eq!(acceptance.metadata["type"], "bash");
    let passing = here(acceptance, "/", Some("echo token | grep token"));
    assert_eq!(call(passing).await, Ok(()));
    let failing = here(acceptance, "/", Some("echo nothing | grep token"));
    assert_eq!(
        call(failing).await,
        Err("command echo nothing | grep token failed: : exit status 1".into())
    );
}

/// `--log-level` sets what is logged: at `error`, a gate check (info) is not, a failed command
/// (error) is; at `info`, both are.
#[tokio::test]
async fn log_level_sets_what_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    for (level, gates_logged) in [("error", false), ("info", true)] {
        let ours = LoadTester::fledge(
            &["--log-level", level],
            &dir.path().join(format!("{level}.log")),
        )
        .await;
        let gate = payload("podinfo", "test", "{}");
        assert_eq!(
            ours.send("POST", "/gate/check", &gate).await,
            Ok((403, "Forbidden".into()))
        );
        let failing = payload("podinfo", "test", r#"{"type":"bash","cmd":"exit 4"}"#);
        assert_eq!(ours.send("POST", "/", &failing).await.unwrap().0, 500);
        let log = ours.log();
        assert_eq!(log.contains("gate check"), gates_logged, "{level}: {log}");
        assert!(log.contains("command failed"), "{level}: {log}");
    }
}
