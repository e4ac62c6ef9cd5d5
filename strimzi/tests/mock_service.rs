//! The exact requests the client sends, checked against kube-rs's mock service (tower-test):
//! method, path, query, content type and the patch body byte for byte as JSON, for hold,
//! release, clear_mark and request_restart, plus the 409 re-read and the dropped-field guard.

use std::time::{Duration, UNIX_EPOCH};

use cdc_sentinel_strimzi::{Error, Hold, HoldState, Options, Outcome, Restart, Strimzi};
use http::{Request, Response};
use http_body_util::BodyExt;
use kube::client::Body;
use serde_json::{json, Value};

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

fn client() -> (Strimzi, Handle) {
    let (svc, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(svc, "kafka");
    let s = Strimzi::with_client(
        client,
        Options::new("my-connect"),
        "https://mock:6443",
        |_| {},
    )
    .unwrap();
    (s, handle)
}

fn respond(code: u16, body: Value) -> Response<Body> {
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string().into_bytes()))
        .unwrap()
}

/// Takes the next request, checks method and path+query, answers; returns the JSON body sent.
async fn expect(
    h: &mut Handle,
    method: &str,
    uri: &str,
    answer: Response<Body>,
) -> (Option<String>, Option<Value>) {
    let (req, send) = tokio::time::timeout(Duration::from_secs(5), h.next_request())
        .await
        .unwrap_or_else(|_| panic!("no request; expected {method} {uri}"))
        .expect("the client hung up");
    assert_eq!(req.method().as_str(), method, "method of {uri}");
    assert_eq!(req.uri().to_string(), uri);
    let ct = req
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string());
    let bytes = req.into_body().collect().await.unwrap().to_bytes();
    send.send_response(answer);
    let body = if bytes.is_empty() {
        None
    } else {
        Some(serde_json::from_slice(&bytes).unwrap())
    };
    (ct, body)
}

async fn discovery(h: &mut Handle) {
    expect(
        h,
        "GET",
        "/apis/kafka.strimzi.io",
        respond(200, json!({"kind": "APIGroup", "name": "kafka.strimzi.io",
            "versions": [{"groupVersion": "kafka.strimzi.io/v1", "version": "v1"}, {"groupVersion": "kafka.strimzi.io/v1beta2", "version": "v1beta2"}],
            "preferredVersion": {"groupVersion": "kafka.strimzi.io/v1", "version": "v1"}})),
    )
    .await;
    expect(
        h,
        "GET",
        "/apis/kafka.strimzi.io/v1",
        respond(200, json!({"kind": "APIResourceList", "groupVersion": "kafka.strimzi.io/v1",
            "resources": [{"name": "kafkaconnectors", "namespaced": true, "kind": "KafkaConnector", "verbs": ["get", "list", "patch"]}]})),
    )
    .await;
}

const OBJ: &str = "/apis/kafka.strimzi.io/v1/namespaces/kafka/kafkaconnectors/inv";
const PATCH_QUERY: &str = "?&fieldManager=cdc-sentinel&fieldValidation=Strict";

fn object(rv: &str, state: Option<&str>, annotations: Value) -> Value {
    let mut o = json!({"apiVersion": "kafka.strimzi.io/v1", "kind": "KafkaConnector",
        "metadata": {"name": "inv", "namespace": "kafka", "resourceVersion": rv, "generation": 1,
                     "labels": {"strimzi.io/cluster": "my-connect"}, "annotations": annotations},
        "spec": {"class": "io.debezium.connector.postgresql.PostgresConnector", "config": {"database.password": "pw"}}});
    if let Some(s) = state {
        o["spec"]["state"] = json!(s);
    }
    o
}

fn mark(state: &str) -> Value {
    json!({"cdc-sentinel.io/held-state": state, "cdc-sentinel.io/held-since": "2026-11-18T11:06:40Z",
           "cdc-sentinel.io/held-reason": "probe_failed", "cdc-sentinel.io/held-target": "db:5432"})
}

fn the_hold() -> Hold {
    Hold {
        state: HoldState::Paused,
        since: UNIX_EPOCH + Duration::from_secs(1_795_000_000),
        reason: "probe_failed".into(),
        target: "db:5432".into(),
    }
}

