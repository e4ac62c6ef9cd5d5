//! The safety net when things are odd (issue 11): absurd flags, unwritable state, odd answers
//! from Kafka Connect, signals, cosmetic traps in what the binary prints. Each test runs the
//! real binary as an operator would.

use std::time::{Duration, Instant};

use crate::cli::bin;

/// Runs the binary to completion (killed after 30 s, so a regression that makes `run` start
/// instead of refusing fails the test rather than hanging it).
fn run(args: &[&str]) -> (i32, String, String) {
    run_env(args, &[])
}

/// A port that is busy for as long as the returned listener lives.
fn busy_port() -> (std::net::TcpListener, u16) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

#[test]
fn demo_on_a_busy_port_says_so_once() {
    let (_l, port) = busy_port();
    let (code, out, err) = run(&["demo", "--web.listen-address", &format!("127.0.0.1:{port}")]);
    assert_ne!(code, 0, "{out}{err}");
    assert_eq!(
        err.matches("Address already in use").count(),
        1,
        "the OS error once:\n{err}"
    );
    assert!(err.contains("--web.listen-address"), "{err}");
}

fn run_env(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let mut child = bin()
        .args(args)
        .envs(env.iter().copied())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let t = Instant::now();
    let code = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s.code().unwrap_or(-1);
        }
        if t.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            break -1;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    (
        code,
        std::fs::read_to_string(out).unwrap_or_default(),
        std::fs::read_to_string(err).unwrap_or_default(),
    )
}

#[test]
fn absurd_durations_are_refused_naming_the_flag_and_the_maximum() {
    let absurd = "500000000000y";
    for (flag, max) in [
        ("--poll-interval", "1h"),
        ("--probe-interval", "1h"),
        ("--probe-timeout", "10m"),
        ("--connect-timeout", "10m"),
        ("--connect-action-timeout", "10m"),
        ("--verify-timeout", "1day"),
        ("--verify-window", "1day"),
        ("--max-wait", "30days"),
    ] {
        for sub in ["run", "check-config"] {
            let (code, _, err) = run(&[sub, flag, absurd]);
            assert_eq!(code, 64, "{sub} {flag}: {err}");
            assert!(
                err.contains(flag) && err.contains(&format!("at most {max}")),
                "{sub} {flag}: {err}"
            );
            assert!(!err.contains("panicked"), "{err}");
        }
    }
    for flag in ["--timeout", "--interval"] {
        let (code, _, err) = run(&["probe", "tcp://127.0.0.1:1", "--count", "2", flag, absurd]);
        assert_eq!(code, 2, "probe {flag}: {err}");
        assert!(err.contains(flag) && err.contains("at most"), "{err}");
    }
    for speed in ["0.0000001", "1e300", "NaN", "0"] {
        let (code, _, err) = run(&["demo", "--speed", speed]);
        assert_eq!(code, 64, "demo --speed {speed}: {err}");
        assert!(
            err.contains("--speed") && err.contains("0.1 to 100"),
            "{err}"
        );
    }
    let (code, _, err) = run(&["healthcheck", "--timeout", absurd]);
    assert_eq!(code, 64, "{err}");
    assert!(
        err.contains("--timeout") && err.contains("at most 10m"),
        "{err}"
    );
    // zero is refused too, for the verify durations as for the others
    for flag in ["--verify-timeout", "--verify-window"] {
        let (code, _, err) = run(&["check-config", flag, "0s"]);
        assert_eq!(code, 64, "{flag}: {err}");
        assert!(
            err.contains(flag) && err.contains("greater than zero"),
            "{err}"
        );
    }
}

