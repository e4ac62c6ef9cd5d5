//! Strimzi (`--strimzi-cluster`): the agent, in this process, against the simulated Kafka
//! Connect worker and the fake Kubernetes API server (sim::k8s), with a fake Cluster Operator
//! that drives every connector to its `KafkaConnector`'s `spec.state` at each change and every
//! period, through the same effects as REST calls, so a pause made through REST alone is
//! undone at its next reconciliation (strimzi#3277), as on a real cluster.

use std::path::PathBuf;
use std::time::Duration;

use cdc_sentinel_sim::k8s::{FakeApi, FakeConfig, Fault, Logged, OperatorHandle};
use cdc_sentinel_sim::{ConnectorSpec, RetryMode, SimConnect, SimOptions};
use serde_json::{json, Value};

use crate::support::{eventually, logs, Agent, Db};

const S: Duration = Duration::from_secs(1);
const NS: &str = "kafka";

/// A Strimzi-run Kafka Connect: the worker, the API server, its operator.
struct Strimzi {
    sim: SimConnect,
    fake: FakeApi,
    op: OperatorHandle,
    cluster: &'static str,
    kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
}

impl Strimzi {
    /// `period`: the operator's full reconciliation interval (2 min on a real cluster).
    async fn start(cluster: &'static str, period: Duration) -> Strimzi {
        let sim = SimConnect::start(SimOptions::default()).await.unwrap();
        let fake = FakeApi::start(FakeConfig::default()).await.unwrap();
        let op = fake.spawn_operator_for(NS, cluster, period, &sim);
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = fake.write_kubeconfig(dir.path(), NS).unwrap();
        Strimzi {
            sim,
            fake,
            op,
            cluster,
            kubeconfig,
            _dir: dir,
        }
    }

    /// A connector in Kafka Connect and its `KafkaConnector` (`spec.state` if given).
    fn connector(&self, spec: ConnectorSpec, state: Option<&str>) {
        let name = spec.name.clone();
        self.sim.add_connector(spec);
        self.fake.create_connector(NS, &name, self.cluster, state);
    }

    async fn agent(&self, extra: &[&str]) -> Agent {
        Agent::start(&self.sim.url(), &self.flags(extra)).await
    }

    async fn agent_with_state(&self, state: PathBuf) -> Agent {
        Agent::start_with_state(&self.sim.url(), &self.flags(&[]), state).await
    }

