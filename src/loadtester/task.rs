//! The tasks a webhook asks for: Flagger's payload as its load tester decodes it, the commands
//! it runs (`bash`, `helm`, `kubectl` blocking; `cmd` in the background) with their combined
//! output and Go's wording of a failure, and the runner that keeps one copy of each background
//! command running per canary.

use std::collections::{BTreeMap, HashSet};
use std::os::fd::OwnedFd;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncReadExt as _;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::hey;

/// Flagger's webhook payload (`CanaryWebhookPayload`), decoded as Go's `encoding/json` decodes it
/// into that struct: unknown fields ignored, field names matched exactly or else
/// case-insensitively, `null` leaving a field empty, and any other type a failure.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Payload {
    pub name: String,
    pub namespace: String,
    pub phase: String,
    pub checksum: String,
    pub metadata: BTreeMap<String, String>,
}

impl Payload {
    /// Decodes a request body; `None` where Flagger's load tester answers 400 with no body.
    /// Invalid UTF-8 in a string becomes U+FFFD, as Go's decoder has it.
    #[must_use]
    pub fn decode(body: &[u8]) -> Option<Self> {
        let text = String::from_utf8_lossy(body);
        serde_json::from_str::<Decoded>(&text).ok().map(|d| d.0)
    }

    /// Stores one key of the payload object as Go's decoder stores it into the struct: the
    /// field named exactly, else one named alike but for case; a later key overwrites an
    /// earlier one; `null` leaves a string as it was and empties `metadata`; objects given for
    /// `metadata` twice are merged.
    fn store(&mut self, key: &str, value: Value) -> Result<(), &'static str> {
        const FIELDS: [&str; 5] = ["name", "namespace", "phase", "checksum", "metadata"];
        let Some(field) = FIELDS
            .iter()
            .find(|f| **f == key)
            .or_else(|| FIELDS.iter().find(|f| f.eq_ignore_ascii_case(key)))
        else {
            return Ok(());
        };
        let slot = match *field {
            "metadata" => {
                match value {
                    Value::Null => self.metadata.clear(),
                    Value::Object(m) => {
                        for (k, v) in m {
                            let v = match v {
                                Value::String(s) => s,
                                Value::Null => String::new(),
                                _ => return Err("a metadata value that is not a string"),
                            };
                            self.metadata.insert(k, v);
                        }
                    }
                    _ => return Err("metadata that is not an object"),
                }
                return Ok(());
            }
            "name" => &mut self.name,
            "namespace" => &mut self.namespace,
            "phase" => &mut self.phase,
            _ => &mut self.checksum,
        };
        match value {
            Value::Null => Ok(()),
            Value::String(s) => {
                *slot = s;
                Ok(())
            }
            _ => Err("a field that is not a string"),
        }
    }

    /// `name.namespace`, the key of gates and tasks.
    #[must_use]
    pub fn canary(&self) -> String {
        format!("{}.{}", self.name, self.namespace)
    }
}

/// A payload decoded in document order (which `serde_json::Value` does not keep).
struct Decoded(Payload);

impl<'de> serde::Deserialize<'de> for Decoded {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(PayloadVisitor)
    }
}

struct PayloadVisitor;

impl<'de> serde::de::Visitor<'de> for PayloadVisitor {
    type Value = Decoded;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Flagger's webhook payload (a JSON object) or null")
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Decoded, E> {
        Ok(Decoded(Payload::default()))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Decoded, A::Error> {
        let mut p = Payload::default();
        while let Some(key) = map.next_key::<String>()? {
            let value: Value = map.next_value()?;
            p.store(&key, value).map_err(serde::de::Error::custom)?;
        }
        Ok(Decoded(p))
    }
}

/// A command to run: a program and its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Program {
    pub(crate) program: String,
    pub(crate) args: Vec<String>,
}

impl Program {
    /// `bash -c COMMAND` (the `bash` task type).
    pub(crate) fn bash(command: &str) -> Self {
        Self {
            program: "bash".into(),
            args: vec!["-c".into(), command.into()],
        }
    }

    /// `sh -c COMMAND` (the `cmd` task type).
    pub(crate) fn sh(command: &str) -> Self {
        Self {
            program: "sh".into(),
            args: vec!["-c".into(), command.into()],
        }
    }

    /// `PROGRAM` with the command split at white space, as Go's `strings.Fields` splits it (the
    /// `helm`, `helmv3` and `kubectl` task types: no shell, no quoting).
    pub(crate) fn fields(program: &str, command: &str) -> Self {
        Self {
            program: program.into(),
            args: command.split_whitespace().map(str::to_owned).collect(),
        }
    }
}

/// A command's result: its combined output, and the failure as Go's `os/exec` words it (`exit
/// status 1`, `signal: killed`, `exec: "helm": executable file not found in $PATH`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ran {
    pub(crate) output: Vec<u8>,
    pub(crate) failure: Option<String>,
}

