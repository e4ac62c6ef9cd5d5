//! The client against the fake Kubernetes API server, through kube-rs and real HTTP on
//! 127.0.0.1: discovery, the per-poll view, holds that survive the operator's reconciliations,
//! humans' decisions left alone, 409/403/unreachable handled as the agent needs.

// Tests measure and wait on the wall clock.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use cdc_sentinel_sim::k8s::{FakeApi, FakeConfig, Fault, FaultAction, OperatorCall};
use cdc_sentinel_strimzi::{
    ApiVersion, ConnectorState, Declined, Error, Hold, HoldState, Managed, Options, Outcome,
    RequestEvent, Restart, Strimzi, View,
};
use serde_json::{json, Value};

const NS: &str = "kafka";
const CLUSTER: &str = "my-connect";

struct Setup {
    fake: FakeApi,
    strimzi: Strimzi,
    events: Arc<Mutex<Vec<RequestEvent>>>,
    _dir: tempfile::TempDir,
}

async fn setup_with(cfg: FakeConfig, tweak: impl FnOnce(&mut Options)) -> Setup {
    let fake = FakeApi::start(cfg).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = fake.write_kubeconfig(dir.path(), NS).unwrap();
    let mut opts = Options::new(CLUSTER);
    opts.kubeconfig = Some(kubeconfig);
    opts.request_timeout = Duration::from_secs(2);
    tweak(&mut opts);
    let events = Arc::new(Mutex::new(Vec::new()));
    let ev = events.clone();
    let strimzi = Strimzi::new(opts, move |e: &RequestEvent| {
        ev.lock().unwrap().push(e.clone())
    })
    .await
    .unwrap();
    Setup {
        fake,
        strimzi,
        events,
        _dir: dir,
    }
}

async fn setup() -> Setup {
    setup_with(FakeConfig::default(), |_| {}).await
}

fn hold(state: HoldState) -> Hold {
    Hold {
        state,
        since: humantime::parse_rfc3339("2026-11-20T02:00:05Z").unwrap(),
        reason: "task_failed".into(),
        target: "postgres://cdc:secret-pw@db.inventory:5432/inventory".into(),
    }
}

fn fresh(v: View) -> cdc_sentinel_strimzi::Snapshot {
    match v {
        View::Fresh(s) => s,
        View::Blind { error, .. } => panic!("blind: {error}"),
    }
}

fn writes(fake: &FakeApi) -> Vec<cdc_sentinel_sim::k8s::Logged> {
    fake.requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .collect()
}

