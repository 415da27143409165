//! The calls the daemon makes: deliver an event to every Provider its Alerts reach, reading
//! each Provider's Secrets from the cluster (in the Provider's namespace, as Flux does), and read
//! a Receiver's token to serve and verify its hook.

use crate::cluster::Cluster;
use crate::flux::Id;
use crate::flux::notification::{Alert, Event, Provider, Receiver, dispatch};
use crate::net::Secret;
use crate::object::{ObjectRef, secret_field};

use super::{Error, ProviderSecrets, Sender, Sent};

/// What became of an event at one Alert.
#[derive(Debug)]
pub struct Delivery {
    pub alert: Id,
    /// The Provider, when the Alert's `providerRef` names one that exists.
    pub provider: Option<Id>,
    pub result: Result<Sent, Error>,
    /// Metadata keys set by more than one source (Flux warns about them).
    pub conflicts: Vec<String>,
}

/// A Secret in `namespace`, or an error naming the Provider field that names it.
async fn secret(
    cluster: &impl Cluster,
    owner: &str,
    field: &str,
    namespace: &str,
    name: Option<&String>,
) -> Result<Option<serde_json::Value>, Error> {
    let Some(name) = name else { return Ok(None) };
    let missing = |message: String| Error::Config {
        provider: owner.to_owned(),
        field: field.to_owned(),
        message,
    };
    match cluster
        .get(&ObjectRef::new("v1", "Secret", namespace, name))
        .await
    {
        Ok(Some(s)) => Ok(Some(s)),
        Ok(None) => Err(missing(format!("Secret `{namespace}/{name}` not found"))),
        Err(e) => Err(missing(format!(
            "cannot read Secret `{namespace}/{name}`: {e}"
        ))),
    }
}

/// Sends to one Provider: its Secrets read, a sender built, the event posted.
async fn send(
    cluster: &impl Cluster,
    p: &Provider,
    event: &Event,
    fallback_uid: &str,
) -> Result<Sent, Error> {
    let (owner, ns) = (p.id.to_string(), p.id.namespace.as_str());
    let main = secret(cluster, &owner, "spec.secretRef", ns, p.secret_ref.as_ref()).await?;
    let proxy = secret(
        cluster,
        &owner,
        "spec.proxySecretRef",
        ns,
        p.proxy_secret_ref.as_ref(),
    );
    let proxy = proxy.await?;
    let cert = secret(
        cluster,
        &owner,
        "spec.certSecretRef",
        ns,
        p.cert_secret_ref.as_ref(),
    );
    let cert = cert.await?;
    let secrets = ProviderSecrets {
        secret: main.as_ref(),
        proxy: proxy.as_ref(),
        cert: cert.as_ref(),
    };
    let uid = p.uid.as_deref().unwrap_or(fallback_uid);
    Sender::new(p, &secrets, uid)?.post(event).await
}

/// Delivers `event` as notification-controller would: to the Provider of every Alert it
/// reaches (suspended ones skipped), one after the other. `fallback_uid` stands for the UID of
/// a Provider that has none (one read from Git rather than the cluster): a value stable per
/// cluster, so commit status ids stay the same across restarts.
pub async fn deliver(
    cluster: &impl Cluster,
    alerts: &[Alert],
    providers: &[Provider],
    event: &Event,
    fallback_uid: &str,
) -> Vec<Delivery> {
    let mut out = Vec::new();
    for d in dispatch(alerts, providers, event) {
        let delivery = match d {
            Ok(d) => Delivery {
                alert: d.alert.id.clone(),
                provider: Some(d.provider.id.clone()),
                result: send(cluster, d.provider, &d.event, fallback_uid).await,
                conflicts: d.conflicts,
            },
            Err(e) => Delivery {
                // The error is the Alert's: its object is `<namespace>/<name>`.
                alert: e.object.split_once('/').map_or_else(
                    || Id {
                        namespace: String::new(),
                        name: e.object.clone(),
                    },
                    |(namespace, name)| Id {
                        namespace: namespace.to_owned(),
                        name: name.to_owned(),
                    },
                ),
                provider: None,
                result: Err(Error::Config {
                    provider: e.object.clone(),
                    field: e.path.clone(),
                    message: e.message.clone(),
                }),
                conflicts: Vec::new(),
            },
        };
        out.push(delivery);
    }
    out
}

/// The `token` of a Receiver's Secret (in its namespace), which names its path and signs its
/// requests.
pub async fn receiver_token(cluster: &impl Cluster, r: &Receiver) -> Result<Secret, Error> {
    let owner = r.id.to_string();
    let ns = r.id.namespace.as_str();
    let s = secret(cluster, &owner, "spec.secretRef", ns, Some(&r.secret_ref)).await?;
    s.as_ref()
        .and_then(|s| secret_field(s, "token"))
        .map(Secret::new)
        .ok_or_else(|| Error::Config {
            provider: owner,
            field: "spec.secretRef".into(),
            message: format!("Secret `{ns}/{}` has no `token` key", r.secret_ref),
        })
}
