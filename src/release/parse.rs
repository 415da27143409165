//! Reading Canary, MetricTemplate and AlertProvider objects into the types of
//! [`spec`](super::spec), with Flagger's defaults and errors that carry the field path.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::spec::{
    AlertProvider, AlertRef, Analysis, Builtin, HookType, KNOWN_PROVIDERS, METRIC_PROVIDERS,
    MetricSourceRef, MetricSpec, MetricTemplate, ObjectRef, PrimaryScaler, Provider, ReleaseSpec,
    ServiceSpec, Severity, SpecError, WebhookSpec, parse_duration,
};
use crate::object::namespace_or_default;

struct Reader<'a> {
    object: &'a str,
}

impl Reader<'_> {
    /// Refuses the first field of `spec` Flagger's schema for `kind` does not have, naming the
    /// closest valid one and counting the others.
    fn known_fields(
        &self,
        kind: &str,
        spec: &Value,
        aliases: &[(&str, &str)],
    ) -> Result<(), SpecError> {
        let unknown = super::schema::unknown_fields(kind, spec, aliases);
        let Some(first) = unknown.first() else {
            return Ok(());
        };
        let mut message = format!("unknown field: Flagger's {kind} has no such field");
        if let Some(c) = &first.closest {
            message = format!(
                "unknown field; did you mean `{c}`? (Flagger's {kind} has no `{}`)",
                first.path.rsplit(['.', ']']).next().unwrap_or("")
            );
        }
        if unknown.len() > 1 {
            let rest: Vec<String> = unknown[1..].iter().map(ToString::to_string).collect();
            message = format!("{message}; also: {}", rest.join("; "));
        }
        Err(self.err(&first.path, message))
    }

    fn err(&self, path: &str, message: impl Into<String>) -> SpecError {
        SpecError {
            object: self.object.to_owned(),
            path: path.to_owned(),
            message: message.into(),
        }
    }

    fn string(&self, v: &Value, path: &str) -> Result<Option<String>, SpecError> {
        match v {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s.clone())),
            other => Err(self.err(path, format!("must be a string, not {}", kind(other)))),
        }
    }

    fn required(&self, v: &Value, path: &str) -> Result<String, SpecError> {
        self.string(v, path)?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| self.err(path, "is required"))
    }

    fn int(&self, v: &Value, path: &str, min: i64, max: i64) -> Result<Option<i64>, SpecError> {
        let n = match v {
            Value::Null => return Ok(None),
            Value::Number(n) => n.as_i64(),
            _ => None,
        }
        .ok_or_else(|| self.err(path, format!("must be an integer, not {}", kind(v))))?;
        if n < min || n > max {
            return Err(self.err(path, format!("must be between {min} and {max}, not {n}")));
        }
        Ok(Some(n))
    }

    fn float(&self, v: &Value, path: &str) -> Result<Option<f64>, SpecError> {
        match v {
            Value::Null => Ok(None),
            Value::Number(n) => Ok(n.as_f64()),
            Value::String(s) => s
                .parse()
                .map(Some)
                .map_err(|_| self.err(path, format!("must be a number, not {s:?}"))),
            other => Err(self.err(path, format!("must be a number, not {}", kind(other)))),
        }
    }

    fn boolean(&self, v: &Value, path: &str) -> Result<bool, SpecError> {
        match v {
            Value::Null => Ok(false),
            Value::Bool(b) => Ok(*b),
            other => Err(self.err(path, format!("must be true or false, not {}", kind(other)))),
        }
    }

    fn list<'v>(&self, v: &'v Value, path: &str) -> Result<&'v [Value], SpecError> {
        match v {
            Value::Null => Ok(&[]),
            Value::Array(a) => Ok(a),
            other => Err(self.err(path, format!("must be a list, not {}", kind(other)))),
        }
    }

    /// A duration field in Flagger's format (`^[0-9]+(m|s)`, Go syntax).
    fn duration(&self, v: &Value, path: &str) -> Result<Option<Duration>, SpecError> {
        let Some(s) = self.string(v, path)? else {
            return Ok(None);
        };
        if s.is_empty() {
            return Ok(None);
        }
        let ok_prefix = s.trim_start_matches(|c: char| c.is_ascii_digit());
        if ok_prefix.len() == s.len() || !(ok_prefix.starts_with('m') || ok_prefix.starts_with('s'))
        {
            return Err(self.err(
                path,
                format!("{s:?} is not a duration like 30s, 1m or 1m30s (Flagger accepts seconds and minutes)"),
            ));
        }
        parse_duration(&s).map(Some).ok_or_else(|| {
            self.err(
                path,
                format!("{s:?} is not a duration like 30s, 1m or 1m30s"),
            )
        })
    }

    fn string_map(&self, v: &Value, path: &str) -> Result<BTreeMap<String, String>, SpecError> {
        match v {
            Value::Null => Ok(BTreeMap::new()),
            Value::Object(m) => m
                .iter()
                .map(|(k, v)| {
                    let s = match v {
                        Value::String(s) => s.clone(),
                        Value::Number(_) | Value::Bool(_) => v.to_string(),
                        other => {
                            return Err(self.err(
                                &format!("{path}.{k}"),
                                format!("must be a string, not {}", kind(other)),
                            ));
                        }
                    };
                    Ok((k.clone(), s))
                })
                .collect(),
            other => Err(self.err(path, format!("must be a map, not {}", kind(other)))),
        }
    }

    fn object_ref(&self, v: &Value, path: &str) -> Result<Option<ObjectRef>, SpecError> {
        if v.is_null() {
            return Ok(None);
        }
        if !v.is_object() {
            return Err(self.err(path, format!("must be an object, not {}", kind(v))));
        }
        Ok(Some(ObjectRef {
            api_version: self
                .string(&v["apiVersion"], &format!("{path}.apiVersion"))?
                .unwrap_or_default(),
            kind: self.required(&v["kind"], &format!("{path}.kind"))?,
            name: self.required(&v["name"], &format!("{path}.name"))?,
            namespace: self.string(&v["namespace"], &format!("{path}.namespace"))?,
        }))
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn percent(r: &Reader<'_>, v: &Value, path: &str) -> Result<Option<u8>, SpecError> {
    Ok(r.int(v, path, 0, 100)?
        .map(|n| u8::try_from(n).unwrap_or(100)))
}

/// Whether an object is a Flagger Canary.
#[must_use]
pub fn is_kind(obj: &Value, kind: &str) -> bool {
    obj["kind"] == kind
        && obj["apiVersion"]
            .as_str()
            .is_some_and(|a| a.starts_with("flagger.app/"))
}

fn object_name(obj: &Value, kind: &str) -> String {
    format!(
        "{kind} {}/{}",
        obj["metadata"]["namespace"].as_str().unwrap_or("default"),
        obj["metadata"]["name"].as_str().unwrap_or("<unnamed>")
    )
}

/// Reads a Canary. `default_provider` is `--mesh-provider`.
pub fn parse_canary(obj: &Value, default_provider: &Provider) -> Result<ReleaseSpec, SpecError> {
    let label = object_name(obj, "Canary");
    let r = Reader { object: &label };
    let version = api_version(&r, obj)?;
    let name = r.required(&obj["metadata"]["name"], "metadata.name")?;
    let namespace = r
        .string(&obj["metadata"]["namespace"], "metadata.namespace")?
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "default".into());
    let spec = &obj["spec"];
    if !spec.is_object() {
        return Err(r.err("spec", "is required"));
    }
    if spec["analysis"].is_object() && spec["canaryAnalysis"].is_object() {
        return Err(r.err(
            "spec.canaryAnalysis",
            "and spec.analysis are both set: keep one (canaryAnalysis is the older name of analysis)",
        ));
    }
    r.known_fields("Canary", spec, &[("canaryAnalysis", "analysis")])?;
    let target = r
        .object_ref(&spec["targetRef"], "spec.targetRef")?
        .ok_or_else(|| r.err("spec.targetRef", "is required"))?;
    if !matches!(target.kind.as_str(), "Deployment" | "DaemonSet" | "Service") {
        return Err(r.err(
            "spec.targetRef.kind",
            format!("{:?} must be Deployment, DaemonSet or Service", target.kind),
        ));
    }
    let mut provider = provider(&r, spec, default_provider)?;
    if let Provider::Kuma { mesh } = &mut provider
        && let Some(m) = obj["metadata"]["annotations"]["kuma.io/mesh"].as_str()
    {
        m.clone_into(mesh);
    }
    if let Provider::AppMesh { access_log, .. } = &mut provider {
        *access_log = obj["metadata"]["annotations"]["appmesh.flagger.app/accesslog"] == "enabled";
    }
    let ingress = r.object_ref(&spec["ingressRef"], "spec.ingressRef")?;
    if matches!(provider, Provider::Nginx | Provider::Skipper) && ingress.is_none() {
        return Err(r.err(
            "spec.ingressRef",
            format!(
                "is required with the {provider} provider: name the Ingress that routes to the service"
            ),
        ));
    }
    let autoscaler = autoscaler(&r, spec)?;
    knative_target(&r, &target, &provider, autoscaler.as_ref())?;
    let service = service_of(&r, spec, &provider, &target.name)?;
    let (analysis_path, analysis_value) = analysis_of(&r, spec)?;
    let skip_analysis = r.boolean(&spec["skipAnalysis"], "spec.skipAnalysis")?;
    let analysis = parse_analysis(&r, analysis_value, analysis_path, &namespace, &provider)?;
    let progress_deadline = r
        .int(
            &spec["progressDeadlineSeconds"],
            "spec.progressDeadlineSeconds",
            1,
            i64::from(u32::MAX),
        )?
        .unwrap_or(600);
    let unhonoured = unhonoured(spec, analysis_path, analysis_value, &provider);
    let route = r.object_ref(&spec["routeRef"], "spec.routeRef")?;
    let upstream = r.object_ref(&spec["upstreamRef"], "spec.upstreamRef")?;
    Ok(ReleaseSpec {
        namespace,
        name,
        api_version: version.to_owned(),
        target,
        provider,
        metrics_server: r.string(&spec["metricsServer"], "spec.metricsServer")?,
        autoscaler,
        primary_scaler: primary_scaler(&r, &spec["autoscalerRef"])?,
        ingress,
        route,
        upstream,
        service,
        analysis,
        progress_deadline: Duration::from_secs(progress_deadline.unsigned_abs()),
        skip_analysis,
        suspend: r.boolean(&spec["suspend"], "spec.suspend")?,
        ingress_class: None,
        unhonoured,
    })
}

