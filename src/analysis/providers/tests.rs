use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use super::*;

fn secret(pairs: &[(&str, &str)]) -> SecretData {
    SecretData::new(
        "mon/creds".into(),
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<BTreeMap<_, _>>(),
    )
}

const NOW: u64 = 1_700_000_000;

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(NOW)
}

fn header<'a>(c: &'a Call, name: &str) -> Option<&'a str> {
    c.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[test]
fn missing_keys_name_the_secret_and_the_key() {
    let e = prepare(
        "datadog",
        None,
        None,
        Some(&secret(&[("datadog_api_key", "a")])),
    )
    .unwrap_err();
    assert!(
        e.contains("Secret mon/creds has no key \"datadog_application_key\""),
        "{e}"
    );
    let e = prepare("newrelic", None, None, None).unwrap_err();
    assert!(
        e.contains("newrelic_account_id and newrelic_query_key"),
        "{e}"
    );
    let e = prepare(
        "dynatrace",
        None,
        None,
        Some(&secret(&[("dynatrace_token", "t")])),
    )
    .unwrap_err();
    assert!(e.contains("spec.provider.address"), "{e}");
    let e = prepare(
        "graphite",
        Some("http://g"),
        None,
        Some(&secret(&[("username", "u")])),
    )
    .unwrap_err();
    assert!(e.contains("\"password\""), "{e}");
    let e = prepare(
        "influxdb",
        Some("http://i"),
        None,
        Some(&secret(&[("token", "t")])),
    )
    .unwrap_err();
    assert!(e.contains("\"org\""), "{e}");
    assert!(
        prepare("graphite", Some("http://g"), None, None).is_ok(),
        "graphite needs no Secret"
    );
    let e = prepare("graphite", Some("not a url"), None, None).unwrap_err();
    assert!(e.contains("is not a URL"), "{e}");
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let s = secret(&[
        ("datadog_api_key", "KEY-1"),
        ("datadog_application_key", "APP-1"),
    ]);
    let p = prepare("datadog", None, None, Some(&s)).unwrap();
    let shown = format!("{s:?} {p:?}");
    assert!(
        !shown.contains("KEY-1") && !shown.contains("APP-1"),
        "{shown}"
    );
    assert!(
        shown.contains("datadog_api_key"),
        "the keys are shown: {shown}"
    );
    assert_eq!(p.address, datadog::DEFAULT_HOST);
}

#[test]
fn datadog_requests_ten_intervals_with_its_key_headers() {
    let c = datadog::call(
        "https://dd.example/",
        "K",
        "A",
        "sum:errors{*}",
        Duration::from_secs(60),
        now(),
    )
    .unwrap();
    assert_eq!(c.method, reqwest::Method::GET);
    assert_eq!(
        c.url.as_str(),
        format!(
            "https://dd.example/api/v1/query?query=sum%3Aerrors%7B*%7D&from={}&to={NOW}",
            NOW - 600
        )
    );
    assert_eq!(header(&c, "DD-API-KEY"), Some("K"));
    assert_eq!(header(&c, "DD-APPLICATION-KEY"), Some("A"));
    assert_eq!(c.timeout, TIMEOUT);
}

#[test]
fn datadog_takes_the_first_point_of_the_first_series() {
    let v = datadog::value(
        br#"{"series": [{"pointlist": [[1, 1.5], [2, 9.0]]}, {"pointlist": [[1, 7.0]]}]}"#,
    );
    assert_eq!(v, Ok(1.5));
    for empty in [
        r#"{"series": []}"#,
        r#"{"series": [{"pointlist": []}]}"#,
        r#"{"series": [{"pointlist": [[1, null]]}]}"#,
        r#"{"status": "ok"}"#,
    ] {
        assert!(
            matches!(
                datadog::value(empty.as_bytes()),
                Err(MetricError::NoData(_))
            ),
            "{empty}"
        );
    }
    assert!(matches!(
        datadog::value(b"<html>"),
        Err(MetricError::Failed(_))
    ));
}