fn our_annotations(obj: &Value) -> Vec<String> {
    obj["metadata"]["annotations"]
        .as_object()
        .map(|m| {
            m.keys()
                .filter(|k| k.starts_with("cdc-sentinel.io/"))
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

async fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let end = tokio::time::Instant::now() + timeout;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < end,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ------------------------------------------------------------------------------------------
// Discovery
// ------------------------------------------------------------------------------------------

#[tokio::test]
async fn discovery_prefers_v1_and_falls_back_to_v1beta2() {
    let s = setup().await;
    assert_eq!(s.strimzi.discover().await.unwrap(), ApiVersion::V1);
    s.fake.create_connector(NS, "inv", CLUSTER, None);
    let snap = fresh(s.strimzi.observe().await);
    assert_eq!(snap.api_version, ApiVersion::V1);
    assert!(s
        .fake
        .requests()
        .iter()
        .any(|r| r.path == "/apis/kafka.strimzi.io/v1/namespaces/kafka/kafkaconnectors"));

    let cfg = FakeConfig {
        versions: vec!["v1beta2"],
        ..FakeConfig::default()
    };
    let s = setup_with(cfg, |_| {}).await;
    assert_eq!(s.strimzi.discover().await.unwrap(), ApiVersion::V1beta2);
    // v1beta2 still has the deprecated spec.pause: a human's `pause: true` is a human's hold.
    s.fake
        .create(NS, json!({"metadata": {"name": "old", "labels": {"strimzi.io/cluster": CLUSTER}}, "spec": {"pause": true}}))
        .unwrap();
    let snap = fresh(s.strimzi.observe().await);
    assert_eq!(snap.get("old").unwrap().state, ConnectorState::Paused);
    assert_eq!(
        s.strimzi
            .hold("old", &hold(HoldState::Paused))
            .await
            .unwrap(),
        Outcome::Declined(Declined::HumanHold(ConnectorState::Paused))
    );
}

#[tokio::test]
async fn discovery_says_when_strimzi_is_not_installed() {
    let s = setup_with(
        FakeConfig {
            versions: vec![],
            ..FakeConfig::default()
        },
        |_| {},
    )
    .await;
    let e = s.strimzi.discover().await.unwrap_err();
    assert!(matches!(e, Error::NotInstalled { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("kafka.strimzi.io is not served") && text.contains("install Strimzi"),
        "{text}"
    );
    assert!(e.needs_fix());
    // And the view is blind, never "no KafkaConnectors, so everything is REST-managed".
    assert!(matches!(
        s.strimzi.observe().await,
        View::Blind {
            error: Error::NotInstalled { .. },
            ..
        }
    ));

    let s = setup_with(
        FakeConfig {
            versions: vec!["v1alpha1"],
            ..FakeConfig::default()
        },
        |_| {},
    )
    .await;
    let text = s.strimzi.discover().await.unwrap_err().to_string();
    assert!(text.contains("neither v1 nor v1beta2"), "{text}");
}

#[tokio::test]
async fn an_upgrade_that_drops_v1beta2_is_followed_at_the_next_poll() {
    let s = setup_with(
        FakeConfig {
            versions: vec!["v1beta2"],
            ..FakeConfig::default()
        },
        |_| {},
    )
    .await;
    s.fake.create_connector(NS, "inv", CLUSTER, None);
    assert_eq!(
        fresh(s.strimzi.observe().await).api_version,
        ApiVersion::V1beta2
    );
    s.fake.serve_versions(vec!["v1"]);
    let View::Blind { error, .. } = s.strimzi.observe().await else {
        panic!("fresh on a version no longer served")
    };
    assert!(
        error
            .to_string()
            .contains("kafka.strimzi.io/v1beta2 is no longer served"),
        "{error}"
    );
    let snap = fresh(s.strimzi.observe().await);
    assert_eq!((snap.api_version, snap.len()), (ApiVersion::V1, 1));
}

// ------------------------------------------------------------------------------------------
// The view
// ------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_view_sees_a_new_or_deleted_kafkaconnector_at_the_next_poll() {
    let s = setup().await;
    s.fake.create_connector(NS, "inv", CLUSTER, None);
    s.fake
        .create_connector(NS, "billing", "other-connect", None);
    s.fake
        .create_connector("elsewhere", "orders", CLUSTER, None);
    let snap = fresh(s.strimzi.observe().await);
    assert_eq!(
        snap.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        vec!["inv"]
    );

    s.fake
        .create_connector(NS, "shipments", CLUSTER, Some("running"));
    let view = s.strimzi.observe().await;
    assert!(matches!(view.managed("shipments"), Managed::Yes(_)));
    assert_eq!(
        view.managed("billing"),
        Managed::No,
        "another cluster's connector is not ours"
    );

    assert!(s.fake.delete(NS, "inv"));
    let view = s.strimzi.observe().await;
    assert_eq!(view.managed("inv"), Managed::No);
    assert!(s.strimzi.last_success().is_some());
    // The request carried the label selector.
    let lists: Vec<_> = s
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/kafkaconnectors"))
        .collect();
    assert!(lists
        .iter()
        .all(|r| r.query.get("labelSelector").map(String::as_str)
            == Some("strimzi.io/cluster=my-connect")));
}

#[tokio::test]
async fn a_long_list_is_read_in_pages_and_restarted_once_when_its_continue_token_expires() {
    let s = setup_with(FakeConfig::default(), |o| o.page_size = 2).await;
    for i in 0..5 {
        s.fake.create_connector(NS, &format!("c{i}"), CLUSTER, None);
    }
    let snap = fresh(s.strimzi.observe().await);
    assert_eq!(snap.len(), 5);
    let pages = s
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/kafkaconnectors"))
        .count();
    assert_eq!(pages, 3);

    s.fake.clear_requests();
    s.fake
        .fail(Fault::status("list", 410).with_query("continue").times(1));
    let snap = fresh(s.strimzi.observe().await);
    assert_eq!(snap.len(), 5, "restarted from the first page");
    let codes: Vec<u16> = s
        .fake
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/kafkaconnectors"))
        .map(|r| r.code)
        .collect();
    assert_eq!(codes, vec![200, 410, 200, 200, 200]);

    // Beyond the bound: an error, not a partial view.
    let s = setup_with(FakeConfig::default(), |o| {
        o.page_size = 2;
        o.max_resources = 3;
    })
    .await;
    for i in 0..4 {
        s.fake.create_connector(NS, &format!("c{i}"), CLUSTER, None);
    }
    assert!(matches!(
        s.strimzi.observe().await,
        View::Blind {
            error: Error::TooMany { .. },
            ..
        }
    ));
}

#[tokio::test]
async fn an_unreachable_api_makes_the_view_blind_and_says_so() {
    let s = setup_with(FakeConfig::default(), |o| {
        o.request_timeout = Duration::from_millis(500)
    })
    .await;
    s.fake.create_connector(NS, "inv", CLUSTER, None);
    assert!(s.strimzi.observe().await.is_fresh());
    let seen = s.strimzi.last_success();

    s.fake.down();
    let View::Blind {
        error,
        last_success,
    } = s.strimzi.observe().await
    else {
        panic!("fresh while down")
    };
    assert!(matches!(error, Error::Unreachable { .. }), "{error:?}");
    assert_eq!(last_success, seen);
    let text = error.to_string();
    assert!(
        text.contains("unreachable")
            && text.contains("no action is taken on Strimzi-managed connectors"),
        "{text}"
    );
    assert_eq!(s.strimzi.observe().await.managed("inv"), Managed::Unknown);
    // No write gets through either.
    assert!(s
        .strimzi
        .hold("inv", &hold(HoldState::Paused))
        .await
        .is_err());

    s.fake.up().unwrap();
    assert!(s.strimzi.observe().await.is_fresh());

    // An API server that accepts but never answers: bounded by the request timeout.
    s.fake
        .fail(Fault::action("list", FaultAction::Hang).times(1));
    let started = tokio::time::Instant::now();
    let View::Blind { error, .. } = s.strimzi.observe().await else {
        panic!()
    };
    assert!(
        error.to_string().contains("no answer within 500ms"),
        "{error}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    let last = s.events.lock().unwrap().last().cloned().unwrap();
    assert_eq!((last.code, last.error), (None, Some("unreachable")));
}

#[tokio::test]
async fn a_server_error_is_blind_and_counted() {
    let s = setup().await;
    s.strimzi.discover().await.unwrap();
    s.fake.fail(Fault::status("list", 500).times(1));
    let View::Blind { error, .. } = s.strimzi.observe().await else {
        panic!()
    };
    assert_eq!(error.kind(), "server_error");
    assert!(
        error
            .to_string()
            .contains("500 InternalError on list kafkaconnectors.kafka.strimzi.io"),
        "{error}"
    );
    let ev = s.events.lock().unwrap().last().cloned().unwrap();
    assert_eq!(
        (ev.operation.as_str(), ev.code, ev.error),
        ("list", Some(500), Some("server_error"))
    );
}

// ------------------------------------------------------------------------------------------
// Holds through the resource
// ------------------------------------------------------------------------------------------

#[tokio::test]
async fn hold_writes_spec_state_and_our_mark_in_one_guarded_patch() {
    let s = setup().await;
    s.fake.create_connector(NS, "inv", CLUSTER, None);
    let before = s.fake.get(NS, "inv").unwrap();
    let out = s
        .strimzi
        .hold("inv", &hold(HoldState::Paused))
        .await
        .unwrap();
    let after = s.fake.get(NS, "inv").unwrap();
    let Outcome::Written { resource_version } = out else {
        panic!("{out:?}")
    };
    assert_eq!(
        after["metadata"]["resourceVersion"],
        resource_version.as_str()
    );

    assert_eq!(after["spec"]["state"], "paused");
    assert_eq!(
        after["metadata"]["annotations"],
        json!({
            "cdc-sentinel.io/held-state": "paused",
            "cdc-sentinel.io/held-since": "2026-11-20T02:00:05Z",
            "cdc-sentinel.io/held-reason": "task_failed",
            "cdc-sentinel.io/held-target": "postgres://db.inventory:5432/inventory"
        })
    );
    assert_eq!(
        after["spec"]["config"], before["spec"]["config"],
        "nothing else changed"
    );
    assert_eq!(after["metadata"]["generation"], 2);
    let managers: Vec<&str> = after["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["manager"].as_str())
        .collect();
    assert!(managers.contains(&"cdc-sentinel"), "{managers:?}");

    let w = writes(&s.fake);
    assert_eq!(w.len(), 1, "one patch: {w:?}");
    let p = &w[0];
    assert_eq!(p.method, "PATCH");
    assert_eq!(
        p.path,
        "/apis/kafka.strimzi.io/v1/namespaces/kafka/kafkaconnectors/inv"
    );
    assert_eq!(
        p.content_type.as_deref(),
        Some("application/merge-patch+json")
    );
    assert_eq!(p.field_manager.as_deref(), Some("cdc-sentinel"));
    assert_eq!(
        p.query.get("fieldValidation").map(String::as_str),
        Some("Strict")
    );
    assert_eq!(
        p.body.as_ref().unwrap()["metadata"]["resourceVersion"],
        before["metadata"]["resourceVersion"]
    );

    // What the agent and `kubectl get -o yaml` read back.
    let r = s.strimzi.get("inv").await.unwrap();
    let m = r.mark.unwrap();
    assert_eq!(
        (r.state, m.state, m.reason.as_str()),
        (ConnectorState::Paused, HoldState::Paused, "task_failed")
    );
    assert!(
        !s.fake
            .requests()
            .iter()
            .any(|r| format!("{:?}", r.body).contains("secret-pw")),
        "credentials in a request"
    );
    // Held again: nothing to write.
    s.fake.clear_requests();
    assert_eq!(
        s.strimzi
            .hold("inv", &hold(HoldState::Paused))
            .await
            .unwrap(),
        Outcome::AlreadyDone
    );
    assert!(writes(&s.fake).is_empty());
}

#[tokio::test]
async fn a_hold_can_become_a_stop_and_keeps_its_start_time() {
    let s = setup().await;
    s.fake.create_connector(NS, "inv", CLUSTER, None);
    s.strimzi
        .hold("inv", &hold(HoldState::Paused))
        .await
        .unwrap();
    let mut later = hold(HoldState::Stopped);
    later.since = SystemTime::now();
    assert!(matches!(
        s.strimzi.hold("inv", &later).await.unwrap(),
        Outcome::Written { .. }
    ));
    let o = s.fake.get(NS, "inv").unwrap();
    assert_eq!(o["spec"]["state"], "stopped");
    assert_eq!(
        o["metadata"]["annotations"]["cdc-sentinel.io/held-state"],
        "stopped"
    );
    assert_eq!(
        o["metadata"]["annotations"]["cdc-sentinel.io/held-since"],
        "2026-11-20T02:00:05Z"
    );
}

/// The scenario: the operator reconciles every 200 ms here (2 min in production) and
/// undoes a REST pause; a hold through spec.state stays through several reconciliations; the
/// release brings the connector back, the restart goes through, the mark goes away.
#[tokio::test]
async fn a_hold_through_spec_state_survives_reconciliations_that_undo_a_rest_pause() {
    let s = setup().await;
    s.fake.create_connector(NS, "inv", CLUSTER, None);
    let connect: Arc<Mutex<HashMap<String, String>>> = Arc::new(Mutex::new(HashMap::from([(
        "inv".into(),
        "RUNNING".into(),
    )])));
    let reconciles: Arc<Mutex<Vec<String>>> = Arc::default();
    let restarts: Arc<Mutex<Vec<OperatorCall>>> = Arc::default();
    let (c, r, rs) = (connect.clone(), reconciles.clone(), restarts.clone());
    let _op = s.fake.spawn_operator(
        NS,
        CLUSTER,
        Duration::from_millis(200),
        move |call| match call {
            OperatorCall::Reconcile { name, desired } => {
                let mut c = c.lock().unwrap();
                let state = c.get_mut(&name).unwrap();
                // Strimzi's updateState: drive the connector to spec.state.
                *state = match desired.as_str() {
                    "paused" => "PAUSED",
                    "stopped" => "STOPPED",
                    _ => "RUNNING",
                }
                .into();
                r.lock().unwrap().push(state.clone());
                state.clone()
            }
            other => {
                rs.lock().unwrap().push(other);
                String::new()
            }
        },
    );
    let count = |r: &Arc<Mutex<Vec<String>>>| r.lock().unwrap().len();

    // A pause through REST alone: undone at the next reconciliation.
    connect
        .lock()
        .unwrap()
        .insert("inv".into(), "PAUSED".into());
    let n = count(&reconciles);
    wait_until("a reconciliation", Duration::from_secs(3), || {
        count(&reconciles) > n
    })
    .await;
    assert_eq!(
        connect.lock().unwrap()["inv"],
        "RUNNING",
        "the operator undid the REST pause"
    );

    // Through the resource: held, and still held after several reconciliations.
    s.strimzi
        .hold("inv", &hold(HoldState::Paused))
        .await
        .unwrap();
    wait_until("the operator to pause it", Duration::from_secs(3), || {
        connect.lock().unwrap()["inv"] == "PAUSED"
    })
    .await;
    let n = count(&reconciles);
    wait_until("four more reconciliations", Duration::from_secs(5), || {
        count(&reconciles) >= n + 4
    })
    .await;
    assert!(
        reconciles.lock().unwrap()[n..]
            .iter()
            .all(|s| s == "PAUSED"),
        "{:?}",
        reconciles.lock().unwrap()
    );
    let r = s.strimzi.get("inv").await.unwrap();
    assert!(
        r.mark.is_some() && r.reconciled(),
        "held, mark on it, operator caught up: {r:?}"
    );

    // The database is back: release, and the operator resumes it.
    assert!(matches!(
        s.strimzi.release("inv").await.unwrap(),
        Outcome::Written { .. }
    ));
    wait_until("the operator to resume it", Duration::from_secs(3), || {
        connect.lock().unwrap()["inv"] == "RUNNING"
    })
    .await;
    let o = s.fake.get(NS, "inv").unwrap();
    assert_eq!(o["spec"]["state"], "running");
    assert!(our_annotations(&o).is_empty(), "{o}");

    // FAILED tasks: restarted through the resource when REST is fenced off (Strimzi 0.48+).
    assert!(matches!(
        s.strimzi
            .request_restart("inv", Restart::FailedConnectorAndTasks)
            .await
            .unwrap(),
        Outcome::Written { .. }
    ));
    wait_until("the operator to restart", Duration::from_secs(3), || {
        !restarts.lock().unwrap().is_empty()
    })
    .await;
    assert_eq!(
        restarts.lock().unwrap()[0],
        OperatorCall::Restart {
            name: "inv".into(),
            include_tasks: true,
            only_failed: true
        }
    );
    wait_until(
        "the restart annotation to go",
        Duration::from_secs(3),
        || {
            s.fake.get(NS, "inv").unwrap()["metadata"]["annotations"]
                .get("strimzi.io/restart")
                .is_none()
        },
    )
    .await;
}

#[tokio::test]
async fn release_sets_running_and_removes_exactly_our_annotations() {
    let s = setup().await;
    s.fake.create(NS, json!({"metadata": {"name": "inv", "labels": {"strimzi.io/cluster": CLUSTER},
                                        "annotations": {"team": "payments"}}, "spec": {"class": "x"}})).unwrap();
    s.strimzi
        .hold("inv", &hold(HoldState::Stopped))
        .await
        .unwrap();
    s.fake.clear_requests();
    assert!(matches!(
        s.strimzi.release("inv").await.unwrap(),
        Outcome::Written { .. }
    ));
    let o = s.fake.get(NS, "inv").unwrap();
    assert_eq!(o["spec"], json!({"class": "x", "state": "running"}));
    assert_eq!(o["metadata"]["annotations"], json!({"team": "payments"}));
    assert_eq!(writes(&s.fake).len(), 1);
    // Released twice: our mark is gone, nothing is written.
    s.fake.clear_requests();
    assert_eq!(
        s.strimzi.release("inv").await.unwrap(),
        Outcome::Declined(Declined::NotHeld)
    );
    assert!(writes(&s.fake).is_empty());
}

// ------------------------------------------------------------------------------------------
// Humans
// ------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_humans_paused_or_stopped_connector_is_never_written_to() {
    let s = setup().await;
    for (name, state) in [("paused-by-ops", "paused"), ("stopped-by-ops", "stopped")] {
        s.fake.create_connector(NS, name, CLUSTER, Some(state));
        let before = s.fake.get(NS, name).unwrap();
        let st = fresh(s.strimzi.observe().await)
            .get(name)
            .unwrap()
            .state
            .clone();
        assert_eq!(
            s.strimzi.release(name).await.unwrap(),
            Outcome::Declined(Declined::NotHeld)
        );
        assert_eq!(
            s.strimzi.clear_mark(name).await.unwrap(),
            Outcome::Declined(Declined::NotHeld)
        );
        assert_eq!(
            s.strimzi
                .hold(name, &hold(HoldState::Paused))
                .await
                .unwrap(),
            Outcome::Declined(Declined::HumanHold(st))
        );
        assert_eq!(s.fake.get(NS, name).unwrap(), before);
    }
    assert!(writes(&s.fake).is_empty(), "{:?}", writes(&s.fake));
}

#[tokio::test]
async fn a_human_setting_running_or_removing_our_mark_is_a_hand_back() {
    let s = setup().await;
    s.fake.create_connector(NS, "inv", CLUSTER, None);
    s.strimzi
        .hold("inv", &hold(HoldState::Paused))
        .await
        .unwrap();

    // `kubectl patch kafkaconnector inv --type merge -p '{"spec":{"state":"running"}}'`
    s.fake
        .human_patch(NS, "inv", json!({"spec": {"state": "running"}}))
        .unwrap();
    let r = fresh(s.strimzi.observe().await)
        .get("inv")
        .cloned()
        .unwrap();
    assert_eq!(
        (r.state.clone(), r.mark.as_ref().map(|m| m.state)),
        (ConnectorState::Running, Some(HoldState::Paused))
    );
    // Not resumed a second time, not held again over the human's word.
    assert_eq!(
        s.strimzi.release("inv").await.unwrap(),
        Outcome::Declined(Declined::HandedBack(ConnectorState::Running))
    );
    assert_eq!(
        s.strimzi
            .hold("inv", &hold(HoldState::Paused))
            .await
            .unwrap(),
        Outcome::Declined(Declined::HandedBack(ConnectorState::Running))
    );
    // The agent records the hand-back and clears its mark; the human's state stays.
    s.fake.clear_requests();
    assert!(matches!(
        s.strimzi.clear_mark("inv").await.unwrap(),
        Outcome::Written { .. }
    ));
    let o = s.fake.get(NS, "inv").unwrap();
    assert!(our_annotations(&o).is_empty());
    assert_eq!(o["spec"]["state"], "running");
    let w = writes(&s.fake);
    assert_eq!(w.len(), 1);
    assert!(
        w[0].body.as_ref().unwrap().get("spec").is_none(),
        "clear_mark touches no spec: {:?}",
        w[0].body
    );

    // Removing our annotation (kubectl annotate ... cdc-sentinel.io/held-state-) is a hand-back too;
    // the human's pause stays a human's.
    s.strimzi
        .hold("inv", &hold(HoldState::Paused))
        .await
        .unwrap();
    s.fake
        .human_patch(
            NS,
            "inv",
            json!({"metadata": {"annotations": {"cdc-sentinel.io/held-state": null}}}),
        )
        .unwrap();
    let r = s.strimzi.get("inv").await.unwrap();
    assert!(r.mark.is_none() && r.state == ConnectorState::Paused);
    assert_eq!(
        s.strimzi.release("inv").await.unwrap(),
        Outcome::Declined(Declined::NotHeld)
    );
    assert_eq!(s.fake.get(NS, "inv").unwrap()["spec"]["state"], "paused");
    // Its leftovers are ours to remove, and only them.
    assert!(matches!(
        s.strimzi.clear_mark("inv").await.unwrap(),
        Outcome::Written { .. }
    ));
    let o = s.fake.get(NS, "inv").unwrap();
    assert!(our_annotations(&o).is_empty());
    assert_eq!(o["spec"]["state"], "paused");
}

#[tokio::test]
async fn reconciliation_paused_resources_are_left_to_rest() {
    let s = setup().await;
    s.fake
        .create(NS, json!({"metadata": {"name": "inv", "labels": {"strimzi.io/cluster": CLUSTER},
                                         "annotations": {"strimzi.io/pause-reconciliation": "true"}}, "spec": {}}))
        .unwrap();
    assert!(
        fresh(s.strimzi.observe().await)
            .get("inv")
            .unwrap()
            .reconciliation_paused
    );
    assert_eq!(
        s.strimzi
            .hold("inv", &hold(HoldState::Paused))
            .await
            .unwrap(),
        Outcome::Declined(Declined::ReconciliationPaused)
    );
    assert!(writes(&s.fake).is_empty());
}

// ------------------------------------------------------------------------------------------
// Conflicts
// ------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_conflict_is_re_read_and_retried() {
    let s = setup().await;
    s.fake.create_connector(NS, "inv", CLUSTER, None);
    // The operator writes status between our read and our patch.
    s.fake.fail(
        Fault::action(
            "patch",
            FaultAction::Mutate(json!({"status": {"observedGeneration": 1, "conditions": []}})),
        )
        .times(1),
    );
    assert!(matches!(
        s.strimzi
            .hold("inv", &hold(HoldState::Paused))
            .await
            .unwrap(),
        Outcome::Written { .. }
    ));
    let calls: Vec<(String, u16)> = s
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/inv"))
        .map(|r| (r.method, r.code))
        .collect();
    assert_eq!(
        calls,
        vec![
            ("GET".into(), 200),
            ("PATCH".into(), 409),
            ("GET".into(), 200),
            ("PATCH".into(), 200)
        ]
    );
    assert_eq!(s.fake.get(NS, "inv").unwrap()["spec"]["state"], "paused");
    let conflicts = s
        .events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.code == Some(409))
        .count();
    assert_eq!(conflicts, 1, "the 409 is counted");
}

#[tokio::test]
async fn a_state_a_human_sets_during_our_write_is_never_overwritten() {
    let s = setup().await;
    s.fake.create_connector(NS, "inv", CLUSTER, None);
    s.strimzi
        .hold("inv", &hold(HoldState::Paused))
        .await
        .unwrap();
    // A human stops it between our read and our release patch.
    s.fake.fail(
        Fault::action(
            "patch",
            FaultAction::Mutate(json!({"spec": {"state": "stopped"}})),
        )
        .times(1),
    );
    assert_eq!(
        s.strimzi.release("inv").await.unwrap(),
        Outcome::Declined(Declined::HandedBack(ConnectorState::Stopped))
    );
    assert_eq!(s.fake.get(NS, "inv").unwrap()["spec"]["state"], "stopped");

    // And a human pausing it between our read and our hold: theirs.
    s.fake.create_connector(NS, "orders", CLUSTER, None);
    s.fake.fail(
        Fault::action(
            "patch",
            FaultAction::Mutate(json!({"spec": {"state": "paused"}})),
        )
        .times(1),
    );
    assert_eq!(
        s.strimzi
            .hold("orders", &hold(HoldState::Stopped))
            .await
            .unwrap(),
        Outcome::Declined(Declined::HumanHold(ConnectorState::Paused))
    );
    let o = s.fake.get(NS, "orders").unwrap();
    assert_eq!(o["spec"]["state"], "paused");
    assert!(our_annotations(&o).is_empty());
}

#[tokio::test]
async fn endless_conflicts_end_in_an_error_after_a_bounded_number_of_attempts() {
    let s = setup().await;
    s.fake.create_connector(NS, "inv", CLUSTER, None);
    // Another writer changes it before every read and every patch of ours (two different
    // values, so each write is a real change with a new resourceVersion).
    s.fake.fail(Fault::action(
        "patch",
        FaultAction::Mutate(json!({"status": {"n": 1}})),
    ));
    s.fake.fail(Fault::action(
        "get",
        FaultAction::Mutate(json!({"status": {"n": 2}})),
    ));
    let e = s
        .strimzi
        .hold("inv", &hold(HoldState::Paused))
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, Error::Conflict { attempts: 3, .. }), "{e:?}");
    assert!(
        text.contains("409 Conflict")
            && text.contains("\"inv\"")
            && text.contains("nothing was overwritten"),
        "{text}"
    );
    let patches: Vec<u16> = s
        .fake
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH")
        .map(|r| r.code)
        .collect();
    assert_eq!(patches, vec![409, 409, 409]);
    assert!(our_annotations(&s.fake.get(NS, "inv").unwrap()).is_empty());
}

// ------------------------------------------------------------------------------------------
// Permissions, credentials, old Strimzi
// ------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_403_names_the_verb_the_resource_the_namespace_and_the_fix() {
    let s = setup().await;
    s.fake.create_connector(NS, "inv", CLUSTER, None);
    s.fake.fail(Fault::status("patch", 403));
    let e = s
        .strimzi
        .hold("inv", &hold(HoldState::Paused))
        .await
        .unwrap_err();
    assert!(e.needs_fix());
    let text = e.to_string();
    for part in [
        "403 Forbidden: cannot patch kafkaconnectors.kafka.strimzi.io in namespace \"kafka\" as system:serviceaccount:cdc:cdc-sentinel",
        "grant the agent's service account get, list and patch on kafkaconnectors.kafka.strimzi.io",
        "Role and RoleBinding",
        "kubectl auth can-i patch kafkaconnectors.kafka.strimzi.io -n kafka --as system:serviceaccount:cdc:cdc-sentinel",
    ] {
        assert!(text.contains(part), "missing {part:?} in: {text}");
    }
    assert_eq!(s.fake.get(NS, "inv").unwrap()["spec"].get("state"), None);

    s.fake.clear_faults();
    s.fake.fail(Fault::status("list", 403));
    let View::Blind { error, .. } = s.strimzi.observe().await else {
        panic!()
    };
    assert!(
        error
            .to_string()
            .contains("cannot list kafkaconnectors.kafka.strimzi.io in namespace \"kafka\""),
        "{error}"
    );
    let ev = s.events.lock().unwrap().last().cloned().unwrap();
    assert_eq!((ev.code, ev.error), (Some(403), Some("forbidden")));
}