/// The fields of a Canary fledge reads but does not act on yet, each with what happens
/// instead ([`ReleaseSpec::unhonoured`]).
fn unhonoured(spec: &Value, path: &str, analysis: &Value, provider: &Provider) -> Vec<String> {
    let mut out = Vec::new();
    let affinity = &analysis["sessionAffinity"];
    if affinity.is_object() && !matches!(provider, Provider::GatewayApi(_) | Provider::Istio) {
        out.push(format!(
            "{path}.sessionAffinity: fledge pins sessions to the canary with the istio and \
             gatewayapi providers, as Flagger does; with {provider} requests are not pinned"
        ));
    }
    let origins = &spec["service"]["corsPolicy"]["allowOrigins"];
    if matches!(provider, Provider::GatewayApi(_))
        && origins.as_array().is_some_and(|o| !o.is_empty())
    {
        out.push(
            "spec.service.corsPolicy.allowOrigins: Istio's origin patterns have no Gateway API \
             form and are left out of the CORS filter, as Flagger leaves them out; list plain \
             origins in allowOrigin"
                .to_owned(),
        );
    }
    if let Provider::AppMesh { v1beta1, .. } = provider {
        out.extend(appmesh_unhonoured(
            &spec["service"],
            path,
            analysis,
            *v1beta1,
        ));
    }
    if spec["upstreamRef"].is_object() && *provider != Provider::Gloo {
        out.push(format!(
            "spec.upstreamRef: only the gloo provider reads it; with {provider} it does nothing, \
             as with Flagger"
        ));
    }
    if *provider == Provider::Knative && analysis["mirror"] == true {
        out.push(format!(
            "{path}.mirror: Knative's traffic split cannot mirror requests; the mirrored \
             iterations send the canary nothing, as with Flagger's knative router"
        ));
    }
    out
}