/// Runs `p` with stdin from `/dev/null` and stdout and stderr on one pipe (their output
/// interleaved as written, as Go's `CombinedOutput` has it), killed (SIGKILL) once `timeout`
/// has passed or `stop` is cancelled.
pub(crate) async fn run(p: &Program, timeout: Duration, stop: &CancellationToken) -> Ran {
    match run_inner(p, timeout, stop).await {
        Ok(ran) => ran,
        Err(e) => Ran {
            output: Vec::new(),
            failure: Some(if e.kind() == std::io::ErrorKind::NotFound {
                format!("exec: {:?}: executable file not found in $PATH", p.program)
            } else {
                format!("fork/exec {}: {e}", p.program)
            }),
        },
    }
}

async fn run_inner(
    p: &Program,
    timeout: Duration,
    stop: &CancellationToken,
) -> std::io::Result<Ran> {
    let (tx, mut rx) = tokio::net::unix::pipe::pipe()?;
    let out: OwnedFd = tx.into_blocking_fd()?;
    let err = out.try_clone()?;
    let mut command = tokio::process::Command::new(&p.program);
    command
        .args(&p.args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        // A group of its own, so that a time-out kills what the shell started too (`sh -c
        // 'sleep 600'` forks), not only the shell, and the output pipe closes.
        .process_group(0)
        .kill_on_drop(true);
    let mut child = command.spawn()?;
    let group = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .and_then(rustix::process::Pid::from_raw);
    // The command holds the pipe's write end until dropped: without this the read below would
    // never see the end of the output.
    drop(command);
    let mut output = Vec::new();
    let waited = async {
        tokio::select! {
            status = child.wait() => status,
            () = tokio::time::sleep(timeout) => kill(&mut child, group).await,
            () = stop.cancelled() => kill(&mut child, group).await,
        }
    };
    let reading = async {
        let read = rx.read_to_end(&mut output);
        tokio::pin!(read);
        let ended = tokio::select! {
            _ = &mut read => true,
            () = tokio::time::sleep(timeout) => false,
            () = stop.cancelled() => false,
        };
        if !ended {
            // The shell may be gone while what it started (`sleep 60 &`) holds the output: the
            // group ends with the task, and what it wrote is read to its end.
            kill_group(group);
            let _ = tokio::time::timeout(Duration::from_secs(1), &mut read).await;
        }
    };
    let (status, ()) = tokio::join!(waited, reading);
    let status = status?;
    Ok(Ran {
        output,
        failure: (!status.success()).then(|| go_exit_error(status)),
    })
}

/// Kills `child` and its process group with SIGKILL (as Go's `exec.CommandContext` kills the
/// child); its exit status.
async fn kill(
    child: &mut tokio::process::Child,
    group: Option<rustix::process::Pid>,
) -> std::io::Result<ExitStatus> {
    kill_group(group);
    let _ = child.start_kill();
    child.wait().await
}

fn kill_group(group: Option<rustix::process::Pid>) {
    if let Some(group) = group {
        // Fails harmlessly when the group has ended.
        let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
    }
}

/// An exit status as Go's `ProcessState.String` words it.
fn go_exit_error(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt as _;
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    let Some(signal) = status.signal() else {
        return status.to_string();
    };
    // Go's names for the signals (syscall's signal table on Linux).
    let name = match signal {
        1 => "hangup".to_owned(),
        2 => "interrupt".to_owned(),
        3 => "quit".to_owned(),
        6 => "aborted".to_owned(),
        9 => "killed".to_owned(),
        11 => "segmentation fault".to_owned(),
        13 => "broken pipe".to_owned(),
        14 => "alarm clock".to_owned(),
        15 => "terminated".to_owned(),
        n => format!("signal {n}"),
    };
    if status.core_dumped() {
        format!("signal: {name} (core dumped)")
    } else {
        format!("signal: {name}")
    }
}

/// The text Flagger's load tester answers a failed blocking task with:
/// `command CMD failed: OUTPUT: ERROR`.
pub(crate) fn failure_text(command: &str, ran: &Ran, failure: &str) -> String {
    format!(
        "command {command} failed: {}: {failure}",
        String::from_utf8_lossy(&ran.output)
    )
}

/// A background task (`type: cmd`): a shell command, or a `hey` invocation the built-in load
/// generator runs.
#[derive(Debug, Clone)]
pub(crate) struct Background {
    pub(crate) canary: String,
    pub(crate) command: String,
    pub(crate) log_output: bool,
}

/// Runs background tasks, one copy of each (canary, command) at a time, as Flagger's
/// `TaskRunner` does: a task asked for while the same one runs is skipped.
#[derive(Debug, Clone)]
pub(crate) struct Runner {
    timeout: Duration,
    running: Arc<Mutex<HashSet<(String, String)>>>,
    tasks: TaskTracker,
    stop: CancellationToken,
    started: Arc<std::sync::atomic::AtomicU64>,
}

impl Runner {
    pub(crate) fn new(timeout: Duration, tasks: TaskTracker, stop: CancellationToken) -> Self {
        Self {
            timeout,
            running: Arc::default(),
            tasks,
            stop,
            started: Arc::default(),
        }
    }

    /// How long a task may run.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The stop signal the server shares.
    pub(crate) fn stop(&self) -> &CancellationToken {
        &self.stop
    }

    /// How many background tasks started (Flagger's `GetTotalExecs`).
    pub(crate) fn started(&self) -> u64 {
        self.started.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Starts `task` unless the same one is running.
    pub(crate) fn add(&self, task: Background) {
        let key = (task.canary.clone(), task.command.clone());
        if !self
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.clone())
        {
            tracing::info!(canary = %task.canary, command = %task.command, "command skipped: already running");
            return;
        }
        self.started
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let runner = self.clone();
        self.tasks.spawn(async move {
            tracing::info!(canary = %task.canary, command = %task.command, "task starting");
            runner.run_background(&task).await;
            runner
                .running
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&key);
        });
    }

    async fn run_background(&self, task: &Background) {
        match hey::Builtin::of(&task.command) {
            hey::Builtin::Load(invocation) => {
                if !invocation.without_effect.is_empty() {
                    tracing::warn!(canary = %task.canary, flags = ?invocation.without_effect, "hey flags without effect in the built-in load generator");
                }
                let summary = tokio::select! {
                    s = tokio::time::timeout(self.timeout, invocation.run()) => s,
                    () = self.stop.cancelled() => return,
                };
                match summary {
                    Ok(Ok(summary)) => {
                        if task.log_output {
                            tracing::info!(canary = %task.canary, "{summary}");
                        }
                        tracing::info!(canary = %task.canary, command = %task.command, requests = summary.requests(), "command finished (built-in load generator)");
                    }
                    Ok(Err(e)) => {
                        tracing::error!(canary = %task.canary, command = %task.command, error = %e, "command failed");
                    }
                    Err(_) => {
                        tracing::error!(canary = %task.canary, command = %task.command, timeout = ?self.timeout, "command failed: timed out");
                    }
                }
            }
            hey::Builtin::Usage(e) => {
                tracing::error!(canary = %task.canary, command = %task.command, error = %e, "command failed: hey would refuse these arguments");
            }
            hey::Builtin::Shell(why) => {
                if let Some(why) = why {
                    tracing::warn!(canary = %task.canary, command = %task.command, reason = %why, "hey command run through sh, not the built-in load generator");
                }
                let ran = run(&Program::sh(&task.command), self.timeout, &self.stop).await;
                let output = String::from_utf8_lossy(&ran.output);
                if let Some(failure) = &ran.failure {
                    tracing::error!(canary = %task.canary, command = %task.command, error = %failure, output = %output, "command failed");
                } else {
                    if task.log_output {
                        tracing::info!(canary = %task.canary, "{output}");
                    }
                    tracing::info!(canary = %task.canary, command = %task.command, "command finished");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_decodes_as_go_does() {
        let p = Payload::decode(
            br#"{"Name":"a","namespace":"b","metadata":{"cmd":"x","n":null},"extra":1}"#,
        )
        .unwrap();
        assert_eq!((p.name.as_str(), p.namespace.as_str()), ("a", "b"));
        assert_eq!(p.metadata["cmd"], "x");
        assert_eq!(p.metadata["n"], "");
        assert_eq!(Payload::decode(b"null"), Some(Payload::default()));
        // Go's order: the later of two keys for one field wins, null changes no string.
        let p = Payload::decode(br#"{"name":"a","NAME":"b","namespace":"n","namespace":null}"#)
            .unwrap();
        assert_eq!((p.name.as_str(), p.namespace.as_str()), ("b", "n"));
        let p = Payload::decode(b"{\"name\":\"a\\xff\"}".as_slice());
        assert!(p.is_none(), "an escaped byte is not JSON");
        let p = Payload::decode(b"{\"name\":\"a\xff\"}").unwrap();
        assert_eq!(p.name, "a\u{fffd}");
        for bad in [
            &b""[..],
            b"{",
            b"[]",
            br#"{"name":1}"#,
            br#"{"metadata":{"a":1}}"#,
            b"{} x",
        ] {
            assert_eq!(
                Payload::decode(bad),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[tokio::test]
    async fn commands_fail_in_go_words() {
        let stop = CancellationToken::new();
        let t = Duration::from_secs(10);
        let ran = run(&Program::bash("echo out; echo err >&2; exit 3"), t, &stop).await;
        assert_eq!(ran.output, b"out\nerr\n");
        assert_eq!(ran.failure.as_deref(), Some("exit status 3"));
        let ran = run(
            &Program::bash("sleep 30"),
            Duration::from_millis(200),
            &stop,
        )
        .await;
        assert_eq!(ran.failure.as_deref(), Some("signal: killed"));
        // What the shell left running is ended with the task, its output read.
        let ran = run(
            &Program::sh("echo started; sleep 30 &"),
            Duration::from_millis(500),
            &stop,
        )
        .await;
        assert_eq!((ran.output, ran.failure), (b"started\n".to_vec(), None));
        let ran = run(&Program::fields("no-such-program-x", "a b"), t, &stop).await;
        assert_eq!(
            ran.failure.as_deref(),
            Some(r#"exec: "no-such-program-x": executable file not found in $PATH"#)
        );
    }
}