#[tokio::test]
async fn refused_credentials_are_named_without_the_token() {
    let s = setup().await;
    let token = s.fake.token().unwrap();
    // A kubeconfig with another token.
    let dir = tempfile::tempdir().unwrap();
    let path = s.fake.write_kubeconfig(dir.path(), NS).unwrap();
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace(&token, "expired-token-0000");
    std::fs::write(&path, text).unwrap();
    let mut o = Options::new(CLUSTER);
    o.kubeconfig = Some(path);
    let bad = Strimzi::new(o, |_| {}).await.unwrap();
    let View::Blind { error, .. } = bad.observe().await else {
        panic!()
    };
    let text = error.to_string();
    assert!(matches!(error, Error::Unauthorized { .. }), "{error:?}");
    assert!(
        text.contains("401 Unauthorized")
            && !text.contains("expired-token-0000")
            && !text.contains(&token),
        "{text}"
    );
    assert!(!format!("{bad:?}").contains("expired-token"));
}

#[tokio::test]
async fn a_missing_or_broken_kubeconfig_is_a_clear_error_without_its_content() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = Options::new(CLUSTER);
    o.kubeconfig = Some(dir.path().join("absent"));
    let e = Strimzi::new(o.clone(), |_| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("cannot read the kubeconfig") && e.contains("absent"),
        "{e}"
    );
    let path = dir.path().join("broken");
    std::fs::write(&path, "users: [ {token: very-secret-token-123\n").unwrap();
    o.kubeconfig = Some(path);
    let e = Strimzi::new(o, |_| {}).await.unwrap_err().to_string();
    assert!(
        e.contains("not valid YAML") && !e.contains("very-secret-token-123"),
        "{e}"
    );
}