/// What App Mesh's routes cannot carry, which Flagger's routers leave out as fledge's do: with
/// `appmesh:v1beta2` the mesh name (the App Mesh controller takes it from the namespace), with
/// `appmesh` (v1beta1, whose routes have no timeouts) the timeout unless gateway annotations
/// carry it, and with both every service match but the first one's URI prefix and every
/// analysis match condition but headers.
fn appmesh_unhonoured(service: &Value, path: &str, analysis: &Value, v1beta1: bool) -> Vec<String> {
    let mut out = Vec::new();
    let hosts = service["hosts"].as_array().is_some_and(|h| !h.is_empty());
    if v1beta1 && service["timeout"].is_string() && !hosts {
        out.push(
            "spec.service.timeout: App Mesh's v1beta1 routes have no timeout; without \
             service.hosts (whose gateway annotations carry it) it is left out, as Flagger's \
             appmesh router leaves it"
                .to_owned(),
        );
    }
    if !v1beta1 && service["meshName"].is_string() {
        out.push(
            "spec.service.meshName: not used with appmesh:v1beta2 (nor by Flagger's v1beta2 \
             router): the App Mesh controller joins the VirtualNodes to the mesh that selects \
             their namespace"
                .to_owned(),
        );
    }
    for (i, m) in service["match"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        for (field, _) in m.as_object().into_iter().flatten() {
            let prefix_of_first = i == 0 && field == "uri" && m["uri"]["prefix"].is_string();
            if !prefix_of_first {
                out.push(format!(
                    "spec.service.match[{i}].{field}: App Mesh routes by the first match's URI \
                     prefix only; this condition is left out, as Flagger's appmesh router does"
                ));
            }
        }
    }
    for (i, m) in analysis["match"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        for (field, _) in m.as_object().into_iter().flatten() {
            if field != "headers" {
                out.push(format!(
                    "{path}.match[{i}].{field}: App Mesh's A/B route matches headers only; this \
                     condition is left out, as Flagger's appmesh router does"
                ));
            }
        }
    }
    out
}