    fn flags<'a>(&'a self, extra: &[&'a str]) -> Vec<&'a str> {
        let mut flags = vec![
            "--strimzi-cluster",
            self.cluster,
            "--strimzi-kubeconfig",
            self.kubeconfig.to_str().unwrap(),
            "--strimzi-timeout",
            "1s",
        ];
        flags.extend_from_slice(extra);
        flags
    }

    fn resource(&self, name: &str) -> Value {
        self.fake.get(NS, name).expect("the KafkaConnector exists")
    }

    /// The agent's annotations on the resource.
    fn marks(&self, name: &str) -> Vec<(String, String)> {
        self.resource(name)["metadata"]["annotations"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| k.starts_with("cdc-sentinel.io/"))
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn spec_state(&self, name: &str) -> String {
        self.resource(name)["spec"]["state"]
            .as_str()
            .unwrap_or("(none)")
            .to_string()
    }

    /// Writes (not reads) the agent sent to the API server for this resource.
    fn writes_to(&self, name: &str) -> Vec<Logged> {
        let suffix = format!("/kafkaconnectors/{name}");
        self.fake
            .requests()
            .into_iter()
            .filter(|r| r.method != "GET" && r.path.ends_with(&suffix))
            .collect()
    }

    /// REST requests the agent sent about this connector (other than status reads).
    fn rest_actions(&self, name: &str) -> Vec<String> {
        let prefix = format!("/connectors/{name}/");
        self.sim
            .requests()
            .into_iter()
            .filter(|r| r.method != "GET" && r.path.starts_with(&prefix))
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }

    async fn state_is(&self, name: &str, want: &str, within: Duration) -> bool {
        eventually(within, || async {
            self.sim.connector_state(name).as_deref() == Some(want)
        })
        .await
    }
}

fn failfast(name: &str, db: &Db) -> ConnectorSpec {
    ConnectorSpec::postgres(name, Some(db.addr)).with_retry(RetryMode::FailFast)
}

fn restarts(sim: &SimConnect, name: &str) -> usize {
    sim.requests()
        .iter()
        .filter(|r| {
            r.method == "POST"
                && r.path == format!("/connectors/{name}/restart")
                && r.query.as_deref() == Some("includeTasks=true&onlyFailed=true")
        })
        .count()
}

fn count_in_logs(needle: &str) -> usize {
    logs().lines().filter(|l| l.contains(needle)).count()
}

/// (1) and (2), at Strimzi's real pace of reconciliation here (every 2 s): an outage holds the
/// connector through `spec.state: paused` with the agent's annotations, and it stays held
/// through several reconciliations (a REST pause alone would be undone at the first); the
/// database back: `running`, the FAILED task restarted, the annotations removed, recovered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_is_held_through_spec_state_across_reconciliations_and_released_after() {
    let mut db = Db::start().await;
    let k = Strimzi::start("connect-night", 2 * S).await;
    k.connector(failfast("inventory", &db), None);
    let agent = k.agent(&[]).await;
    agent.wait_state("inventory", "RUNNING", 5 * S).await;
    agent
        .wait_value(
            "cdc_sentinel_connector_managed_by",
            &["connector=\"inventory\"", "manager=\"strimzi\""],
            1.0,
            5 * S,
        )
        .await;

    db.down().await;
    assert!(
        eventually(5 * S, || async { k.spec_state("inventory") == "paused" }).await,
        "held through spec.state; the resource: {}",
        k.resource("inventory")
    );
    let marks = k.marks("inventory");
    let mark = |key: &str| {
        marks
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(mark("cdc-sentinel.io/held-state"), "paused", "{marks:?}");
    assert_eq!(mark("cdc-sentinel.io/held-reason"), "task_failed");
    assert_eq!(mark("cdc-sentinel.io/held-target"), format!("{}", db.addr));
    assert!(
        humantime::parse_rfc3339(&mark("cdc-sentinel.io/held-since")).is_ok(),
        "{marks:?}"
    );
    assert!(k
        .writes_to("inventory")
        .iter()
        .all(|w| w.field_manager.as_deref() == Some("cdc-sentinel")
            && w.content_type.as_deref() == Some("application/merge-patch+json")));
    assert!(k.state_is("inventory", "PAUSED", 5 * S).await);
    agent.wait_phase("inventory", "waiting", 5 * S).await;

    // Several of the operator's full reconciliations later it is still held.
    let rounds = k.op.rounds();
    let until = tokio::time::Instant::now() + 7 * S;
    while tokio::time::Instant::now() < until {
        assert_eq!(
            k.sim.connector_state("inventory").as_deref(),
            Some("PAUSED"),
            "the operator must keep it paused"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        k.op.rounds() >= rounds + 3,
        "{} rounds",
        k.op.rounds() - rounds
    );
    assert_eq!(k.spec_state("inventory"), "paused");
    assert_eq!(
        agent
            .value("cdc_sentinel_managed", &["connector=\"inventory\""])
            .await,
        Some(1.0)
    );

    // The database is back: released, its FAILED task restarted, the annotations gone.
    db.up().await;
    agent
        .wait_value(
            "cdc_sentinel_recovery_duration_seconds_count",
            &["outcome=\"recovered\""],
            1.0,
            10 * S,
        )
        .await;
    assert_eq!(k.spec_state("inventory"), "running");
    assert!(
        k.marks("inventory").is_empty(),
        "{:?}",
        k.marks("inventory")
    );
    assert_eq!(
        k.sim.connector_state("inventory").as_deref(),
        Some("RUNNING")
    );
    assert_eq!(k.sim.task_states("inventory"), vec!["RUNNING"]);
    assert_eq!(restarts(&k.sim, "inventory"), 1, "{:?}", k.sim.requests());
    assert_eq!(
        agent
            .value(
                "cdc_sentinel_connector_managed_by",
                &["connector=\"inventory\"", "manager=\"strimzi\""]
            )
            .await,
        Some(1.0)
    );
}

/// (3) A person's `spec.state: paused` is never written to nor resumed, and a connector without
/// a `KafkaConnector` in the same cluster is still held through REST; the Kubernetes metrics
/// are in the scrape with the types and labels of the metric table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persons_spec_state_is_never_written_and_a_connector_without_a_resource_goes_through_rest(
) {
    let mut db = Db::start().await;
    let k = Strimzi::start("connect-people", Duration::from_millis(300)).await;
    k.connector(failfast("held-by-agent", &db), None);
    k.connector(failfast("held-by-person", &db), Some("paused"));
    k.sim.add_connector(failfast("no-resource", &db));
    let agent = k.agent(&[]).await;
    assert!(k.state_is("held-by-person", "PAUSED", 5 * S).await);
    agent.wait_state("no-resource", "RUNNING", 5 * S).await;
    agent.wait_state("held-by-agent", "RUNNING", 5 * S).await;

    db.down().await;
    agent.wait_phase("held-by-agent", "waiting", 5 * S).await;
    agent.wait_phase("no-resource", "waiting", 5 * S).await;
    assert_eq!(k.spec_state("held-by-agent"), "paused");
    assert!(k
        .rest_actions("no-resource")
        .contains(&"PUT /connectors/no-resource/pause".to_string()));
    tokio::time::sleep(S).await;
    db.up().await;
    agent
        .wait_value(
            "cdc_sentinel_recovery_duration_seconds_count",
            &["outcome=\"recovered\""],
            2.0,
            10 * S,
        )
        .await;

    // The person's: never a write to its resource, never a REST action, still theirs.
    assert!(
        k.writes_to("held-by-person").is_empty(),
        "{:?}",
        k.writes_to("held-by-person")
    );
    assert!(
        k.rest_actions("held-by-person").is_empty(),
        "{:?}",
        k.rest_actions("held-by-person")
    );
    assert_eq!(k.spec_state("held-by-person"), "paused");
    assert!(k.marks("held-by-person").is_empty());
    assert_eq!(
        k.sim.connector_state("held-by-person").as_deref(),
        Some("PAUSED")
    );
    assert_eq!(
        agent.view("held-by-person").unwrap().phase.as_str(),
        "watching"
    );
    // Without a KafkaConnector: paused and resumed through REST, restarted, recovered.
    assert!(k
        .rest_actions("no-resource")
        .contains(&"PUT /connectors/no-resource/resume".to_string()));
    assert_eq!(restarts(&k.sim, "no-resource"), 1);
    assert_eq!(
        k.sim.connector_state("no-resource").as_deref(),
        Some("RUNNING")
    );

    let text = agent.metrics().await;
    let by = |c: &str, m: &str| {
        crate::support::value(
            &text,
            "cdc_sentinel_connector_managed_by",
            &[&format!("connector=\"{c}\""), &format!("manager=\"{m}\"")],
        )
    };
    assert_eq!(by("no-resource", "rest"), Some(1.0));
    assert_eq!(by("no-resource", "strimzi"), Some(0.0));
    assert_eq!(by("held-by-agent", "strimzi"), Some(1.0));
    assert_eq!(
        crate::support::value(&text, "cdc_sentinel_kubernetes_up", &[]),
        Some(1.0)
    );
    assert!(
        crate::support::value(
            &text,
            "cdc_sentinel_kubernetes_request_duration_seconds_count",
            &["code=\"200\"", "verb=\"patch\""]
        )
        .is_some_and(|n| n >= 2.0),
        "{text}"
    );
    // Every metric the table says comes with --strimzi-cluster, with its type and labels.
    let documented = crate::metrics_doc::documented();
    let scraped = crate::metrics_doc::scraped(&text);
    for m in cdc_sentinel::telemetry::table::ALL {
        if m.presence == cdc_sentinel::telemetry::table::Presence::When("with --strimzi-cluster") {
            assert_eq!(
                scraped.get(m.name),
                documented.get(m.name),
                "{} in the scrape",
                m.name
            );
        }
    }
}

/// (4) A person setting `spec.state: running` on a connector the agent holds hands it back:
/// the agent's annotations go, it is not held again while the database is down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_state_running_set_by_a_person_is_a_hand_back() {
    let mut db = Db::start().await;
    let k = Strimzi::start("connect-takeback", Duration::from_millis(300)).await;
    k.connector(failfast("orders", &db), None);
    let agent = k.agent(&[]).await;
    agent.wait_state("orders", "RUNNING", 5 * S).await;
    db.down().await;
    agent.wait_phase("orders", "waiting", 5 * S).await;
    assert!(!k.marks("orders").is_empty());

    k.fake
        .human_patch(NS, "orders", json!({"spec": {"state": "running"}}))
        .unwrap();
    agent
        .wait_value(
            "cdc_sentinel_recovery_duration_seconds_count",
            &["outcome=\"handed_back\""],
            1.0,
            5 * S,
        )
        .await;
    assert!(
        eventually(5 * S, || async { k.marks("orders").is_empty() }).await,
        "the agent's annotations removed: {:?}",
        k.marks("orders")
    );
    assert!(
        k.state_is("orders", "RUNNING", 5 * S).await,
        "the operator resumed it"
    );
    // The database is still down, its task FAILED again: no new hold.
    let before = k.writes_to("orders").len();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(k.spec_state("orders"), "running");
    assert!(k.marks("orders").is_empty());
    assert_eq!(
        k.writes_to("orders").len(),
        before,
        "{:?}",
        k.writes_to("orders")
    );
    assert_eq!(agent.view("orders").unwrap().phase.as_str(), "watching");
    assert_eq!(
        k.rest_actions("orders")
            .iter()
            .filter(|a| a.ends_with("/pause"))
            .count(),
        1,
        "only the one pause sent along with the hold: {:?}",
        k.rest_actions("orders")
    );
    assert!(count_in_logs("orders: someone else took it over during the recovery (its KafkaConnector's spec.state was set to running") >= 1);
}

/// (5) A 403 on patch: the line names the missing verb, resource and namespace and the fix;
/// nothing else is tried (no REST pause the operator would undo); once granted, it is held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_403_names_the_missing_permission_and_nothing_wrong_follows() {
    let mut db = Db::start().await;
    let k = Strimzi::start("connect-rbac", Duration::from_millis(300)).await;
    k.connector(failfast("billing", &db), None);
    let agent = k.agent(&[]).await;
    agent.wait_state("billing", "RUNNING", 5 * S).await;
    k.fake.fail(Fault::status("patch", 403));
    db.down().await;
    assert!(
        eventually(5 * S, || async {
            logs().contains(
                "billing: pause failed: Kubernetes API: 403 Forbidden: cannot patch kafkaconnectors.kafka.strimzi.io in namespace \"kafka\" as system:serviceaccount:cdc:cdc-sentinel. Fix: grant the agent's service account get, list and patch"
            )
        })
        .await,
        "{}",
        logs()
    );
    tokio::time::sleep(S).await;
    assert!(
        k.rest_actions("billing").is_empty(),
        "{:?}",
        k.rest_actions("billing")
    );
    assert_eq!(k.spec_state("billing"), "(none)");
    assert_eq!(agent.view("billing").unwrap().phase.as_str(), "holding");
    assert_eq!(
        agent
            .value(
                "cdc_sentinel_kubernetes_request_duration_seconds_count",
                &["code=\"403\"", "verb=\"patch\""]
            )
            .await
            .map(|n| n >= 1.0),
        Some(true)
    );
    // Granted: the next retry holds it.
    k.fake.clear_faults();
    assert!(eventually(10 * S, || async { k.spec_state("billing") == "paused" }).await);
    agent.wait_phase("billing", "waiting", 5 * S).await;
}