#[test]
fn newrelic_asks_since_one_interval_with_its_query_key() {
    let c = newrelic::call(
        "https://nr.example",
        "12345",
        "QK",
        "SELECT count(*) AS result FROM Transaction",
        Duration::from_secs(90),
    )
    .unwrap();
    assert_eq!(
        c.url.as_str(),
        "https://nr.example/v1/accounts/12345/query?nrql=SELECT+count%28*%29+AS+result+FROM+Transaction+SINCE+90+seconds+ago"
    );
    assert_eq!(header(&c, "X-Query-Key"), Some("QK"));
    assert_eq!(
        newrelic::value(br#"{"results": [{"result": 2.5}]}"#),
        Ok(2.5)
    );
    for empty in [
        r#"{"results": []}"#,
        r#"{"results": [{"result": null}]}"#,
        r#"{"results": [{"result": 1}, {"result": 2}]}"#,
    ] {
        assert!(
            matches!(
                newrelic::value(empty.as_bytes()),
                Err(MetricError::NoData(_))
            ),
            "{empty}"
        );
    }
}

#[test]
fn dynatrace_asks_ten_intervals_in_milliseconds_with_an_api_token() {
    let c = dynatrace::call(
        "https://dt.example/e/abc",
        "dt0c01.X",
        "builtin:service.response.time:avg",
        Duration::from_secs(60),
        now(),
    )
    .unwrap();
    assert_eq!(
        c.url.as_str(),
        format!(
            "https://dt.example/e/abc/api/v2/metrics/query?metricSelector=builtin%3Aservice.response.time%3Aavg&resolution=Inf&from={}&to={}",
            (NOW - 600) * 1000,
            NOW * 1000
        )
    );
    assert_eq!(header(&c, "Authorization"), Some("Api-Token dt0c01.X"));
    let body = br#"{"result": [{"data": [{"values": [1.0]}, {"values": [3.25, 4]}]}]}"#;
    assert_eq!(
        dynatrace::value(body),
        Ok(3.25),
        "the last series' first value"
    );
    for empty in [
        r#"{"result": []}"#,
        r#"{"result": [{"data": []}]}"#,
        r#"{"result": [{"data": [{"values": [null]}]}]}"#,
    ] {
        assert!(
            matches!(
                dynatrace::value(empty.as_bytes()),
                Err(MetricError::NoData(_))
            ),
            "{empty}"
        );
    }
}

#[test]
fn graphite_sends_the_parameters_sorted_with_json_format_and_basic_auth() {
    let creds = ("u".to_owned(), "p".to_owned());
    let c = graphite::call(
        "http://graphite.example/prefix/",
        Some(&creds),
        "target=sumSeries(app.{a,b}.errors)&from=-5min\n   &format=raw",
    )
    .unwrap();
    assert_eq!(
        c.url.as_str(),
        "http://graphite.example/prefix/render?format=json&from=-5min+&target=sumSeries%28app.%7Ba%2Cb%7D.errors%29"
    );
    assert_eq!(header(&c, "Authorization"), Some("Basic dTpw"));
    let c = graphite::call("http://g", None, "target=x").unwrap();
    assert_eq!(header(&c, "Authorization"), None);
    let body = br#"[{"target": "a", "datapoints": [[1.0, 1], [2.0, 2], [null, 3]]},
                    {"target": "b", "datapoints": [["4.5", 1], [null, 2]]}]"#;
    assert_eq!(graphite::value(body), Ok(4.5), "the last non-null point");
    for empty in [r"[]", r#"[{"target": "a", "datapoints": [[null, 1]]}]"#] {
        assert!(
            matches!(
                graphite::value(empty.as_bytes()),
                Err(MetricError::NoData(_))
            ),
            "{empty}"
        );
    }
}