/// The version of `flagger.app` a Canary is written in.
fn api_version<'v>(r: &Reader<'_>, obj: &'v Value) -> Result<&'v str, SpecError> {
    let api_version = obj["apiVersion"].as_str().unwrap_or_default();
    let version = api_version
        .strip_prefix("flagger.app/")
        .ok_or_else(|| r.err("apiVersion", format!("{api_version:?} is not flagger.app")))?;
    if !matches!(version, "v1beta1" | "v1alpha3" | "v1alpha2" | "v1alpha1") {
        return Err(r.err(
            "apiVersion",
            format!("flagger.app/{version} is not known; use flagger.app/v1beta1"),
        ));
    }
    Ok(version)
}

/// `spec.provider`, else `--mesh-provider`.
fn provider(r: &Reader<'_>, spec: &Value, default: &Provider) -> Result<Provider, SpecError> {
    match r.string(&spec["provider"], "spec.provider")? {
        Some(p) if !p.is_empty() => Provider::parse(&p).ok_or_else(|| {
            r.err(
                "spec.provider",
                format!(
                    "{p:?} is not a provider Flagger knows ({})",
                    KNOWN_PROVIDERS.join(", ")
                ),
            )
        }),
        _ => Ok(default.clone()),
    }
}

/// A Knative Service target goes with the knative provider and only with it, and without an
/// autoscaler (Flagger's `verifyKnativeCanary`).
fn knative_target(
    r: &Reader<'_>,
    target: &ObjectRef,
    provider: &Provider,
    autoscaler: Option<&ObjectRef>,
) -> Result<(), SpecError> {
    let knative = target.is_knative_service();
    if knative && *provider != Provider::Knative {
        return Err(r.err(
            "spec.provider",
            format!("can't use {provider} provider with Knative Service as target"),
        ));
    }
    if !knative && *provider == Provider::Knative {
        return Err(r.err(
            "spec.targetRef",
            format!(
                "can't use {}/{} as target if provider is set to knative (name a {} Service)",
                target.api_version,
                target.kind,
                crate::release::spec::KNATIVE_SERVICE_API
            ),
        ));
    }
    if knative && autoscaler.is_some() {
        return Err(r.err(
            "spec.autoscalerRef",
            "can't use autoscaler with Knative Service (Knative scales its revisions itself)",
        ));
    }
    Ok(())
}

/// `spec.autoscalerRef`: an HPA or a KEDA ScaledObject.
fn autoscaler(r: &Reader<'_>, spec: &Value) -> Result<Option<ObjectRef>, SpecError> {
    let autoscaler = r.object_ref(&spec["autoscalerRef"], "spec.autoscalerRef")?;
    if let Some(a) = &autoscaler
        && !matches!(a.kind.as_str(), "HorizontalPodAutoscaler" | "ScaledObject")
    {
        return Err(r.err(
            "spec.autoscalerRef.kind",
            format!(
                "{:?} must be HorizontalPodAutoscaler or ScaledObject",
                a.kind
            ),
        ));
    }
    Ok(autoscaler)
}

/// `spec.autoscalerRef.primaryScalerQueries` and `primaryScalerReplicas`.
fn primary_scaler(r: &Reader<'_>, autoscaler: &Value) -> Result<PrimaryScaler, SpecError> {
    let path = "spec.autoscalerRef";
    let queries = &autoscaler["primaryScalerQueries"];
    let replicas = &autoscaler["primaryScalerReplicas"];
    let bound = |field: &str| {
        r.int(
            &replicas[field],
            &format!("{path}.primaryScalerReplicas.{field}"),
            0,
            i64::from(i32::MAX),
        )
    };
    Ok(PrimaryScaler {
        queries: (!queries.is_null())
            .then(|| r.string_map(queries, &format!("{path}.primaryScalerQueries")))
            .transpose()?,
        min_replicas: bound("minReplicas")?,
        max_replicas: bound("maxReplicas")?,
    })
}