/// (6) The Kubernetes API unreachable: no action at all (even on a connector that would be
/// held), one line saying so, `kubernetes_up` 0; back: the hold is made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_api_unreachable_nothing_is_done_and_it_says_so_once() {
    let mut db = Db::start().await;
    let k = Strimzi::start("connect-blind", Duration::from_millis(300)).await;
    k.connector(failfast("payments", &db), None);
    let agent = k.agent(&[]).await;
    agent.wait_state("payments", "RUNNING", 5 * S).await;
    agent
        .wait_value("cdc_sentinel_kubernetes_up", &[], 1.0, 5 * S)
        .await;

    k.fake.down();
    agent
        .wait_value("cdc_sentinel_kubernetes_up", &[], 0.0, 5 * S)
        .await;
    db.down().await;
    assert!(k.state_is("payments", "RUNNING", 5 * S).await);
    assert!(
        eventually(5 * S, || async {
            k.sim.task_states("payments") == vec!["FAILED"]
        })
        .await
    );
    tokio::time::sleep(2 * S).await;
    let blind_line = "No action on any connector of this Kafka Connect cluster until the KafkaConnectors of connect-blind";
    assert_eq!(count_in_logs(blind_line), 1, "{}", logs());
    assert!(
        k.rest_actions("payments").is_empty(),
        "{:?}",
        k.rest_actions("payments")
    );
    assert_eq!(agent.view("payments").unwrap().phase.as_str(), "watching");
    assert_eq!(
        agent
            .value(
                "cdc_sentinel_connector_managed_by",
                &["connector=\"payments\"", "manager=\"strimzi\""]
            )
            .await,
        Some(1.0),
        "the last known manager while blind"
    );

    k.fake.up().unwrap();
    agent
        .wait_value("cdc_sentinel_kubernetes_up", &[], 1.0, 5 * S)
        .await;
    assert!(eventually(5 * S, || async { k.spec_state("payments") == "paused" }).await);
    agent.wait_phase("payments", "waiting", 5 * S).await;
    assert_eq!(
        count_in_logs("KafkaConnectors of connect-blind listed again"),
        1
    );
}

