//! Flux's `spec.healthCheckExprs`: CEL expressions that say when an object of a kind is
//! `InProgress`, `Failed` or `Current`, as kustomize-controller v1.9.6 evaluates them
//! (`fluxcd/pkg/runtime/cel`: `NewStatusReader`, `NewStatusEvaluator`, `NewExpression`).
//!
//! Flux only parses the expressions (it does not type-check them: a CRD need not have the five
//! usual top-level fields), so an unknown field or function is an error at evaluation, which
//! makes the object's status `Unknown`. Each top-level field of the object is a variable.
//!
//! Flux's CEL environment (cel-go v0.26.1) against the `cel` crate's, as configured here:
//! - the standard library, optional types (`a.?b`, `orValue`), the string extension
//!   (`lowerAscii`, `split`, `format`, …) and `base64.encode`/`decode`: in both;
//! - cel-go's `sets` extension (`sets.contains`, `sets.equivalent`, `sets.intersects`): not in
//!   the crate; registered on its environment from [`super::sets`];
//! - `has(a.b)` where `a` is neither a map nor null (a `status` that is a string): false in
//!   cel-go, an error (`no matching overload for '_._'`) in the crate, so such an object is
//!   `Unknown` here where Flux goes on to the next expression (the differential test counts
//!   these apart);
//! - error texts: an evaluation error's own text is the crate's, not cel-go's (the prefix
//!   Flux puts before it is the same); a parse error's text likewise.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use cel::objects::{Key, Map};
use cel::{Context, Env, Program};
use serde_json::Value;

use super::{Health, Status};
use super::{fields, sets};

/// The path of the spec field, for errors.
const FIELD: &str = "spec.healthCheckExprs";

/// An entry of `spec.healthCheckExprs` that cannot be used; the Kustomization is stalled on
/// it (Flux: `InvalidCELExpression`) until the spec changes.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "{FIELD}[{index}] must be an object with apiVersion, kind, current, inProgress and failed"
    )]
    NotAnObject { index: usize },
    #[error("{FIELD}[{index}].{field} must be a string")]
    NotAString { index: usize, field: String },
    #[error(
        "{FIELD}[{index}] has an unknown field `{field}` (known: apiVersion, kind, current, inProgress, failed)"
    )]
    UnknownField { index: usize, field: String },
    #[error("{FIELD}[{index}].current is required: the expression that says an object is healthy")]
    NoCurrent { index: usize },
    #[error("{FIELD}[{index}] is a second health check for {group_kind}; merge it into the first")]
    Duplicate { index: usize, group_kind: String },
    #[error("{FIELD}[{index}].{field}: failed to parse the CEL expression '{expr}': {message}")]
    Parse {
        index: usize,
        field: &'static str,
        expr: String,
        message: String,
    },
}

/// One compiled entry: the kind it is for and its expressions.
pub struct Expr {
    /// API group of `apiVersion`.
    pub group: String,
    /// Empty: every kind of the group.
    pub kind: String,
    current: Compiled,
    in_progress: Option<Compiled>,
    failed: Option<Compiled>,
    env: Arc<Env>,
}

impl fmt::Debug for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Expr")
            .field("group", &self.group)
            .field("kind", &self.kind)
            .field("current", &self.current.source)
            .field("in_progress", &self.in_progress.as_ref().map(|c| &c.source))
            .field("failed", &self.failed.as_ref().map(|c| &c.source))
            .finish_non_exhaustive()
    }
}

/// A parsed expression and its text.
struct Compiled {
    source: String,
    program: Program,
}

/// The environment Flux's `NewExpression` builds, as far as the crate has it (see the module
/// doc).
fn env() -> Arc<Env> {
    let mut env = Env::stdlib();
    // cel-go keeps the last of repeated map keys; the crate errs unless told.
    env.set_error_on_duplicate_map_keys(false);
    env.add_extension(cel::extensions::strings)
        .expect("the string extension declares each function once");
    env.add_extension(cel::extensions::encoders)
        .expect("the encoders extension declares each function once");
    env.add_extension(sets::extension)
        .expect("the sets extension declares each function once");
    Arc::new(env)
}

/// A CEL expression that must be true, over named objects: a Kustomization's
/// `spec.dependsOn[].readyExpr` over `self` and `dep`, as kustomize-controller evaluates it
/// (`cel.NewExpression` with `WithOutputType(BoolType)`, `EvaluateBoolean`), in the same
/// environment as the health checks.
pub struct Condition {
    compiled: Compiled,
    env: Arc<Env>,
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Condition")
            .field(&self.compiled.source)
            .finish()
    }
}

impl Condition {
    /// Parses `expr`.
    ///
    /// # Errors
    ///
    /// Why it does not parse.
    pub fn parse(expr: &str) -> Result<Self, String> {
        let env = env();
        let program = env
            .compile(expr)
            .map_err(|e| format!("failed to parse the CEL expression '{expr}': {e}"))?;
        Ok(Self {
            compiled: Compiled {
                source: expr.to_owned(),
                program,
            },
            env,
        })
    }

    /// Whether it holds with each `(name, object)` a variable.
    ///
    /// # Errors
    ///
    /// An expression that fails to evaluate or gives a non-boolean, in Flux's words.
    pub fn holds(&self, vars: &[(&str, &Value)]) -> Result<bool, String> {
        let mut context = Context::with_env(Arc::clone(&self.env));
        for (name, value) in vars {
            context.add_variable_from_value(*name, to_cel(value));
        }
        self.compiled.is_true(&context)
    }
}