fn patch_uri() -> String {
    // kube-core's query builder leaves a '&' after the '?'; the API server ignores it.
    format!("{OBJ}{PATCH_QUERY}")
}

#[tokio::test]
async fn hold_sends_one_merge_patch_with_state_mark_and_precondition() {
    let (s, mut h) = client();
    let call = tokio::spawn(async move { s.hold("inv", &the_hold()).await });
    discovery(&mut h).await;
    expect(
        &mut h,
        "GET",
        OBJ,
        respond(200, object("5", None, json!({"team": "a"}))),
    )
    .await;
    let (ct, body) = expect(
        &mut h,
        "PATCH",
        &patch_uri(),
        respond(200, object("6", Some("paused"), mark("paused"))),
    )
    .await;
    assert_eq!(ct.as_deref(), Some("application/merge-patch+json"));
    assert_eq!(
        body.unwrap(),
        json!({
            "metadata": {"resourceVersion": "5", "annotations": {
                "cdc-sentinel.io/held-state": "paused",
                "cdc-sentinel.io/held-since": "2026-11-18T11:06:40Z",
                "cdc-sentinel.io/held-reason": "probe_failed",
                "cdc-sentinel.io/held-target": "db:5432"}},
            "spec": {"state": "paused"}
        })
    );
    assert_eq!(
        call.await.unwrap().unwrap(),
        Outcome::Written {
            resource_version: "6".into()
        }
    );
}

#[tokio::test]
async fn release_sends_running_and_removes_our_annotations_only() {
    let (s, mut h) = client();
    let call = tokio::spawn(async move { s.release("inv").await });
    discovery(&mut h).await;
    let mut ann = mark("paused");
    ann["team"] = json!("a");
    expect(
        &mut h,
        "GET",
        OBJ,
        respond(200, object("9", Some("paused"), ann)),
    )
    .await;
    let (_, body) = expect(
        &mut h,
        "PATCH",
        &patch_uri(),
        respond(200, object("10", Some("running"), json!({"team": "a"}))),
    )
    .await;
    assert_eq!(
        body.unwrap(),
        json!({
            "metadata": {"resourceVersion": "9", "annotations": {
                "cdc-sentinel.io/held-state": null, "cdc-sentinel.io/held-since": null,
                "cdc-sentinel.io/held-reason": null, "cdc-sentinel.io/held-target": null}},
            "spec": {"state": "running"}
        })
    );
    assert_eq!(
        call.await.unwrap().unwrap(),
        Outcome::Written {
            resource_version: "10".into()
        }
    );
}

#[tokio::test]
async fn clear_mark_sends_only_the_removal_of_our_annotations() {
    let (s, mut h) = client();
    let call = tokio::spawn(async move { s.clear_mark("inv").await });
    discovery(&mut h).await;
    expect(
        &mut h,
        "GET",
        OBJ,
        respond(200, object("3", Some("running"), mark("paused"))),
    )
    .await;
    let (_, body) = expect(
        &mut h,
        "PATCH",
        &patch_uri(),
        respond(200, object("4", Some("running"), json!({}))),
    )
    .await;
    let body = body.unwrap();
    assert_eq!(
        body["spec"],
        Value::Null,
        "no spec in a mark removal: {body}"
    );
    assert_eq!(body["metadata"]["resourceVersion"], "3");
    assert_eq!(
        body["metadata"]["annotations"].as_object().unwrap().len(),
        4
    );
    assert!(body["metadata"]["annotations"]
        .as_object()
        .unwrap()
        .values()
        .all(Value::is_null));
    assert!(matches!(
        call.await.unwrap().unwrap(),
        Outcome::Written { .. }
    ));
}

#[tokio::test]
async fn a_humans_pause_gets_a_read_and_no_patch() {
    let (s, mut h) = client();
    let call = tokio::spawn(async move {
        let a = s.release("inv").await;
        let b = s.clear_mark("inv").await;
        (a, b)
    });
    discovery(&mut h).await;
    expect(
        &mut h,
        "GET",
        OBJ,
        respond(200, object("3", Some("paused"), json!({}))),
    )
    .await;
    expect(
        &mut h,
        "GET",
        OBJ,
        respond(200, object("3", Some("paused"), json!({}))),
    )
    .await;
    let (a, b) = call.await.unwrap();
    assert!(matches!(a.unwrap(), Outcome::Declined(_)));
    assert!(matches!(b.unwrap(), Outcome::Declined(_)));
    // Nothing more was sent: the client is gone and no request is pending.
    let more = tokio::time::timeout(Duration::from_millis(100), h.next_request()).await;
    assert!(
        matches!(more, Ok(None) | Err(_)),
        "a request after the reads"
    );
}