/// A resume through REST of a connector the agent holds through its resource is a hand-back,
/// as it always was; the operator would pause it again at its next reconciliation (the
/// resource still says `paused`), so the agent sets `spec.state: running` as the person asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_through_rest_is_kept_by_setting_spec_state_running() {
    let mut db = Db::start().await;
    let k = Strimzi::start("connect-rest-resume", Duration::from_millis(300)).await;
    k.connector(failfast("ledger", &db), None);
    let agent = k.agent(&[]).await;
    agent.wait_state("ledger", "RUNNING", 5 * S).await;
    db.down().await;
    agent.wait_phase("ledger", "waiting", 5 * S).await;
    assert_eq!(k.spec_state("ledger"), "paused");

    assert_eq!(
        crate::support::human("PUT", format!("{}/connectors/ledger/resume", k.sim.url())).await,
        202
    );
    agent
        .wait_value(
            "cdc_sentinel_recovery_duration_seconds_count",
            &["outcome=\"handed_back\""],
            1.0,
            5 * S,
        )
        .await;
    assert!(
        eventually(5 * S, || async { k.spec_state("ledger") == "running" }).await,
        "{}",
        k.resource("ledger")
    );
    assert!(k.marks("ledger").is_empty(), "{:?}", k.marks("ledger"));
    // Several reconciliations later it still runs, as the person wanted.
    let rounds = k.op.rounds();
    assert!(eventually(5 * S, || async { k.op.rounds() >= rounds + 3 }).await);
    assert_eq!(k.sim.connector_state("ledger").as_deref(), Some("RUNNING"));
    assert_eq!(agent.view("ledger").unwrap().phase.as_str(), "watching");
}