#[test]
fn influxdb_posts_flux_and_reads_annotated_csv() {
    let creds = ("T".to_owned(), "my org".to_owned());
    let c = influxdb::call("http://influx:8086", Some(&creds), "from(bucket: \"b\")").unwrap();
    assert_eq!(c.method, reqwest::Method::POST);
    assert_eq!(c.url.as_str(), "http://influx:8086/api/v2/query?org=my+org");
    assert_eq!(header(&c, "Authorization"), Some("Token T"));
    let body: serde_json::Value = serde_json::from_str(c.body.as_deref().unwrap()).unwrap();
    assert_eq!(body["query"], "from(bucket: \"b\")");
    assert_eq!(body["type"], "flux");
    assert_eq!(
        body["dialect"]["annotations"],
        serde_json::json!(["datatype", "group", "default"])
    );
    let csv = "#datatype,string,long,dateTime:RFC3339,double\r\n#group,false,false,true,false\r\n#default,_result,,,\r\n,result,table,_start,_value\r\n,,0,2024-01-01T00:00:00Z,99.5\r\n,,0,2024-01-01T00:00:00Z,1\r\n\r\n";
    assert_eq!(
        influxdb::value(csv.as_bytes()),
        Ok(99.5),
        "the first record"
    );
    let empty = "#datatype,string,long,double\r\n#group,false,false,false\r\n#default,_result,,\r\n,result,table,_value\r\n,,0,\r\n";
    assert!(matches!(
        influxdb::value(empty.as_bytes()),
        Err(MetricError::NoData(_))
    ));
    assert!(matches!(influxdb::value(b""), Err(MetricError::NoData(_))));
    let long = "#datatype,string,long,long\r\n#group,false,false,false\r\n#default,_result,,\r\n,result,table,_value\r\n,,0,7\r\n";
    assert!(
        matches!(influxdb::value(long.as_bytes()), Err(MetricError::Failed(e)) if e.contains("toFloat"))
    );
    let error = "#datatype,string,string\r\n#group,true,true\r\n#default,,\r\n,error,reference\r\n,\"type error, bad\",\r\n";
    assert!(
        matches!(influxdb::value(error.as_bytes()), Err(MetricError::Failed(e)) if e.contains("type error, bad"))
    );
}

#[test]
fn statuses_keep_denied_unreachable_and_failed_apart() {
    assert!(matches!(
        classify("datadog", "a", 403, b"{}"),
        Err(MetricError::Denied { .. })
    ));
    assert!(matches!(
        classify("datadog", "a", 401, b"{}"),
        Err(MetricError::Denied { .. })
    ));
    assert!(matches!(
        classify("datadog", "a", 503, b""),
        Err(MetricError::Unreachable { .. })
    ));
    assert!(
        matches!(classify("datadog", "a", 400, b"bad"), Err(MetricError::Failed(e)) if e.contains("bad"))
    );
    assert_eq!(classify("datadog", "a", 200, b""), Ok(()));
}

#[test]
fn keptn_queries_read_as_flaggers() {
    assert_eq!(
        keptn::parse(" KeptnMetric/Mon/Errors\n"),
        Ok(keptn::Query::Metric {
            namespace: "mon".into(),
            name: "errors".into()
        })
    );
    let keptn::Query::Analysis {
        namespace,
        definition,
        recent,
        args,
    } = keptn::parse("analysis/mon/budget/5m/service=web;region=eu;junk").unwrap()
    else {
        panic!("not an analysis");
    };
    assert_eq!(
        (namespace.as_str(), definition.as_str(), recent.as_str()),
        ("mon", "budget", "5m")
    );
    assert_eq!(
        serde_json::Value::Object(args),
        serde_json::json!({"service": "web", "region": "eu"})
    );
    assert!(matches!(
        keptn::parse("analyses/mon/budget").unwrap(),
        keptn::Query::Analysis { recent, .. } if recent == "1m"
    ));
    assert!(keptn::parse("keptnmetric/mon").is_err());
    assert!(keptn::parse("metric/mon/x").is_err());
    let m = serde_json::json!({"metadata": {"name": "e", "namespace": "m"}, "status": {"value": "2.5"}});
    assert_eq!(keptn::metric_value(&m), Ok(2.5));
    assert!(matches!(
        keptn::metric_value(&serde_json::json!({"status": {}})),
        Err(MetricError::NoData(_))
    ));
    let done = |pass| serde_json::json!({"status": {"state": "Completed", "pass": pass}});
    assert_eq!(keptn::analysis_value(&done(true)), Some(1.0));
    assert_eq!(keptn::analysis_value(&done(false)), Some(0.0));
    assert_eq!(
        keptn::analysis_value(&serde_json::json!({"status": {"state": "Progressing"}})),
        None
    );
}