#[test]
fn a_bad_environment_value_is_blamed_on_its_variable() {
    let (code, _, err) = run_env(
        &["check-config"],
        &[("CDC_SENTINEL_POLL_INTERVAL", "500000000000y")],
    );
    assert_eq!(code, 64, "{err}");
    assert!(
        err.contains("CDC_SENTINEL_POLL_INTERVAL") && err.contains("at most 1h"),
        "{err}"
    );
    assert!(!err.contains("'--poll-interval <"), "{err}");
    // the flag given on the command line is the flag's fault
    let (code, _, err) = run_env(
        &["check-config", "--poll-interval", "soon"],
        &[("CDC_SENTINEL_POLL_INTERVAL", "5s")],
    );
    assert_eq!(code, 64, "{err}");
    assert!(
        err.contains("'--poll-interval <") && !err.contains("CDC_SENTINEL_POLL_INTERVAL"),
        "{err}"
    );
    // a subcommand's own variable; `probe` keeps its exit code 2
    let (code, _, err) = run_env(
        &["probe", "tcp://127.0.0.1:1"],
        &[("CDC_SENTINEL_PROBE_TIMEOUT", "99h")],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("CDC_SENTINEL_PROBE_TIMEOUT") && err.contains("--timeout"),
        "{err}"
    );
}

#[test]
fn booleans_in_the_environment_mean_what_they_say() {
    for (value, shown) in [
        ("true", "true"),
        ("1", "true"),
        ("yes", "true"),
        ("ON", "true"),
        ("false", "false"),
        ("0", "false"),
        ("no", "false"),
        ("off", "false"),
    ] {
        let (code, out, err) = run_env(&["check-config"], &[("CDC_SENTINEL_DRY_RUN", value)]);
        assert_eq!(code, 0, "CDC_SENTINEL_DRY_RUN={value}: {err}");
        assert!(
            out.contains(&format!("dry_run            = {shown}\n")),
            "CDC_SENTINEL_DRY_RUN={value}: {out}"
        );
    }
    let (code, _, err) = run_env(&["check-config"], &[("CDC_SENTINEL_DRY_RUN", "maybe")]);
    assert_eq!(code, 64, "{err}");
    assert!(
        err.contains("CDC_SENTINEL_DRY_RUN") && err.contains("true or false"),
        "{err}"
    );
}

#[test]
fn the_config_file_refuses_what_the_flags_refuse() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("sentinel.toml");
    for (value, expect) in [
        ("0s", "greater than zero"),
        ("500000000000y", "at most 30days"),
    ] {
        std::fs::write(&p, format!("[connectors.inv]\nmax_wait = \"{value}\"\n")).unwrap();
        let (code, _, err) = run(&["check-config", "--config", p.to_str().unwrap()]);
        assert_eq!(code, 78, "max_wait = {value}: {err}");
        assert!(
            err.contains("[connectors.\"inv\"] max_wait") && err.contains(expect),
            "max_wait = {value}: {err}"
        );
    }
}

#[test]
fn malformed_connect_urls_are_refused_at_start() {
    for url in [
        "http://a b:8083",
        "http://[::1",
        "http://connect:80x3",
        "http://connect:8083?x=1",
    ] {
        for sub in ["run", "check-config"] {
            let (code, _, err) = run(&[
                sub,
                "--connect-url",
                url,
                "--web.listen-address",
                "127.0.0.1:0",
            ]);
            assert_eq!(code, 64, "{sub} --connect-url {url:?}: {err}");
            assert!(
                err.contains("--connect-url") && err.contains("http://HOST:PORT"),
                "{sub} {url:?}: {err}"
            );
        }
    }
    // a password in a malformed URL is not shown either
    let (code, _, err) = run(&[
        "check-config",
        "--connect-url",
        "http://admin:s3cr3t@a b:8083",
    ]);
    assert_eq!(code, 64, "{err}");
    assert!(!err.contains("s3cr3t"), "{err}");
}

/// `run` and `check-config` with the same flags: the same verdict, the same exit code.
fn both(args: &[&str]) -> Vec<(i32, String)> {
    ["check-config", "run"]
        .iter()
        .map(|sub| {
            let mut v = vec![*sub, "--web.listen-address", "127.0.0.1:0"];
            v.extend_from_slice(args);
            let (code, _, err) = run(&v);
            (code, err)
        })
        .collect()
}