/// `spec.service`, with what the provider needs of it.
fn service_of(
    r: &Reader<'_>,
    spec: &Value,
    provider: &Provider,
    target: &str,
) -> Result<ServiceSpec, SpecError> {
    let service = if spec["service"].is_null() && *provider == Provider::Knative {
        // Knative routes between its own revisions; Flagger needs no Service spec for it.
        ServiceSpec {
            name: target.to_owned(),
            port: 80,
            port_name: "http".into(),
            target_port: Value::from(80),
            app_protocol: None,
            raw: Value::Object(serde_json::Map::new()),
        }
    } else {
        parse_service(r, &spec["service"], target)?
    };
    if matches!(provider, Provider::GatewayApi(_))
        && r.list(&service.raw["gatewayRefs"], "spec.service.gatewayRefs")?
            .is_empty()
    {
        return Err(r.err(
            "spec.service.gatewayRefs",
            "is required with the gatewayapi provider (GatewayRefs must be specified when using Gateway API as a provider)",
        ));
    }
    let mesh = service.raw["meshName"].as_str().unwrap_or_default();
    if matches!(provider, Provider::AppMesh { v1beta1: true, .. }) && mesh.is_empty() {
        return Err(r.err(
            "spec.service.meshName",
            "is required with the appmesh provider: App Mesh's v1beta1 objects name their mesh \
             (Flagger: mesh name cannot be empty)",
        ));
    }
    Ok(service)
}

/// `spec.analysis`, or the legacy `spec.canaryAnalysis`, with its path.
fn analysis_of<'v>(
    r: &Reader<'_>,
    spec: &'v Value,
) -> Result<(&'static str, &'v Value), SpecError> {
    if spec["analysis"].is_object() {
        Ok(("spec.analysis", &spec["analysis"]))
    } else if spec["canaryAnalysis"].is_object() {
        Ok(("spec.canaryAnalysis", &spec["canaryAnalysis"]))
    } else {
        // Flagger's CRD requires it; without it there is no schedule to follow.
        Err(r.err(
            "spec.analysis",
            "is required (interval, threshold and one of stepWeight, stepWeights or iterations)",
        ))
    }
}

fn parse_service(r: &Reader<'_>, v: &Value, target: &str) -> Result<ServiceSpec, SpecError> {
    if !v.is_object() {
        return Err(r.err("spec.service", "is required (at least spec.service.port)"));
    }
    let port = r
        .int(&v["port"], "spec.service.port", 1, 65535)?
        .ok_or_else(|| r.err("spec.service.port", "is required"))?;
    let target_port = match &v["targetPort"] {
        Value::Null => Value::from(port),
        Value::Number(_) => Value::from(
            r.int(&v["targetPort"], "spec.service.targetPort", 1, 65535)?
                .unwrap_or(port),
        ),
        Value::String(s) => Value::String(s.clone()),
        other => {
            return Err(r.err(
                "spec.service.targetPort",
                format!("must be a port number or name, not {}", kind(other)),
            ));
        }
    };
    for (field, want) in [
        ("gateways", "list"),
        ("hosts", "list"),
        ("gatewayRefs", "list"),
        ("match", "list"),
    ] {
        if !v[field].is_null() && !v[field].is_array() {
            return Err(r.err(
                &format!("spec.service.{field}"),
                format!("must be a {want}, not {}", kind(&v[field])),
            ));
        }
    }
    Ok(ServiceSpec {
        name: r
            .string(&v["name"], "spec.service.name")?
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| target.to_owned()),
        port,
        port_name: r
            .string(&v["portName"], "spec.service.portName")?
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "http".into()),
        target_port,
        app_protocol: r.string(&v["appProtocol"], "spec.service.appProtocol")?,
        raw: v.clone(),
    })
}