#[tokio::test]
async fn strimzi_before_0_38_has_no_spec_state_and_nothing_is_written() {
    let cfg = FakeConfig {
        versions: vec!["v1beta2"],
        state_field: false,
        ..FakeConfig::default()
    };
    let s = setup_with(cfg, |_| {}).await;
    s.fake.create_connector(NS, "inv", CLUSTER, None);
    let e = s
        .strimzi
        .hold("inv", &hold(HoldState::Paused))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Unsupported { .. }), "{e:?}");
    assert!(e.to_string().contains("upgrade Strimzi to 0.38"), "{e}");
    let o = s.fake.get(NS, "inv").unwrap();
    assert!(
        our_annotations(&o).is_empty() && o["spec"].get("state").is_none(),
        "{o}"
    );
}

// ------------------------------------------------------------------------------------------
// The fake itself, through kube-rs's own watch and typed calls (it must behave like the real
// API server for whoever uses it next)
// ------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_fake_serves_watches_as_kube_rs_expects() {
    use futures::StreamExt;
    use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, WatchEvent, WatchParams};

    let fake = FakeApi::start(FakeConfig {
        bookmark_interval: Duration::from_millis(100),
        ..FakeConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = fake.write_kubeconfig(dir.path(), NS).unwrap();
    let cfg = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(&path).unwrap(),
        &Default::default(),
    )
    .await
    .unwrap();
    let client = kube::Client::try_from(cfg).unwrap();
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("kafka.strimzi.io", "v1", "KafkaConnector"),
        "kafkaconnectors",
    );
    let api: Api<DynamicObject> = Api::namespaced_with(client, NS, &ar);

    fake.create_connector(NS, "inv", CLUSTER, None);
    let wp = WatchParams::default().labels("strimzi.io/cluster=my-connect");
    let mut stream = api.watch(&wp, "0").await.unwrap().boxed();
    let WatchEvent::Added(o) = next_event(&mut stream).await else {
        panic!("expected ADDED")
    };
    assert_eq!(o.metadata.name.as_deref(), Some("inv"));

    fake.human_patch(NS, "inv", json!({"spec": {"state": "paused"}}))
        .unwrap();
    let modified = next_change(&mut stream).await;
    let WatchEvent::Modified(o) = modified else {
        panic!("expected MODIFIED, got {modified:?}")
    };
    assert_eq!(o.data["spec"]["state"], "paused");
    let rv: u64 = o.metadata.resource_version.unwrap().parse().unwrap();
    // Leaving the label selector reads as DELETED.
    fake.human_patch(
        NS,
        "inv",
        json!({"metadata": {"labels": {"strimzi.io/cluster": "other"}}}),
    )
    .unwrap();
    let gone = next_change(&mut stream).await;
    assert!(matches!(gone, WatchEvent::Deleted(_)), "{gone:?}");
    // Bookmarks carry the current resourceVersion.
    let bookmark = loop {
        if let WatchEvent::Bookmark(b) = next_event(&mut stream).await {
            break b;
        }
    };
    assert!(bookmark.metadata.resource_version.parse::<u64>().unwrap() > rv);
    // A broken watch ends the stream with an error (what a reflector must treat as blind).
    fake.drop_watches();
    let end = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            match stream.next().await {
                Some(Ok(_)) => continue,
                other => break other,
            }
        }
    })
    .await
    .unwrap();
    assert!(!matches!(end, Some(Ok(_))), "{end:?}");
    drop(stream);

    // A resourceVersion older than the compaction: 410 Expired, as an ERROR event.
    fake.compact();
    let mut stream = api
        .watch(&WatchParams::default(), &rv.to_string())
        .await
        .unwrap()
        .boxed();
    let ev = next_event(&mut stream).await;
    let WatchEvent::Error(e) = ev else {
        panic!("expected ERROR, got {ev:?}")
    };
    assert_eq!((e.code, e.reason.as_str()), (410, "Expired"));

    // A JSON patch with a failed test is a 422 and changes nothing; a strategic merge patch is
    // a 415 for a custom resource.
    let before = fake.get(NS, "inv").unwrap();
    let client = api.into_client();
    for (ct, body, code, reason) in [
        (
            "application/json-patch+json",
            json!([{"op": "test", "path": "/spec/state", "value": "running"}]),
            422,
            "Invalid",
        ),
        (
            "application/strategic-merge-patch+json",
            json!({"spec": {"state": "running"}}),
            415,
            "UnsupportedMediaType",
        ),
    ] {
        let req =
            http::Request::patch("/apis/kafka.strimzi.io/v1/namespaces/kafka/kafkaconnectors/inv")
                .header("content-type", ct)
                .body(serde_json::to_vec(&body).unwrap())
                .unwrap();
        let err = client.request_text(req).await.unwrap_err();
        let kube::Error::Api(st) = err else {
            panic!("{err:?}")
        };
        assert_eq!((st.code, st.reason.as_str()), (code, reason));
    }
    assert_eq!(fake.get(NS, "inv").unwrap(), before);
}