/// A FAILED connector object cannot be paused (Kafka Connect refuses, Strimzi 1.1+ does not
/// ask): it is held with `spec.state: stopped`, and comes back with `running`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_connector_object_is_held_with_stopped() {
    let mut db = Db::start().await;
    let k = Strimzi::start("connect-failed", Duration::from_millis(300)).await;
    k.connector(failfast("crm", &db), None);
    let agent = k.agent(&[]).await;
    agent.wait_state("crm", "RUNNING", 5 * S).await;
    db.down().await;
    k.sim.fail_connector(
        "crm",
        &cdc_sentinel_sim::trace::producer_failure(
            "io.debezium.connector.postgresql.PostgresConnector",
            Some(db.addr),
            cdc_sentinel_sim::Reach::Unreachable,
        ),
    );
    assert!(
        eventually(5 * S, || async { k.spec_state("crm") == "stopped" }).await,
        "{}",
        k.resource("crm")
    );
    assert!(k
        .marks("crm")
        .contains(&("cdc-sentinel.io/held-state".into(), "stopped".into())));
    assert!(k.state_is("crm", "STOPPED", 5 * S).await);
    agent.wait_phase("crm", "waiting", 5 * S).await;
    db.up().await;
    agent
        .wait_value(
            "cdc_sentinel_recovery_duration_seconds_count",
            &["outcome=\"recovered\""],
            1.0,
            10 * S,
        )
        .await;
    assert_eq!(k.spec_state("crm"), "running");
    assert!(k.marks("crm").is_empty());
    assert_eq!(k.sim.connector_state("crm").as_deref(), Some("RUNNING"));
}

