//! The state store against a real Kafka-protocol broker (tansu, started per test on a free
//! 127.0.0.1 port and stopped by PID). Timings are printed, never asserted tightly: the bounds
//! below are only "it happens at all within a generous limit".

#[path = "support/sim.rs"]
mod sim;
mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use cdc_sentinel_kafka::{
    parse_url, Error, KafkaStore, Leadership, Options, Sasl, SaslMechanism, Secret, Security,
};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::ClientConfig;
use support::Tansu;

/// Short sessions keep the suite quick; tansu accepts them.
const SESSION: Duration = Duration::from_secs(4);

// ---- every log line of the whole test binary, to check that no secret ever reaches one ------

static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());
struct LogWriter;
impl Write for LogWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(b);
        if std::env::var_os("CDC_KAFKA_TEST_LOG").is_some() {
            std::io::stderr().write_all(b)?;
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn init_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        tracing_subscriber::fmt()
            .with_writer(|| LogWriter)
            .with_ansi(false)
            .with_max_level(tracing::Level::TRACE)
            .init();
    });
}

fn logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap()).into_owned()
}

fn opts(t: &Tansu, topic: &str) -> Options {
    Options::new(parse_url(&t.url(topic)).unwrap()).with_session_timeout(SESSION)
}

async fn wait_until(
    stores: &[&KafkaStore],
    limit: Duration,
    pred: impl Fn(&[Leadership]) -> bool,
) -> Option<Duration> {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        let states: Vec<Leadership> = stores
            .iter()
            .map(|s| s.leadership().borrow().clone())
            .collect();
        if pred(&states) {
            return Some(t0.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

fn leaders(states: &[Leadership]) -> usize {
    states.iter().filter(|l| l.is_leader()).count()
}

fn admin(t: &Tansu) -> AdminClient<DefaultClientContext> {
    ClientConfig::new()
        .set("bootstrap.servers", t.bootstrap())
        .create()
        .unwrap()
}

fn kv(k: &str, v: &str) -> (String, Option<Vec<u8>>) {
    (k.to_string(), Some(v.as_bytes().to_vec()))
}

fn text(m: &BTreeMap<String, Vec<u8>>) -> BTreeMap<String, String> {
    m.iter()
        .map(|(k, v)| (k.clone(), String::from_utf8_lossy(v).into_owned()))
        .collect()
}

// ---- topic ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_a_missing_topic_with_one_partition_and_compaction() {
    init_logs();
    let t = Tansu::start();
    let store = KafkaStore::open(opts(&t, "state-a")).await.expect("open");
    let a = admin(&t);
    let md = a
        .inner()
        .fetch_metadata(Some("state-a"), Duration::from_secs(5))
        .unwrap();
    assert_eq!(md.topics()[0].partitions().len(), 1);
    let cfg = a
        .describe_configs([&ResourceSpecifier::Topic("state-a")], &AdminOptions::new())
        .await
        .unwrap();
    let res = cfg.into_iter().next().unwrap().unwrap();
    assert_eq!(
        res.get("cleanup.policy")
            .and_then(|e| e.value.clone())
            .as_deref(),
        Some("compact")
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_a_topic_of_another_shape_and_names_the_command() {
    init_logs();
    let t = Tansu::start();
    let a = admin(&t);
    let three =
        NewTopic::new("three", 3, TopicReplication::Fixed(-1)).set("cleanup.policy", "compact");
    let delete =
        NewTopic::new("deleting", 1, TopicReplication::Fixed(-1)).set("cleanup.policy", "delete");
    for r in a
        .create_topics([&three, &delete], &AdminOptions::new())
        .await
        .unwrap()
    {
        r.unwrap();
    }

    let e = KafkaStore::open(opts(&t, "three")).await.unwrap_err();
    assert_eq!(e.kind(), "topic_shape", "{e}");
    let msg = e.to_string();
    assert!(msg.contains("topic three has 3 partitions"), "{msg}");
    assert!(
        msg.contains(&format!("kafka-topics.sh --bootstrap-server {} --create --topic three --partitions 1 --config cleanup.policy=compact", t.bootstrap())),
        "{msg}"
    );

    let e = KafkaStore::open(opts(&t, "deleting")).await.unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("cleanup.policy=delete"), "{msg}");
    assert!(
        msg.contains("kafka-configs.sh") && msg.contains("--add-config cleanup.policy=compact"),
        "{msg}"
    );

    let mut o = opts(&t, "absent");
    o.create_topic = false;
    let e = KafkaStore::open(o).await.unwrap_err();
    assert_eq!(e.kind(), "topic_missing", "{e}");
    assert!(
        e.to_string()
            .contains("--topic absent --partitions 1 --config cleanup.policy=compact"),
        "{e}"
    );
    // ... and it was not created behind our back by the metadata request.
    let md = a
        .inner()
        .fetch_metadata(None, Duration::from_secs(5))
        .unwrap();
    assert!(
        !md.topics().iter().any(|t| t.name() == "absent"),
        "the check created the topic"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_broker_is_a_clear_error_in_bounded_time() {
    init_logs();
    let port = support::free_port();
    let o = Options::new(parse_url(&format!("kafka://127.0.0.1:{port}/state")).unwrap())
        .with_session_timeout(SESSION);
    let t0 = Instant::now();
    let e = KafkaStore::open(o).await.unwrap_err();
    println!("unreachable broker reported in {:?}: {e}", t0.elapsed());
    assert_eq!(e.kind(), "unreachable", "{e}");
    assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");
    assert!(t0.elapsed() < Duration::from_secs(15));
}

// ---- election, writes, failover ------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_among_three_standbys_follow_and_one_takes_over_when_it_closes() {
    init_logs();
    let t = Tansu::start();
    let t0 = Instant::now();
    let mut stores = Vec::new();
    for _ in 0..3 {
        stores.push(KafkaStore::open(opts(&t, "fleet")).await.expect("open"));
    }
    let refs: Vec<&KafkaStore> = stores.iter().collect();
    let elected = wait_until(&refs, Duration::from_secs(30), |s| leaders(s) == 1)
        .await
        .expect("a leader within 30 s");
    println!(
        "election: first leader {:?} after the last store opened ({:?} after the first)",
        elected,
        t0.elapsed()
    );
    // Exactly one, and it stays that way for a while (new members joining do not move it).
    let watch_until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < watch_until {
        let states: Vec<Leadership> = refs
            .iter()
            .map(|s| s.leadership().borrow().clone())
            .collect();
        assert_eq!(leaders(&states), 1, "{states:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let li = refs
        .iter()
        .position(|s| s.leadership().borrow().is_leader())
        .unwrap();
    let leader = stores.remove(li);
    leader.may_act().expect("a fresh leader may act");
    for s in &stores {
        assert_eq!(s.may_act().unwrap_err().kind(), "not_leader");
        assert_eq!(
            s.write(vec![kv("x", "1")]).await.unwrap_err().kind(),
            "not_leader"
        );
    }

    leader
        .write(vec![kv("orders", "held"), kv("billing", "held")])
        .await
        .expect("leader writes");
    leader
        .write(vec![("billing".into(), None), kv("orders", "resumed")])
        .await
        .expect("leader writes");
    let want: BTreeMap<String, String> = [("orders".to_string(), "resumed".to_string())].into();
    assert_eq!(text(&leader.load().await.unwrap()), want);
    for s in &stores {
        assert_eq!(
            text(&s.load().await.unwrap()),
            want,
            "a standby sees the leader's writes"
        );
    }
    let old_epoch = match *leader.leadership().borrow() {
        Leadership::Leader { epoch, .. } => epoch,
        _ => unreachable!(),
    };
    assert_eq!(stores[0].leader_record().map(|r| r.epoch), Some(old_epoch));

    let t1 = Instant::now();
    leader.close().await;
    let refs: Vec<&KafkaStore> = stores.iter().collect();
    let failover = wait_until(&refs, Duration::from_secs(30), |s| leaders(s) == 1)
        .await
        .expect("a new leader within 30 s");
    println!(
        "failover after the leader closed: {:?} (close itself took part of it: {:?})",
        t1.elapsed(),
        t1.elapsed() - failover
    );
    let new = refs
        .iter()
        .find(|s| s.leadership().borrow().is_leader())
        .unwrap();
    match *new.leadership().borrow() {
        Leadership::Leader { epoch, .. } => {
            assert!(epoch > old_epoch, "epochs grow: {epoch} > {old_epoch}")
        }
        _ => unreachable!(),
    }
    assert_eq!(
        text(&new.load().await.unwrap()),
        want,
        "the new leader took over every record"
    );
    new.write(vec![kv("orders", "held-again")])
        .await
        .expect("the new leader writes");
    for s in refs {
        assert_eq!(
            text(&s.load().await.unwrap())
                .get("orders")
                .map(String::as_str),
            Some("held-again")
        );
    }
    for s in stores {
        s.close().await;
    }
}

/// A record written after a newer leader's claim by an older epoch never reaches the view, even
/// where the broker lets it through (tansu does not hide aborted records from read_committed
/// readers; a rogue writer can append anything).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_of_an_older_epoch_after_a_newer_claim_are_ignored() {
    init_logs();
    let t = Tansu::start();
    let a = KafkaStore::open(opts(&t, "epochs")).await.expect("open");
    wait_until(&[&a], Duration::from_secs(30), |l| leaders(l) == 1)
        .await
        .expect("leads");
    let epoch = match *a.leadership().borrow() {
        Leadership::Leader { epoch, .. } => epoch,
        _ => unreachable!(),
    };
    a.write(vec![kv("orders", "held")]).await.unwrap();
    let b = KafkaStore::open(opts(&t, "epochs"))
        .await
        .expect("open standby");

    let raw: rdkafka::producer::BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", t.bootstrap())
        .create()
        .unwrap();
    use rdkafka::message::{Header, OwnedHeaders};
    use rdkafka::producer::{BaseRecord, Producer};
    let stale = (epoch - 1).to_string();
    raw.send(
        BaseRecord::to("epochs")
            .partition(0)
            .key("orders")
            .payload("stale")
            .headers(OwnedHeaders::new().insert(Header {
                key: "cdc-sentinel-epoch",
                value: Some(stale.as_str()),
            })),
    )
    .map_err(|(e, _)| e)
    .unwrap();
    // A record without the header (a human repairing state by hand) is taken as written.
    raw.send(
        BaseRecord::to("epochs")
            .partition(0)
            .key("manual")
            .payload("fix"),
    )
    .map_err(|(e, _)| e)
    .unwrap();
    raw.flush(Duration::from_secs(5)).unwrap();
    // (tansu reports the end of this log one short of the second record: load() must still
    // return both.)

    for s in [&a, &b] {
        let view = text(&s.load().await.unwrap());
        assert_eq!(
            view.get("orders").map(String::as_str),
            Some("held"),
            "{view:?}"
        );
        assert_eq!(
            view.get("manual").map(String::as_str),
            Some("fix"),
            "{view:?}"
        );
    }
    assert!(logs().contains("ignoring a record of a deposed leader"));
    a.close().await;
    b.close().await;
}

// ---- a frozen leader --------------------------------------------------------------------------

struct SimProc {
    child: Child,
    lines: mpsc::Receiver<serde_json::Value>,
}

impl SimProc {
    fn start(url: &str) -> SimProc {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "sim_child",
                "--include-ignored",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env("CDC_KAFKA_SIM_URL", url)
            .env("CDC_KAFKA_SIM_SESSION_MS", SESSION.as_millis().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                // The test harness may print "test sim_child ... " before the first line.
                if let Some(i) = line.find("SIM {") {
                    let _ = tx.send(serde_json::from_str(&line[i + 4..]).unwrap());
                }
            }
        });
        SimProc { child, lines: rx }
    }

    fn send(&mut self, cmd: &str) {
        writeln!(self.child.stdin.as_mut().unwrap(), "{cmd}").unwrap();
    }

    /// The next line with `event`, skipping others (and remembering the last leadership).
    fn expect(&self, event: &str, limit: Duration) -> serde_json::Value {
        let t0 = Instant::now();
        loop {
            let left = limit
                .checked_sub(t0.elapsed())
                .unwrap_or_else(|| panic!("no {event} line within {limit:?}"));
            let v = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no {event} line within {limit:?}"));
            if v["event"] == event {
                return v;
            }
        }
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig}");
    }
}

impl Drop for SimProc {
    fn drop(&mut self) {
        self.signal("-CONT");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Not a test on its own: the body of the child process the frozen-leader test starts (with
/// `--include-ignored`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the body of the frozen-leader test's child process, not a test"]
async fn sim_child() {
    let Ok(url) = std::env::var("CDC_KAFKA_SIM_URL") else {
        return;
    };
    let ms = std::env::var("CDC_KAFKA_SIM_SESSION_MS")
        .unwrap()
        .parse()
        .unwrap();
    sim::run(&url, Duration::from_millis(ms)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_frozen_past_its_session_is_fenced_when_it_wakes() {
    init_logs();
    let t = Tansu::start();
    let mut a = SimProc::start(&t.url("frozen"));
    a.expect("open", Duration::from_secs(20));
    loop {
        let l = a.expect("leadership", Duration::from_secs(30));
        if l["state"] == "leader" {
            break;
        }
    }
    a.send("write before-freeze a");
    assert_eq!(a.expect("write", Duration::from_secs(10))["ok"], true);

    let b = KafkaStore::open(opts(&t, "frozen")).await.expect("open b");
    // Let b join the group as a standby before freezing the leader.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!b.leadership().borrow().is_leader());

    a.signal("-STOP");
    let t0 = Instant::now();
    let took = wait_until(&[&b], Duration::from_secs(40), |s| leaders(s) == 1)
        .await
        .expect("b leads while a is frozen");
    println!(
        "failover after the leader was frozen (SIGSTOP): {:?} (session timeout {:?})",
        took, SESSION
    );
    assert!(
        t0.elapsed() >= SESSION / 2,
        "b cannot lead before a's session could expire"
    );
    b.write(vec![kv("after-takeover", "b")])
        .await
        .expect("b writes");

    // a wakes up: it must not act, and its writes must not land.
    a.signal("-CONT");
    a.send("may_act");
    let m = a.expect("may_act", Duration::from_secs(10));
    assert_eq!(m["ok"], false, "a frozen leader wakes up stale: {m}");
    a.send("write zombie a");
    let w = a.expect("write", Duration::from_secs(20));
    assert_eq!(w["ok"], false, "the deposed leader's write must fail: {w}");
    println!(
        "woken leader: may_act -> {}; write -> {}",
        m["error"], w["error"]
    );
    let view = text(&b.load().await.unwrap());
    assert!(
        !view.contains_key("zombie"),
        "the zombie write landed: {view:?}"
    );
    assert_eq!(view.get("before-freeze").map(String::as_str), Some("a"));
    assert!(b.leadership().borrow().is_leader(), "b still leads");
    b.may_act().expect("b may act");
    a.send("close");
    a.expect("closed", Duration::from_secs(15));
    b.close().await;
}

// ---- the broker loses everything ---------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_that_loses_the_records_is_reported_and_survived() {
    init_logs();
    let mut t = Tansu::start();
    let s = KafkaStore::open(opts(&t, "volatile")).await.expect("open");
    wait_until(&[&s], Duration::from_secs(30), |l| leaders(l) == 1)
        .await
        .expect("leads");
    s.write(vec![kv("orders", "held")]).await.unwrap();
    assert_eq!(s.records_lost_total(), 0);

    t.stop();
    let t0 = Instant::now();
    let stepped = wait_until(&[&s], Duration::from_secs(30), |l| leaders(l) == 0)
        .await
        .expect("stops leading without Kafka");
    println!(
        "leader stopped leading {:?} after the broker died; state: {:?}",
        stepped,
        *s.leadership().borrow()
    );
    assert!(s.may_act().is_err());
    assert!(
        s.write(vec![kv("x", "1")]).await.is_err(),
        "no write without Kafka"
    );
    assert!(t0.elapsed() < SESSION * 3);

    t.restart(); // same port, empty storage
    let t1 = Instant::now();
    let back = wait_until(&[&s], Duration::from_secs(60), |l| leaders(l) == 1)
        .await
        .expect("leads again after the broker returns");
    println!(
        "leading again {:?} after the broker restarted (empty)",
        back
    );
    assert!(t1.elapsed() > Duration::ZERO);
    let deadline = Instant::now() + Duration::from_secs(20);
    while s.records_lost_total() == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(s.records_lost_total(), 1, "the loss is reported");
    assert!(logs().contains("records lost"), "and logged");
    assert_eq!(
        text(&s.load().await.unwrap()),
        BTreeMap::new(),
        "the view is what Kafka holds now"
    );
    s.write(vec![kv("orders", "held")])
        .await
        .expect("writes again");
    assert_eq!(
        text(&s.load().await.unwrap())
            .get("orders")
            .map(String::as_str),
        Some("held")
    );
    s.close().await;
}

// ---- secrets --------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sasl_password_never_reaches_errors_debug_or_logs() {
    init_logs();
    let t = Tansu::start();
    let password = "pw-7f3a9c-do-not-log";
    let mut o = opts(&t, "secret");
    o.security = Security {
        tls: None,
        sasl: Some(Sasl {
            mechanism: SaslMechanism::ScramSha256,
            username: "sentinel".into(),
            password: Secret::new(password),
        }),
    };
    let described = o.describe();
    assert!(
        described.contains("SASL password") && described.contains("*** (set)"),
        "{described}"
    );
    let r: Result<KafkaStore, Error> = KafkaStore::open(o.clone()).await;
    let shown = match &r {
        Ok(s) => format!("{s:?}"),
        Err(e) => format!("{e} {e:?}"),
    };
    println!("SASL against a broker without SASL: {shown}");
    if let Ok(s) = r {
        s.close().await;
    }
    for (what, text) in [
        ("describe", described),
        ("Debug", format!("{o:?}")),
        ("result", shown),
        ("logs", logs()),
    ] {
        assert!(!text.contains(password), "the password shows in {what}");
    }
}