/// The entries of `spec.healthCheckExprs`, checked and parsed, in order.
///
/// # Errors
///
/// The first entry that is malformed, lacks `current`, repeats a group and kind, or holds an
/// expression that does not parse, named by its field.
pub fn compile(entries: &[Value]) -> Result<Vec<Expr>, Error> {
    let env = env();
    let mut out: Vec<Expr> = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        let expr = compile_one(&env, index, entry)?;
        if out
            .iter()
            .any(|e| e.group == expr.group && e.kind == expr.kind)
        {
            return Err(Error::Duplicate {
                index,
                group_kind: group_kind_string(&expr.group, &expr.kind),
            });
        }
        out.push(expr);
    }
    Ok(out)
}

/// apimachinery's `GroupKind.String()`.
fn group_kind_string(group: &str, kind: &str) -> String {
    if group.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}.{group}")
    }
}

const FIELDS: [&str; 5] = ["apiVersion", "kind", "current", "inProgress", "failed"];

fn compile_one(env: &Arc<Env>, index: usize, entry: &Value) -> Result<Expr, Error> {
    let map = entry.as_object().ok_or(Error::NotAnObject { index })?;
    if let Some(field) = map.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(Error::UnknownField {
            index,
            field: field.clone(),
        });
    }
    let text = |field: &str| match map.get(field) {
        None | Some(Value::Null) => Ok(""),
        Some(Value::String(s)) => Ok(s.as_str()),
        Some(_) => Err(Error::NotAString {
            index,
            field: field.to_owned(),
        }),
    };
    let group = fields::group(text("apiVersion")?).to_owned();
    let kind = text("kind")?;
    // Flux's order: current (required), then failed, then inProgress.
    let current = text("current")?;
    if current.is_empty() {
        return Err(Error::NoCurrent { index });
    }
    let parse = |field: &'static str, source: &str| parse(env, index, field, source);
    let current = parse("current", current)?;
    let failed = optional(text("failed")?, |s| parse("failed", s))?;
    let in_progress = optional(text("inProgress")?, |s| parse("inProgress", s))?;
    Ok(Expr {
        group,
        kind: kind.to_owned(),
        current,
        in_progress,
        failed,
        env: Arc::clone(env),
    })
}

fn optional(
    source: &str,
    parse: impl Fn(&str) -> Result<Compiled, Error>,
) -> Result<Option<Compiled>, Error> {
    if source.is_empty() {
        Ok(None)
    } else {
        parse(source).map(Some)
    }
}

fn parse(env: &Env, index: usize, field: &'static str, source: &str) -> Result<Compiled, Error> {
    let program = env.compile(source).map_err(|e| Error::Parse {
        index,
        field,
        expr: source.to_owned(),
        message: e.to_string(),
    })?;
    Ok(Compiled {
        source: source.to_owned(),
        program,
    })
}

impl Expr {
    /// Whether this entry is the one for objects of `group`/`kind`: its own kind, or every
    /// kind of its group.
    pub(super) fn matches(&self, group: &str, kind: &str) -> bool {
        self.group == group && (self.kind == kind || self.kind.is_empty())
    }

    /// Flux's `StatusEvaluator.Evaluate`: `InProgress` while `status.observedGeneration` (an
    /// integer) differs from `metadata.generation`; then the first of `inProgress`, `failed`,
    /// `current` that is true; `InProgress` when none is. No message, as in Flux.
    ///
    /// # Errors
    ///
    /// An expression that fails to evaluate or gives a non-boolean, in Flux's words.
    pub(super) fn evaluate(&self, obj: &Value) -> Result<Health, String> {
        let observed = fields::nested_int64(obj, &["status", "observedGeneration"]);
        let generation = fields::nested_int64(obj, &["metadata", "generation"]);
        if let (Ok(Some(o)), Ok(Some(g))) = (observed, generation)
            && o != g
        {
            return Ok(Health::new(Status::InProgress, ""));
        }
        let mut context = Context::with_env(Arc::clone(&self.env));
        if let Value::Object(map) = obj {
            for (name, value) in map {
                context.add_variable_from_value(name.as_str(), to_cel(value));
            }
        }
        let order = [
            (self.in_progress.as_ref(), Status::InProgress),
            (self.failed.as_ref(), Status::Failed),
            (Some(&self.current), Status::Current),
        ];
        for (expr, status) in order {
            if let Some(expr) = expr
                && expr.is_true(&context)?
            {
                return Ok(Health::new(status, ""));
            }
        }
        Ok(Health::new(Status::InProgress, ""))
    }
}

impl Compiled {
    /// Flux's `EvaluateBoolean`.
    fn is_true(&self, context: &Context<'_, '_>) -> Result<bool, String> {
        match self.program.execute(context) {
            Ok(cel::Value::Bool(b)) => Ok(b),
            Ok(_) => Err(format!(
                "failed to evaluate CEL expression as boolean: '{}'",
                self.source
            )),
            Err(e) => Err(format!(
                "failed to evaluate the CEL expression '{}': {e}",
                self.source
            )),
        }
    }
}

/// A JSON value as cel-go sees the decoded object: an integer that fits `int64` is an `int`,
/// any other number a `double`.
fn to_cel(v: &Value) -> cel::Value {
    match v {
        Value::Null => cel::Value::Null,
        Value::Bool(b) => cel::Value::Bool(*b),
        Value::Number(n) => n.as_i64().map_or_else(
            || cel::Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            cel::Value::Int,
        ),
        Value::String(s) => cel::Value::String(Arc::new(s.clone())),
        Value::Array(items) => cel::Value::List(Arc::new(items.iter().map(to_cel).collect())),
        Value::Object(map) => {
            let map: HashMap<Key, cel::Value> = map
                .iter()
                .map(|(k, v)| (Key::String(Arc::new(k.clone())), to_cel(v)))
                .collect();
            cel::Value::Map(Map { map: Arc::new(map) })
        }
    }
}