/// The annotations mirror the state file, they do not replace it: a hold of the agent's on a
/// resource that no record (and no hand-back) explains (the state file was lost) is never
/// resumed by the agent, nor touched; one line says so, with the command to resume it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_on_the_resource_without_a_record_is_left_and_said_once() {
    let mut db = Db::start().await;
    let k = Strimzi::start("connect-lost-state", Duration::from_millis(300)).await;
    k.connector(failfast("archive", &db), None);
    let dir = tempfile::tempdir().unwrap();
    let mut first = k.agent_with_state(dir.path().join("state.json")).await;
    first.wait_state("archive", "RUNNING", 5 * S).await;
    db.down().await;
    first.wait_phase("archive", "waiting", 5 * S).await;
    first.kill().await;

    // Its state file is lost; the database comes back.
    db.up().await;
    let second = k.agent_with_state(dir.path().join("other.json")).await;
    second.wait_state("archive", "PAUSED", 5 * S).await;
    let writes = k.writes_to("archive").len();
    tokio::time::sleep(2 * S).await;
    assert_eq!(
        k.writes_to("archive").len(),
        writes,
        "{:?}",
        k.writes_to("archive")
    );
    assert_eq!(k.spec_state("archive"), "paused");
    assert!(k
        .marks("archive")
        .contains(&("cdc-sentinel.io/held-state".into(), "paused".into())));
    assert_eq!(k.sim.connector_state("archive").as_deref(), Some("PAUSED"));
    assert_eq!(
        count_in_logs("archive: its KafkaConnector carries cdc-sentinel's hold (spec.state paused) but the agent has no record of holding it, so it will not resume it. To resume it: kubectl -n 'kafka' patch kafkaconnector 'archive' --type merge -p '{\"spec\":{\"state\":\"running\"}}'"),
        1,
        "{}",
        logs()
    );
}