#[test]
fn an_unusable_state_file_stops_check_config_as_it_stops_run() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir").join("state.json");
    for (code, err) in both(&["--state-file", missing.to_str().unwrap()]) {
        assert_eq!(code, 78, "{err}");
        let parent = dir.path().join("no-such-dir");
        assert!(
            err.contains(&format!("{} does not exist", parent.display()))
                && err.contains("uid ")
                && err.contains("create it")
                && err.contains("--state-file"),
            "path, user and fix: {err}"
        );
    }
    let corrupt = dir.path().join("corrupt.json");
    std::fs::write(&corrupt, "{\"version\": 1, \"connectors\": {").unwrap();
    for (code, err) in both(&["--state-file", corrupt.to_str().unwrap()]) {
        assert_eq!(code, 78, "{err}");
        assert!(
            err.contains(corrupt.to_str().unwrap())
                && err.contains("corrupt")
                && err.contains("move it aside"),
            "{err}"
        );
    }
    let newer = dir.path().join("newer.json");
    std::fs::write(&newer, "{\"version\": 99}").unwrap();
    for (code, err) in both(&["--state-file", newer.to_str().unwrap()]) {
        assert_eq!(code, 78, "{err}");
        assert!(
            err.contains(newer.to_str().unwrap()) && err.contains("run a newer cdc-sentinel"),
            "{err}"
        );
    }
    for (code, err) in both(&["--state-file", dir.path().to_str().unwrap()]) {
        assert_eq!(code, 78, "{err}");
        assert!(
            err.contains("is a directory") && err.contains("--state-file names the file"),
            "{err}"
        );
    }
}

#[test]
fn a_ca_file_that_is_not_pem_stops_check_config_as_it_stops_run() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "this is not a certificate\n").unwrap();
    let state = dir.path().join("state.json");
    for (code, err) in both(&[
        "--connect-url",
        "https://connect:8443",
        "--connect-ca",
        ca.to_str().unwrap(),
        "--state-file",
        state.to_str().unwrap(),
    ]) {
        assert_eq!(code, 78, "{err}");
        assert!(err.contains("--connect-ca"), "{err}");
    }
}

#[test]
fn a_busy_listen_port_is_unavailable_not_a_config_error() {
    let (_l, port) = busy_port();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let (code, _, err) = run(&[
        "run",
        "--web.listen-address",
        &format!("127.0.0.1:{port}"),
        "--state-file",
        state.to_str().unwrap(),
        "--connect-url",
        "http://127.0.0.1:1",
    ]);
    assert_eq!(code, 69, "EX_UNAVAILABLE: {err}");
    assert!(
        err.contains("--web.listen-address") && err.contains("in use"),
        "{err}"
    );
}

#[test]
fn an_empty_password_file_or_an_empty_window_list_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("password");
    for (text, expect) in [
        ("", "empty"),
        ("\n", "empty"),
        ("\ns3cr3t\n", "first line is blank"),
    ] {
        std::fs::write(&pw, text).unwrap();
        let (code, _, err) = run(&[
            "check-config",
            "--connect-user",
            "admin",
            "--connect-password-file",
            pw.to_str().unwrap(),
        ]);
        assert_eq!(code, 78, "{text:?}: {err}");
        assert!(
            err.contains("--connect-password-file") && err.contains(expect),
            "{text:?}: {err}"
        );
        assert!(!err.contains("s3cr3t"), "{err}");
    }
    let cfg = dir.path().join("sentinel.toml");
    for key in ["connectors", "targets"] {
        std::fs::write(
            &cfg,
            format!("[[maintenance]]\nwhen = \"daily 01:00-02:00 UTC\"\n{key} = []\n"),
        )
        .unwrap();
        for sub in ["check-config", "windows"] {
            let (code, _, err) = run(&[sub, "--config", cfg.to_str().unwrap()]);
            assert_eq!(code, 78, "{sub} {key} = []: {err}");
            assert!(
                err.contains(key) && err.contains("leave the key out for every connector"),
                "{sub} {key} = []: {err}"
            );
        }
    }
}