fn parse_analysis(
    r: &Reader<'_>,
    v: &Value,
    path: &str,
    namespace: &str,
    provider: &Provider,
) -> Result<Analysis, SpecError> {
    let p = |f: &str| format!("{path}.{f}");
    let modes = ["iterations", "stepWeight", "stepWeights"]
        .iter()
        .filter(|f| !v[**f].is_null())
        .copied()
        .collect::<Vec<_>>();
    if modes.len() > 1 {
        return Err(r.err(
            path,
            format!(
                "{} are set; use exactly one of iterations (A/B, blue/green), stepWeight or stepWeights",
                modes.join(" and ")
            ),
        ));
    }
    let step_weights = step_weights(r, &v["stepWeights"], &p("stepWeights"))?;
    let (iterations, matches) = iterations_and_matches(r, v, path, provider)?;
    let step_weight = percent(r, &v["stepWeight"], &p("stepWeight"))?.unwrap_or(0);
    if iterations == 0 && step_weight == 0 && step_weights.is_empty() && !v.is_null() {
        return Err(r.err(
            path,
            "sets none of stepWeight, stepWeights or iterations; the canary would never get traffic",
        ));
    }
    let mut metrics = Vec::new();
    for (i, m) in r.list(&v["metrics"], &p("metrics"))?.iter().enumerate() {
        metrics.push(parse_metric(
            r,
            m,
            &format!("{}[{i}]", p("metrics")),
            namespace,
        )?);
    }
    let mut webhooks = Vec::new();
    for (i, h) in r.list(&v["webhooks"], &p("webhooks"))?.iter().enumerate() {
        webhooks.push(parse_webhook(r, h, &format!("{}[{i}]", p("webhooks")))?);
    }
    let mut alerts = Vec::new();
    for (i, a) in r.list(&v["alerts"], &p("alerts"))?.iter().enumerate() {
        alerts.push(parse_alert(
            r,
            a,
            &format!("{}[{i}]", p("alerts")),
            namespace,
        )?);
    }
    Ok(Analysis {
        interval: r
            .duration(&v["interval"], &p("interval"))?
            .unwrap_or(Duration::from_secs(60))
            .max(Duration::from_secs(10)),
        threshold: r
            .int(
                &v["threshold"],
                &p("threshold"),
                i64::MIN,
                i64::from(u32::MAX),
            )?
            .filter(|t| *t > 0)
            .map_or(1, |t| u32::try_from(t).unwrap_or(u32::MAX)),
        max_weight: percent(r, &v["maxWeight"], &p("maxWeight"))?
            .filter(|w| *w > 0)
            .unwrap_or(100),
        step_weight,
        step_weights,
        step_weight_promotion: percent(r, &v["stepWeightPromotion"], &p("stepWeightPromotion"))?
            .unwrap_or(0),
        iterations,
        mirror: r.boolean(&v["mirror"], &p("mirror"))?,
        mirror_weight: percent(r, &v["mirrorWeight"], &p("mirrorWeight"))?.unwrap_or(0),
        matches,
        metrics,
        webhooks,
        alerts,
        session_affinity: session_affinity(r, v, path)?,
        primary_ready_threshold: percent(
            r,
            &v["primaryReadyThreshold"],
            &p("primaryReadyThreshold"),
        )?
        .unwrap_or(100),
        canary_ready_threshold: percent(r, &v["canaryReadyThreshold"], &p("canaryReadyThreshold"))?
            .unwrap_or(100),
    })
}

/// `stepWeights`: canary weights, ascending, each above 0.
fn step_weights(r: &Reader<'_>, v: &Value, at: &str) -> Result<Vec<u8>, SpecError> {
    let mut out = Vec::new();
    for (i, w) in r.list(v, at)?.iter().enumerate() {
        let at = format!("{at}[{i}]");
        let w = percent(r, w, &at)?.unwrap_or(0);
        if w == 0 || out.last().is_some_and(|last| *last >= w) {
            return Err(r.err(
                &at,
                format!("{w} must be above 0 and above the step before it (the list is the canary weights in ascending order)"),
            ));
        }
        out.push(w);
    }
    Ok(out)
}

/// `iterations` and `match`, as the provider can honour them: the kubernetes provider does
/// blue/green only (10 iterations by default); A/B needs a provider that matches requests.
fn iterations_and_matches(
    r: &Reader<'_>,
    v: &Value,
    path: &str,
    provider: &Provider,
) -> Result<(u32, Vec<Value>), SpecError> {
    let p = |f: &str| format!("{path}.{f}");
    let mut iterations = r
        .int(&v["iterations"], &p("iterations"), 0, i64::from(u32::MAX))?
        .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX));
    let mut matches = r.list(&v["match"], &p("match"))?.to_vec();
    if *provider == Provider::Kubernetes {
        // The kubernetes provider can only switch a Service selector: blue/green only.
        matches.clear();
        if iterations < 1 {
            iterations = 10;
        }
    }
    if iterations > 0 && !matches.is_empty() && !provider.matches_requests() {
        // Flagger would route every request to the canary for the whole A/B test.
        return Err(r.err(
            &p("match"),
            format!(
                "provider {provider} cannot match requests by header, so A/B testing would send all traffic to the canary; use a provider that can (istio, nginx, gatewayapi) or drop match for blue/green"
            ),
        ));
    }
    Ok((iterations, matches))
}

/// One entry of `alerts`; the provider's namespace defaults to the Canary's.
fn parse_alert(
    r: &Reader<'_>,
    a: &Value,
    at: &str,
    namespace: &str,
) -> Result<AlertRef, SpecError> {
    let severity = match r
        .string(&a["severity"], &format!("{at}.severity"))?
        .as_deref()
    {
        None | Some("") => None,
        Some("info") => Some(Severity::Info),
        Some("warn") => Some(Severity::Warn),
        Some("error") => Some(Severity::Error),
        Some(s) => {
            return Err(r.err(
                &format!("{at}.severity"),
                format!("{s:?} must be info, warn or error"),
            ));
        }
    };
    let pref = &a["providerRef"];
    Ok(AlertRef {
        name: r
            .string(&a["name"], &format!("{at}.name"))?
            .unwrap_or_default(),
        severity,
        provider_name: r.required(&pref["name"], &format!("{at}.providerRef.name"))?,
        provider_namespace: r
            .string(&pref["namespace"], &format!("{at}.providerRef.namespace"))?
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| namespace.to_owned()),
    })
}