type Events = futures::stream::BoxStream<
    'static,
    kube::Result<kube::api::WatchEvent<kube::api::DynamicObject>>,
>;

async fn next_event(s: &mut Events) -> kube::api::WatchEvent<kube::api::DynamicObject> {
    use futures::TryStreamExt;
    tokio::time::timeout(Duration::from_secs(3), s.try_next())
        .await
        .expect("an event within 3 s")
        .unwrap()
        .unwrap()
}

/// The next event that is not a bookmark.
async fn next_change(s: &mut Events) -> kube::api::WatchEvent<kube::api::DynamicObject> {
    loop {
        match next_event(s).await {
            kube::api::WatchEvent::Bookmark(_) => continue,
            e => return e,
        }
    }
}

#[tokio::test]
async fn the_fake_serves_later_pages_of_a_list_as_of_the_first() {
    use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
    let fake = FakeApi::start(FakeConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = fake.write_kubeconfig(dir.path(), NS).unwrap();
    let cfg = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(&path).unwrap(),
        &Default::default(),
    )
    .await
    .unwrap();
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("kafka.strimzi.io", "v1", "KafkaConnector"),
        "kafkaconnectors",
    );
    let api: Api<DynamicObject> =
        Api::namespaced_with(kube::Client::try_from(cfg).unwrap(), NS, &ar);
    for n in ["a", "b", "c", "d"] {
        fake.create_connector(NS, n, CLUSTER, None);
    }
    let first = api.list(&ListParams::default().limit(2)).await.unwrap();
    let names = |l: &kube::core::ObjectList<DynamicObject>| -> Vec<String> {
        l.items
            .iter()
            .map(|o| o.metadata.name.clone().unwrap())
            .collect()
    };
    assert_eq!(names(&first), vec!["a", "b"]);
    // Changes after the first page: not in the rest of this list.
    fake.delete(NS, "c");
    fake.create_connector(NS, "bb", CLUSTER, None);
    fake.human_patch(NS, "d", json!({"spec": {"state": "paused"}}))
        .unwrap();
    let token = first.metadata.continue_.clone().unwrap();
    let rest = api
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await
        .unwrap();
    assert_eq!(names(&rest), vec!["c", "d"]);
    assert_eq!(rest.items[1].data["spec"].get("state"), None, "d as it was");
    assert_eq!(
        rest.metadata.resource_version,
        first.metadata.resource_version
    );
    // A new list sees the changes.
    let now = api.list(&ListParams::default()).await.unwrap();
    assert_eq!(names(&now), vec!["a", "b", "bb", "d"]);
}