/// The agent binary running against `connect_url` with the test timing, its log in a file.
#[cfg(unix)]
struct Child {
    child: std::process::Child,
    log: std::path::PathBuf,
    state: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

#[cfg(unix)]
impl Child {
    fn start(connect_url: &str, extra: &[&str]) -> Child {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("agent.log");
        let state = dir.path().join("state.json");
        let child = bin()
            .args(["run", "--connect-url", connect_url])
            .args(["--web.listen-address", "127.0.0.1:0", "--state-file"])
            .arg(&state)
            .args(crate::support::FAST)
            .args(extra)
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Child {
            child,
            log,
            state,
            _dir: dir,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn signal(&self, sig: &str) {
        assert!(std::process::Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success());
    }

    /// The exit code if it exits within `within`.
    async fn exit_within(&mut self, within: Duration) -> Option<i32> {
        let t = Instant::now();
        while t.elapsed() < within {
            if let Some(s) = self.child.try_wait().unwrap() {
                return Some(s.code().unwrap_or(-1));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    async fn wait_log(&self, fragment: &str, within: Duration) -> bool {
        crate::support::eventually(within, || async { self.log().contains(fragment) }).await
    }
}

#[cfg(unix)]
impl Drop for Child {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_is_ignored_with_one_line() {
    use cdc_sentinel_sim::{ConnectorSpec, SimConnect, SimOptions};
    let sim = SimConnect::start(SimOptions::default()).await.unwrap();
    sim.add_connector(ConnectorSpec::oracle("hup-ora", None));
    let mut agent = Child::start(&sim.url(), &["--db", "tcp://127.0.0.1:1"]);
    assert!(
        agent.wait_log("watching", Duration::from_secs(10)).await,
        "{}",
        agent.log()
    );
    agent.signal("HUP");
    assert_eq!(
        agent.exit_within(Duration::from_millis(700)).await,
        None,
        "SIGHUP must not stop the agent: {}",
        agent.log()
    );
    agent.signal("HUP");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = agent.log();
    assert_eq!(
        log.matches("SIGHUP received and ignored: cdc-sentinel has no configuration reload; restart it to apply changes").count(),
        2,
        "one line per SIGHUP:\n{log}"
    );
    agent.signal("TERM");
    assert_eq!(
        agent.exit_within(Duration::from_secs(5)).await,
        Some(0),
        "{}",
        agent.log()
    );
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_sigterm_stops_at_once_and_an_abandoned_action_is_not_exit_0() {
    use cdc_sentinel_sim::{ConnectorSpec, Fault, RetryMode, Route, SimConnect, SimOptions};
    let mut db = crate::support::Db::start().await;
    let sim = SimConnect::start(SimOptions::default()).await.unwrap();
    sim.add_connector(
        ConnectorSpec::oracle("term2-ora", Some(db.addr)).with_retry(RetryMode::FailFast),
    );
    // the worker takes 30 s to answer the pause: it is in flight when the signals come
    sim.inject(Route::Pause, Fault::Slow(Duration::from_secs(30)), 10);
    let mut agent = Child::start(&sim.url(), &["--connect-action-timeout", "60s"]);
    assert!(
        agent.wait_log("watching", Duration::from_secs(10)).await,
        "{}",
        agent.log()
    );
    db.down().await;
    let sent = crate::support::eventually(Duration::from_secs(15), || async {
        sim.requests()
            .iter()
            .any(|r| r.is("PUT", "/connectors/term2-ora/pause"))
    })
    .await;
    assert!(sent, "pause sent: {}", agent.log());
    agent.signal("TERM");
    assert!(
        agent
            .wait_log(
                "SIGTERM received; finishing the step in flight",
                Duration::from_secs(2)
            )
            .await,
        "{}",
        agent.log()
    );
    let t = Instant::now();
    agent.signal("TERM");
    let code = agent.exit_within(Duration::from_secs(5)).await;
    let log = agent.log();
    assert_eq!(
        code,
        Some(1),
        "a forced exit with a pause in flight:\n{log}"
    );
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "at once: {:?}",
        t.elapsed()
    );
    assert!(
        log.contains(
            "second SIGTERM: exiting now, abandoning what was in flight: pause of \"term2-ora\""
        ),
        "{log}"
    );
    // written ahead: the next start knows it holds the connector
    let state = std::fs::read_to_string(&agent.state).unwrap();
    assert!(state.contains("\"term2-ora\""), "{state}");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_does_not_claim_it_wrote_state() {
    use cdc_sentinel_sim::{ConnectorSpec, SimConnect, SimOptions};
    let sim = SimConnect::start(SimOptions::default()).await.unwrap();
    sim.add_connector(ConnectorSpec::oracle("dry-ora", None));
    let mut agent = Child::start(&sim.url(), &["--dry-run", "--db", "tcp://127.0.0.1:1"]);
    assert!(
        agent.wait_log("watching", Duration::from_secs(10)).await,
        "{}",
        agent.log()
    );
    agent.signal("TERM");
    assert_eq!(agent.exit_within(Duration::from_secs(5)).await, Some(0));
    let log = agent.log();
    assert!(
        log.contains("stopped (dry run: no state was written)") && !log.contains("state written"),
        "{log}"
    );
    assert!(!agent.state.exists(), "a dry run writes no state");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connector_name_with_a_newline_cannot_split_a_text_log_line() {
    use cdc_sentinel_sim::{ConnectorSpec, SimConnect, SimOptions};
    let sim = SimConnect::start(SimOptions::default()).await.unwrap();
    let evil = "evil\n2026-01-01T00:00:00.000000Z ERROR forged: database wiped\r";
    let mut spec = ConnectorSpec::oracle(evil, None);
    // no database in its config: the agent says so, naming it
    spec.config.retain(|k, _| !k.starts_with("database."));
    sim.add_connector(spec);
    let mut agent = Child::start(&sim.url(), &[]);
    assert!(
        agent
            .wait_log("no database target", Duration::from_secs(10))
            .await,
        "{}",
        agent.log()
    );
    agent.signal("TERM");
    assert_eq!(agent.exit_within(Duration::from_secs(5)).await, Some(0));
    let log = agent.log();
    for line in log.lines() {
        assert!(
            line.starts_with("20") && line.contains("Z "),
            "every line is a whole event; this one is not: {line:?}\n{log}"
        );
        assert!(!line.contains('\r'), "{line:?}");
        assert!(
            !line.starts_with("2026-01-01"),
            "a forged line: {line:?}\n{log}"
        );
    }
    assert!(
        log.contains("evil\\n2026-01-01T00:00:00.000000Z ERROR forged: database wiped\\r"),
        "the name, escaped:\n{log}"
    );
}

/// `{n}` in a doc comment that clap turns into help (once the `--hold-with` values' doc,
/// `PUT /connectors/{n}/pause`) is read by clap as a line break and garbles the help.
#[test]
fn help_texts_are_not_garbled_by_clap_escapes() {
    for sub in [
        "run",
        "check-config",
        "probe",
        "windows",
        "healthcheck",
        "demo",
    ] {
        let (code, out, err) = run(&[sub, "--help"]);
        assert_eq!(code, 0, "{err}");
        let lines: Vec<&str> = out.lines().collect();
        for pair in lines.windows(2) {
            assert!(
                !(pair[0].trim_end().ends_with('/') && pair[1].trim_start().starts_with('/')),
                "{sub} --help breaks a path in two:\n{}\n{}",
                pair[0],
                pair[1]
            );
        }
        if sub == "run" {
            let entry: String = out
                .split("--hold-with <HOLD_WITH>")
                .nth(1)
                .and_then(|rest| rest.split("\n      --").next())
                .unwrap_or_default()
                .to_string();
            assert!(
                entry.contains("pause (any Kafka) or stop")
                    && entry.contains("[possible values: pause, stop]"),
                "{entry}"
            );
        }
    }
}