/// `sessionAffinity`: a cookie name, and a primary cookie name that differs from it.
fn session_affinity(r: &Reader<'_>, v: &Value, path: &str) -> Result<Option<Value>, SpecError> {
    let Some(sa) = v.get("sessionAffinity").filter(|s| !s.is_null()) else {
        return Ok(None);
    };
    let cookie = r.required(
        &sa["cookieName"],
        &format!("{path}.sessionAffinity.cookieName"),
    )?;
    if sa["primaryCookieName"].as_str() == Some(cookie.as_str()) {
        return Err(r.err(
            &format!("{path}.sessionAffinity.primaryCookieName"),
            "must differ from cookieName",
        ));
    }
    Ok(Some(sa.clone()))
}

fn parse_metric(
    r: &Reader<'_>,
    m: &Value,
    at: &str,
    namespace: &str,
) -> Result<MetricSpec, SpecError> {
    let name = r.required(&m["name"], &format!("{at}.name"))?;
    let interval = r
        .duration(&m["interval"], &format!("{at}.interval"))?
        .unwrap_or(Duration::from_secs(60));
    let source = if !m["templateRef"].is_null() {
        let t = &m["templateRef"];
        MetricSourceRef::Template {
            name: r.required(&t["name"], &format!("{at}.templateRef.name"))?,
            namespace: r
                .string(&t["namespace"], &format!("{at}.templateRef.namespace"))?
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| namespace.to_owned()),
        }
    } else if let Some(q) = r
        .string(&m["query"], &format!("{at}.query"))?
        .filter(|q| !q.trim().is_empty())
    {
        MetricSourceRef::Inline(q)
    } else {
        match name.as_str() {
            // Pre-0.14 aliases still found in old manifests.
            "request-success-rate" | "istio_requests_total" | "envoy_cluster_upstream_rq" => {
                MetricSourceRef::Builtin(Builtin::SuccessRate)
            }
            "request-duration"
            | "istio_request_duration_seconds_bucket"
            | "envoy_cluster_upstream_rq_time_bucket" => {
                MetricSourceRef::Builtin(Builtin::Duration)
            }
            _ => MetricSourceRef::Unusable,
        }
    };
    let range = &m["thresholdRange"];
    let (mut min, mut max) = (
        r.float(&range["min"], &format!("{at}.thresholdRange.min"))?,
        r.float(&range["max"], &format!("{at}.thresholdRange.max"))?,
    );
    if let (Some(lo), Some(hi)) = (min, max)
        && lo > hi
    {
        return Err(r.err(
            &format!("{at}.thresholdRange"),
            format!("min {lo} is above max {hi}; no value could pass"),
        ));
    }
    if range.is_null()
        && let Some(t) = r.float(&m["threshold"], &format!("{at}.threshold"))?
    {
        // Legacy meaning: a minimum for the success rate, a maximum for everything else.
        if matches!(source, MetricSourceRef::Builtin(Builtin::SuccessRate)) {
            min = Some(t);
        } else {
            max = Some(t);
        }
    }
    if range.is_null() && m["threshold"].is_null() {
        // Flagger with neither: success rate always passes, anything else fails above 0.
        if !matches!(source, MetricSourceRef::Builtin(Builtin::SuccessRate)) {
            max = Some(0.0);
        }
    }
    Ok(MetricSpec {
        name,
        interval,
        min,
        max,
        source,
        variables: r.string_map(&m["templateVariables"], &format!("{at}.templateVariables"))?,
    })
}