#[tokio::test]
async fn request_restart_sends_the_strimzi_annotation() {
    let (s, mut h) = client();
    let call = tokio::spawn(async move {
        s.request_restart("inv", Restart::FailedConnectorAndTasks)
            .await
    });
    discovery(&mut h).await;
    expect(
        &mut h,
        "GET",
        OBJ,
        respond(200, object("7", None, json!({}))),
    )
    .await;
    let (_, body) = expect(
        &mut h,
        "PATCH",
        &patch_uri(),
        respond(
            200,
            object(
                "8",
                None,
                json!({"strimzi.io/restart": "includeTasks,onlyFailed"}),
            ),
        ),
    )
    .await;
    assert_eq!(
        body.unwrap(),
        json!({"metadata": {"resourceVersion": "7", "annotations": {"strimzi.io/restart": "includeTasks,onlyFailed"}}})
    );
    assert!(matches!(
        call.await.unwrap().unwrap(),
        Outcome::Written { .. }
    ));
}

#[tokio::test]
async fn a_409_is_answered_by_a_new_read_and_a_patch_against_the_new_version() {
    let (s, mut h) = client();
    let call = tokio::spawn(async move { s.hold("inv", &the_hold()).await });
    discovery(&mut h).await;
    expect(
        &mut h,
        "GET",
        OBJ,
        respond(200, object("5", None, json!({}))),
    )
    .await;
    let conflict = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Conflict", "code": 409,
        "message": "Operation cannot be fulfilled on kafkaconnectors.kafka.strimzi.io \"inv\": the object has been modified; please apply your changes to the latest version and try again",
        "details": {"name": "inv", "group": "kafka.strimzi.io", "kind": "kafkaconnectors"}});
    let (_, first) = expect(&mut h, "PATCH", &patch_uri(), respond(409, conflict)).await;
    assert_eq!(first.unwrap()["metadata"]["resourceVersion"], "5");
    expect(
        &mut h,
        "GET",
        OBJ,
        respond(200, object("6", None, json!({}))),
    )
    .await;
    let (_, second) = expect(
        &mut h,
        "PATCH",
        &patch_uri(),
        respond(200, object("7", Some("paused"), mark("paused"))),
    )
    .await;
    assert_eq!(second.unwrap()["metadata"]["resourceVersion"], "6");
    assert_eq!(
        call.await.unwrap().unwrap(),
        Outcome::Written {
            resource_version: "7".into()
        }
    );
}

#[tokio::test]
async fn a_server_that_drops_spec_state_gets_its_mark_removed_and_an_error() {
    // An API server that ignores fieldValidation and prunes spec.state (a pre-0.38 CRD).
    let (s, mut h) = client();
    let call = tokio::spawn(async move { s.hold("inv", &the_hold()).await });
    discovery(&mut h).await;
    expect(
        &mut h,
        "GET",
        OBJ,
        respond(200, object("5", None, json!({}))),
    )
    .await;
    expect(
        &mut h,
        "PATCH",
        &patch_uri(),
        respond(200, object("6", None, mark("paused"))),
    )
    .await;
    // The mark must not claim a hold that does not exist.
    expect(
        &mut h,
        "GET",
        OBJ,
        respond(200, object("6", None, mark("paused"))),
    )
    .await;
    let (_, body) = expect(
        &mut h,
        "PATCH",
        &patch_uri(),
        respond(200, object("7", None, json!({}))),
    )
    .await;
    assert!(body.unwrap()["metadata"]["annotations"]
        .as_object()
        .unwrap()
        .values()
        .all(Value::is_null));
    let e = call.await.unwrap().unwrap_err();
    assert!(matches!(e, Error::Unsupported { .. }), "{e:?}");
}
