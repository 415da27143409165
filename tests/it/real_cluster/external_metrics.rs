//! The external metrics API read through the real API server (an `externalmetrics`
//! MetricTemplate without an address). The test control plane's aggregator has no front-proxy
//! client certificate or request-header CA and cannot route to a Service, so no metrics adapter
//! can be registered here: what is proven is the request and how the server's refusals are read.
//! Values, no data and the selector are proven on the simulated cluster
//! (`metric_providers::externalmetrics_through_the_cluster`).

use fledge::analysis::MetricError;
use fledge::analysis::providers::externalmetrics::{parse, through_cluster};

use crate::support::testcluster::or_skip;

#[tokio::test(flavor = "multi_thread")]
async fn an_unserved_external_metrics_api_and_a_missing_grant_are_told_apart() {
    let Some(c) = or_skip() else { return };
    let kube = c.kube().await;
    let query = parse("shop/jobs_failed?labelSelector=app%3Dweb").unwrap();

    // No adapter registered: the server does not serve the group; the check says what to do.
    let e = through_cluster(&kube, &query).await.unwrap_err();
    assert!(
        matches!(&e, MetricError::Failed(m)
            if m.contains("GET /apis/external.metrics.k8s.io/v1beta1/namespaces/shop/jobs_failed?labelSelector=app%3Dweb")
                && m.contains("is a metrics adapter registered")),
        "{e:?}"
    );

    // An account without a grant of external.metrics.k8s.io is refused first: access denied,
    // not a missing API.
    let ns = c.namespace("external-metrics");
    c.kubectl(&["create", "serviceaccount", "reader", "-n", &ns]);
    let reader = kube.impersonating(&ns, "reader").unwrap();
    let e = through_cluster(&reader, &query).await.unwrap_err();
    assert!(
        matches!(&e, MetricError::Denied { message, .. }
            if message.contains("forbidden") && message.contains("external.metrics.k8s.io")),
        "{e:?}"
    );
}