fn parse_webhook(r: &Reader<'_>, h: &Value, at: &str) -> Result<WebhookSpec, SpecError> {
    let name = r.required(&h["name"], &format!("{at}.name"))?;
    let url = r.required(&h["url"], &format!("{at}.url"))?;
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(r.err(
            &format!("{at}.url"),
            format!("{url:?} is not an http(s) URL"),
        ));
    }
    let hook_type = match r.string(&h["type"], &format!("{at}.type"))?.as_deref() {
        None | Some("") => HookType::Rollout,
        Some(t) => HookType::ALL
            .iter()
            .find(|(s, _)| *s == t)
            .map(|(_, ty)| *ty)
            .ok_or_else(|| {
                r.err(
                    &format!("{at}.type"),
                    format!(
                        "{t:?} is not a webhook type ({})",
                        HookType::ALL.map(|(s, _)| s).join(", ")
                    ),
                )
            })?,
    };
    // Flagger: a timeout shorter than two characters means the default.
    let timeout = match r.string(&h["timeout"], &format!("{at}.timeout"))? {
        Some(t) if t.len() >= 2 => parse_duration(&t).ok_or_else(|| {
            r.err(
                &format!("{at}.timeout"),
                format!("{t:?} is not a duration like 10s"),
            )
        })?,
        _ => Duration::from_secs(10),
    };
    Ok(WebhookSpec {
        name,
        hook_type,
        url,
        timeout,
        retries: r
            .int(&h["retries"], &format!("{at}.retries"), 0, 100)?
            .map_or(0, |n| u32::try_from(n).unwrap_or(0)),
        metadata: r.string_map(&h["metadata"], &format!("{at}.metadata"))?,
        mute_alert: r.boolean(&h["muteAlert"], &format!("{at}.muteAlert"))?,
        disable_tls: r.boolean(&h["disableTLS"], &format!("{at}.disableTLS"))?,
    })
}

/// Reads a MetricTemplate.
pub fn parse_metric_template(obj: &Value) -> Result<MetricTemplate, SpecError> {
    let label = object_name(obj, "MetricTemplate");
    let r = Reader { object: &label };
    let spec = &obj["spec"];
    r.known_fields("MetricTemplate", spec, &[])?;
    let mut headers = BTreeMap::new();
    if let Some(h) = spec["provider"]["headers"].as_object() {
        for (k, v) in h {
            let vals = match v {
                Value::String(s) => vec![s.clone()],
                Value::Array(a) => a
                    .iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect(),
                _ => {
                    return Err(r.err(
                        &format!("spec.provider.headers.{k}"),
                        "must be a list of strings",
                    ));
                }
            };
            headers.insert(k.clone(), vals);
        }
    }
    let provider_type = r
        .string(&spec["provider"]["type"], "spec.provider.type")?
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "prometheus".into());
    if !METRIC_PROVIDERS.contains(&provider_type.as_str()) {
        return Err(r.err(
            "spec.provider.type",
            format!(
                "{provider_type:?} is not a metric provider Flagger knows ({})",
                METRIC_PROVIDERS.join(", ")
            ),
        ));
    }
    Ok(MetricTemplate {
        namespace: namespace_or_default(obj).to_owned(),
        name: r.required(&obj["metadata"]["name"], "metadata.name")?,
        provider_type,
        insecure_skip_verify: r.boolean(
            &spec["provider"]["insecureSkipVerify"],
            "spec.provider.insecureSkipVerify",
        )?,
        address: r
            .string(&spec["provider"]["address"], "spec.provider.address")?
            .filter(|s| !s.is_empty()),
        region: r
            .string(&spec["provider"]["region"], "spec.provider.region")?
            .filter(|s| !s.is_empty()),
        headers,
        secret_ref: r.string(
            &spec["provider"]["secretRef"]["name"],
            "spec.provider.secretRef.name",
        )?,
        query: r.required(&spec["query"], "spec.query")?,
    })
}

/// Reads an AlertProvider.
pub fn parse_alert_provider(obj: &Value) -> Result<AlertProvider, SpecError> {
    let label = object_name(obj, "AlertProvider");
    let r = Reader { object: &label };
    let spec = &obj["spec"];
    r.known_fields("AlertProvider", spec, &[])?;
    let provider_type = r.required(&spec["type"], "spec.type")?;
    if !matches!(
        provider_type.as_str(),
        "slack" | "msteams" | "discord" | "rocket" | "gchat"
    ) {
        return Err(r.err(
            "spec.type",
            format!("{provider_type:?} must be slack, msteams, discord, rocket or gchat"),
        ));
    }
    let address = r
        .string(&spec["address"], "spec.address")?
        .filter(|s| !s.is_empty());
    let secret_ref = r.string(&spec["secretRef"]["name"], "spec.secretRef.name")?;
    if address.is_none() && secret_ref.is_none() {
        return Err(r.err(
            "spec",
            "needs an address or a secretRef whose Secret holds the address",
        ));
    }
    Ok(AlertProvider {
        namespace: namespace_or_default(obj).to_owned(),
        name: r.required(&obj["metadata"]["name"], "metadata.name")?,
        provider_type,
        channel: r
            .string(&spec["channel"], "spec.channel")?
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "general".into()),
        username: r
            .string(&spec["username"], "spec.username")?
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "flagger".into()),
        address,
        proxy: r.string(&spec["proxy"], "spec.proxy")?,
        secret_ref,
    })
}

#[cfg(test)]
mod tests;