#[test]
fn stackdriver_reads_the_first_point_and_keeps_keys_out_of_errors() {
    let c = stackdriver::query_call(
        "https://monitoring.googleapis.com",
        "my-proj",
        "tok",
        "fetch x",
    )
    .unwrap();
    assert_eq!(
        c.url.as_str(),
        "https://monitoring.googleapis.com/v3/projects/my-proj/timeSeries:query"
    );
    assert_eq!(header(&c, "Authorization"), Some("Bearer tok"));
    assert_eq!(c.body.as_deref(), Some(r#"{"query":"fetch x"}"#));
    let m = stackdriver::metadata_call(None).unwrap();
    assert_eq!(
        m.url.as_str(),
        "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token"
    );
    assert_eq!(header(&m, "Metadata-Flavor"), Some("Google"));
    let point = |v: &str| {
        format!(
            r#"{{"timeSeriesData": [{{"pointData": [{{"values": [{v}]}}, {{"values": [{{"doubleValue": 9}}]}}]}}]}}"#
        )
    };
    assert_eq!(
        stackdriver::value(point(r#"{"doubleValue": 2.5}"#).as_bytes()),
        Ok(2.5)
    );
    assert_eq!(
        stackdriver::value(point(r#"{"int64Value": "7"}"#).as_bytes()),
        Ok(7.0)
    );
    assert!(matches!(
        stackdriver::value(br#"{"timeSeriesDescriptor": {}}"#),
        Err(MetricError::NoData(_))
    ));
    let e = stackdriver::ServiceAccountKey::parse("mon/gcp", r#"{"private_key": "SECRET-PEM"}"#)
        .unwrap_err();
    assert!(e.contains("mon/gcp") && !e.contains("SECRET-PEM"), "{e}");
    let e = prepare(
        "stackdriver",
        None,
        None,
        Some(&secret(&[("serviceAccountKey", "{not json SECRET")])),
    )
    .unwrap_err();
    assert!(!e.contains("SECRET"), "{e}");
    let p = prepare(
        "stackdriver",
        None,
        None,
        Some(&secret(&[("project", "p")])),
    )
    .unwrap();
    assert_eq!(p.address, stackdriver::DEFAULT_HOST);
}

#[test]
fn cloudwatch_flattens_the_queries_and_reads_the_first_value() {
    let q = r#"[{"Id": "e1", "Expression": "m1 / m2", "Label": "errors"},
                {"Id": "m1", "ReturnData": false, "MetricStat": {"Metric": {"Namespace": "App", "MetricName": "5xx",
                 "Dimensions": [{"Name": "Service", "Value": "web"}]}, "Period": 60, "Stat": "Sum"}}]"#;
    let form = cloudwatch::form(q, Duration::from_secs(60), now()).unwrap();
    let pairs: Vec<(String, String)> = reqwest::Url::parse(&format!("http://x/?{form}"))
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("Action"), Some("GetMetricData"));
    assert_eq!(get("Version"), Some("2010-08-01"));
    assert_eq!(get("MaxDatapoints"), Some("20"));
    assert_eq!(get("EndTime"), Some("2023-11-14T22:13:20Z"));
    assert_eq!(
        get("StartTime"),
        Some("2023-11-14T22:03:20Z"),
        "ten intervals back"
    );
    assert_eq!(
        get("MetricDataQueries.member.1.Expression"),
        Some("m1 / m2")
    );
    assert_eq!(get("MetricDataQueries.member.2.ReturnData"), Some("false"));
    assert_eq!(
        get("MetricDataQueries.member.2.MetricStat.Metric.Dimensions.member.1.Value"),
        Some("web")
    );
    assert_eq!(
        get("MetricDataQueries.member.2.MetricStat.Period"),
        Some("60")
    );
    assert!(cloudwatch::form("{}", Duration::from_secs(60), now()).is_err());
    let xml = |values: &str| {
        format!(
            r#"<GetMetricDataResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/"><GetMetricDataResult><MetricDataResults><member><Id>e1</Id><Values>{values}</Values><StatusCode>Complete</StatusCode></member><member><Id>m1</Id><Values><member>77</member></Values></member></MetricDataResults></GetMetricDataResult></GetMetricDataResponse>"#
        )
    };
    assert_eq!(
        cloudwatch::value(xml("<member>2.5</member><member>9</member>").as_bytes()),
        Ok(2.5)
    );
    assert!(matches!(
        cloudwatch::value(xml("").as_bytes()),
        Err(MetricError::NoData(_))
    ));
    assert_eq!(
        cloudwatch::endpoint("eu-west-1"),
        "https://monitoring.eu-west-1.amazonaws.com"
    );
    assert_eq!(
        cloudwatch::endpoint("cn-north-1"),
        "https://monitoring.cn-north-1.amazonaws.com.cn"
    );
    let e = prepare("cloudwatch", None, None, None).unwrap_err();
    assert!(e.contains("spec.provider.region"), "{e}");
}

#[test]
fn cloudwatch_credentials_follow_the_default_chain() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    };
    let e = env(&[
        ("AWS_ACCESS_KEY_ID", "AKID"),
        ("AWS_SECRET_ACCESS_KEY", "S"),
        ("AWS_ROLE_ARN", "r"),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", "/t"),
    ]);
    assert_eq!(cloudwatch::source(&e), Ok(cloudwatch::Source::Environment));
    let creds = cloudwatch::environment(&e).unwrap();
    assert_eq!(creds.access_key_id(), "AKID");
    assert!(!format!("{creds:?}").contains("\"S\""), "{creds:?}");
    let e = env(&[
        ("AWS_ROLE_ARN", "arn:aws:iam::1:role/r"),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", "/t"),
    ]);
    assert!(
        matches!(cloudwatch::source(&e), Ok(cloudwatch::Source::WebIdentity { session_name, .. }) if session_name == "fledge")
    );
    let e = env(&[
        ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/creds"),
        ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "tok"),
    ]);
    assert_eq!(
        cloudwatch::source(&e),
        Ok(cloudwatch::Source::Container {
            uri: "http://169.254.170.2/v2/creds".into(),
            authorization: Some("tok".into())
        })
    );
    let e = env(&[]);
    assert_eq!(
        cloudwatch::source(&e),
        Ok(cloudwatch::Source::InstanceMetadata {
            endpoint: "http://169.254.169.254".into()
        })
    );
    assert!(cloudwatch::source(&env(&[("AWS_EC2_METADATA_DISABLED", "true")])).is_err());
    let sts = br#"<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>ASIA1</AccessKeyId><SecretAccessKey>sec/+=</SecretAccessKey><SessionToken>tok</SessionToken><Expiration>2030-01-01T00:00:00Z</Expiration></Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>"#;
    let c = cloudwatch::web_identity_credentials(sts).unwrap();
    assert_eq!(
        (c.access_key_id(), c.secret_access_key(), c.session_token()),
        ("ASIA1", "sec/+=", Some("tok"))
    );
    let c = cloudwatch::json_credentials(
        br#"{"AccessKeyId": "A", "SecretAccessKey": "B", "Token": "C"}"#,
    )
    .unwrap();
    assert_eq!(c.session_token(), Some("C"));
}

#[test]
fn external_metrics_queries_read_as_flaggers_parser_reads_them() {
    use externalmetrics::{Query, parse};
    let q = |ns: &str, metric: &str, selector: &str| Query {
        namespace: ns.into(),
        metric: metric.into(),
        selector: selector.into(),
    };
    // The cases of Flagger's externalmetrics_test.go.
    assert_eq!(
        parse("default/myMetric?labelSelector=label1%3Dvalue1").unwrap(),
        q("default", "myMetric", "label1=value1")
    );
    assert_eq!(
        parse("default/myMetric").unwrap(),
        q("default", "myMetric", "")
    );
    assert_eq!(
        parse("/metric_only").unwrap(),
        q("default", "metric_only", "")
    );
    assert_eq!(parse("job-rate").unwrap(), q("default", "job-rate", ""));
    for bad in ["namespaceonly/", "/", "", "namespace/metric/extra"] {
        assert!(matches!(parse(bad), Err(MetricError::Failed(_))), "{bad:?}");
    }
    // A selector the API server could not parse fails here, naming the query.
    let Err(MetricError::Failed(m)) = parse("ns/m?labelSelector=app%20in%20web") else {
        panic!("a malformed selector is accepted");
    };
    assert!(m.contains("ns/m?labelSelector"), "{m}");
    // The request's path, its segments and selector escaped.
    assert_eq!(
        parse("shop/http_errors?labelSelector=app%3Dweb,env%20in%20(a,b)")
            .unwrap()
            .path(),
        "/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/http_errors?labelSelector=app%3Dweb%2Cenv+in+%28a%2Cb%29&timeout=5s"
    );
}

#[test]
fn external_metric_values_are_quantities() {
    use externalmetrics::{quantity, value};
    for (q, v) in [
        ("2", 2.0),
        ("1500m", 1.5),
        ("250u", 0.000_25),
        ("1k", 1000.0),
        ("2Ki", 2048.0),
        ("1.5e3", 1500.0),
        ("-3", -3.0),
    ] {
        assert!((quantity(q).unwrap() - v).abs() < 1e-12, "{q}");
    }
    assert_eq!(quantity("12x"), None);
    let list = |items: &str| format!(r#"{{"kind":"ExternalMetricValueList","items":{items}}}"#);
    let v = value(
        list(r#"[{"metricName":"m","value":"1500m"},{"metricName":"m","value":"7"}]"#).as_bytes(),
    )
    .unwrap();
    assert!((v - 1.5).abs() < 1e-12);
    assert!(matches!(
        value(list("[]").as_bytes()),
        Err(MetricError::NoData(_))
    ));
}

#[test]
fn external_metrics_without_an_address_go_through_the_cluster() {
    let p = prepare(
        "externalmetrics",
        None,
        None,
        Some(&secret(&[("token", "t")])),
    )
    .unwrap();
    assert_eq!(
        p.credentials,
        Credentials::ExternalMetrics {
            token: None,
            direct: false
        }
    );
    let p = prepare(
        "externalmetrics",
        Some("https://adapter.mon:8443/"),
        None,
        Some(&secret(&[("token", "t")])),
    )
    .unwrap();
    assert_eq!(p.address, "https://adapter.mon:8443");
    let c = p
        .call("shop/errors", Duration::from_secs(60), now())
        .unwrap();
    assert_eq!(
        c.url.as_str(),
        "https://adapter.mon:8443/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/errors?timeout=5s"
    );
    assert_eq!(header(&c, "authorization"), Some("Bearer t"));
    assert_eq!(
        format!("{:?}", p.credentials),
        "Credentials::ExternalMetrics(<redacted>)"
    );
}

#[test]
fn splunk_endpoints_are_flaggers_text_replacements() {
    assert_eq!(
        splunk::endpoints("https://api.eu0.signalfx.com"),
        (
            "wss://stream.eu0.signalfx.com/v2/signalflow/connect".into(),
            "https://api.eu0.signalfx.com/v2/metric?limit=1".into()
        )
    );
    assert_eq!(
        splunk::endpoints("wss://stream.us1.signalfx.com"),
        (
            "wss://stream.us1.signalfx.com/v2/signalflow/connect".into(),
            "https://api.us1.signalfx.com/v2/metric?limit=1".into()
        )
    );
    assert_eq!(
        splunk::endpoints("http://127.0.0.1:8080"),
        (
            "ws://127.0.0.1:8080/v2/signalflow/connect".into(),
            "http://127.0.0.1:8080/v2/metric?limit=1".into()
        )
    );
    let c = splunk::check_call("https://api.eu0.signalfx.com/v2/metric?limit=1", "tok").unwrap();
    assert_eq!(header(&c, "x-sf-token"), Some("tok"));
    assert!(
        prepare("splunk", Some("https://api.eu0.signalfx.com"), None, None)
            .unwrap_err()
            .contains("sf_token_key")
    );
    assert_eq!(
        format!(
            "{:?}",
            prepare(
                "splunk",
                Some("https://api.eu0.signalfx.com"),
                None,
                Some(&secret(&[("sf_token_key", "secret-token")]))
            )
            .unwrap()
        ),
        "ProviderQuery { address: \"https://api.eu0.signalfx.com\", credentials: Credentials::Splunk(<redacted>) }"
    );
}

#[test]
fn splunk_execute_asks_for_the_last_ten_intervals() {
    let m: serde_json::Value = serde_json::from_str(&splunk::execute(
        "data('x').publish()",
        Duration::from_secs(60),
        now(),
    ))
    .unwrap();
    let stop = i64::try_from(NOW * 1000).unwrap();
    assert_eq!(
        m,
        serde_json::json!({"type": "execute", "program": "data('x').publish()", "channel": "ch-1",
                           "start": stop - 600_000, "stop": stop, "resolution": 0, "maxDelay": 0,
                           "immediate": true, "timezone": ""})
    );
}

/// A SignalFlow binary data message of `points` (type, TSID, value bits) on `channel`.
fn signalflow_data(channel: &str, points: &[(u8, i64, u64)], gzip: bool) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&1_700_000_000_000u64.to_be_bytes());
    body.extend_from_slice(&u32::try_from(points.len()).unwrap().to_be_bytes());
    for (t, tsid, v) in points {
        body.push(*t);
        body.extend_from_slice(&tsid.to_be_bytes());
        body.extend_from_slice(&v.to_be_bytes());
    }
    if gzip {
        use std::io::Write as _;
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&body).unwrap();
        body = z.finish().unwrap();
    }
    let mut msg = vec![1, 5, u8::from(gzip), 0];
    let mut name = [0u8; 16];
    name[..channel.len()].copy_from_slice(channel.as_bytes());
    msg.extend_from_slice(&name);
    msg.extend_from_slice(&body);
    msg
}

#[test]
fn splunk_reads_the_last_point_of_one_series() {
    use splunk::{Reader, Step};
    let mut r = Reader::default();
    assert_eq!(
        r.text(r#"{"type":"authenticated","orgId":"o"}"#).unwrap(),
        Step::Authenticated
    );
    r.binary(&signalflow_data("ch-1", &[(2, 7, 1.5f64.to_bits())], false))
        .unwrap();
    // Another channel's data is not this computation's.
    r.binary(&signalflow_data("ch-9", &[(2, 8, 9f64.to_bits())], false))
        .unwrap();
    // A long, gzipped; an int's value is its first four bytes.
    r.binary(&signalflow_data("ch-1", &[(1, 7, 3)], true))
        .unwrap();
    assert!((r.value().unwrap() - 3.0).abs() < 1e-12);
    r.binary(&signalflow_data("ch-1", &[(3, 7, 5u64 << 32)], false))
        .unwrap();
    assert!((r.value().unwrap() - 5.0).abs() < 1e-12);
    assert_eq!(
        r.text(r#"{"type":"control-message","channel":"ch-1","event":"END_OF_CHANNEL"}"#)
            .unwrap(),
        Step::Done
    );
    // Two series: an error, as in Flagger.
    r.binary(&signalflow_data("ch-1", &[(2, 9, 1f64.to_bits())], false))
        .unwrap();
    assert!(matches!(r.value(), Err(MetricError::Failed(m)) if m.contains("more than one")));
    // No points: no data.
    assert!(matches!(
        Reader::default().value(),
        Err(MetricError::NoData(_))
    ));
    // An error before authentication: refused credentials; after it, a failed query.
    assert!(matches!(
        Reader::default().text(r#"{"type":"error","error":401,"message":"Invalid auth token"}"#),
        Err(MetricError::Denied { .. })
    ));
    assert!(matches!(
        r.text(r#"{"type":"error","channel":"ch-1","error":400,"message":"bad program"}"#),
        Err(MetricError::Failed(m)) if m.contains("bad program")
    ));
}
