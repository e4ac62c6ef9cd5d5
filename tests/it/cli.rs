//! The binary as an operator meets it: exit codes and messages for bad configuration, the
//! redacted effective configuration, environment variables, SIGTERM.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cdc_sentinel_sim::{ConnectorSpec, SimConnect, SimOptions};

pub(crate) fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cdc-sentinel"));
    // only what a test sets: none of the CDC_SENTINEL_* the tests may run under
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("CDC_SENTINEL_") {
            c.env_remove(k);
        }
    }
    c
}

pub(crate) fn run(args: &[&str]) -> (i32, String, String) {
    let out = bin().args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_flags_exit_64_naming_the_flag() {
    let (code, _, err) = run(&["run", "--max-wait", "forever"]);
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("--max-wait") && err.contains("30m"), "{err}");
    let (code, _, err) = run(&["check-config", "--db", "oracle-db:1521"]);
    assert_eq!(code, 64);
    assert!(
        err.contains("--db") && err.contains("accepted forms"),
        "{err}"
    );
    let (code, _, err) = run(&["check-config", "--hold-with", "freeze"]);
    assert_eq!(code, 64);
    assert!(err.contains("pause") && err.contains("stop"), "{err}");
}

#[test]
fn bad_config_file_exits_78_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("sentinel.toml");
    std::fs::write(&p, "[connectors.inventory]\ndb = \"tcp://db\"\n").unwrap();
    let (code, _, err) = run(&["check-config", "--config", p.to_str().unwrap()]);
    assert_eq!(code, 78, "{err}");
    assert!(
        err.contains("[connectors.\"inventory\"] db") && err.contains("HOST:PORT"),
        "{err}"
    );
    let (code, _, err) = run(&["check-config", "--config", "/nonexistent/sentinel.toml"]);
    assert_eq!(code, 78);
    assert!(err.contains("/nonexistent/sentinel.toml"), "{err}");
}

#[test]
fn check_config_prints_the_effective_config_with_secrets_redacted() {
    let out = bin()
        .args([
            "check-config",
            "--connect-user",
            "admin",
            "--connector",
            "inv",
        ])
        .env("CDC_SENTINEL_CONNECT_PASSWORD", "pa55-w0rd")
        .env("CDC_SENTINEL_MAX_WAIT", "45m")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        text.contains("max_wait           = 45m"),
        "env var applied: {text}"
    );
    assert!(
        text.contains("connect_password   = *** (set)") && !text.contains("pa55-w0rd"),
        "{text}"
    );
    assert!(text.contains("connectors         = inv"));
}

/// Every option of a `--help` text as (long flag, whole entry): clap prints an entry either on
/// one line or as an indented block, starting with `-` at two to six spaces of indentation.
fn help_entries(help: &str) -> Vec<(String, String)> {
    let mut entries: Vec<(String, String)> = Vec::new();
    let mut in_options = false;
    for line in help.lines() {
        if !line.starts_with(' ') && !line.is_empty() {
            in_options = line.trim_end() == "Options:";
            continue;
        }
        if !in_options {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        if (2..=6).contains(&indent) && line.trim_start().starts_with('-') {
            let flag = line
                .split_whitespace()
                .find_map(|w| w.trim_end_matches(',').strip_prefix("--"))
                .unwrap_or("")
                .to_string();
            entries.push((flag, line.to_string()));
        } else if let Some((_, text)) = entries.last_mut() {
            text.push('\n');
            text.push_str(line);
        }
    }
    entries
}

#[test]
fn help_documents_every_flag_with_its_env_var() {
    // Every visible subcommand (the hidden `simulate` is the test suites' own tool), and the bare
    // binary, which is `run`. A new subcommand must be added here.
    let (code, top, _) = run(&["--help"]);
    assert_eq!(code, 0);
    let listed: Vec<&str> = top
        .lines()
        .skip_while(|l| l.trim_end() != "Commands:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    let subcommands = [
        "run",
        "check-config",
        "demo",
        "healthcheck",
        "windows",
        "probe",
        "offsets",
    ];
    assert_eq!(listed, subcommands, "subcommands in --help");

    for sub in std::iter::once("").chain(subcommands) {
        let args: Vec<&str> = [sub, "--help"]
            .into_iter()
            .filter(|a| !a.is_empty())
            .collect();
        let (code, out, err) = run(&args);
        assert_eq!(code, 0, "{args:?}: {err}");
        let entries = help_entries(&out);
        let flags: Vec<&str> = entries.iter().map(|(f, _)| f.as_str()).collect();
        assert!(flags.len() > 2, "{args:?}: options found: {flags:?}\n{out}");
        let scope = sub.to_uppercase().replace('-', "_");
        for (flag, text) in &entries {
            if flag == "help" || flag == "version" {
                continue;
            }
            // CDC_SENTINEL_<FLAG>, or CDC_SENTINEL_<SUBCOMMAND>_<FLAG> for a subcommand's own
            // flag whose bare name would be ambiguous (healthcheck --url, windows --count)
            let name = flag.to_uppercase().replace(['-', '.'], "_");
            let env = text
                .split("[env: ")
                .nth(1)
                .and_then(|rest| rest.split(['=', ']']).next())
                .unwrap_or_else(|| panic!("{args:?}: --{flag} shows no env var:\n{text}"));
            assert!(
                env == format!("CDC_SENTINEL_{name}")
                    || env == format!("CDC_SENTINEL_{scope}_{name}"),
                "{args:?}: --{flag} has env {env}, not CDC_SENTINEL_[{scope}_]{name}"
            );
        }
        if sub == "run" || sub.is_empty() {
            for flag in [
                "poll-interval",
                "probe-interval",
                "down-after",
                "up-after",
                "max-wait",
                "hold-with",
                "state-file",
                "web.listen-address",
                "log-format",
                "dry-run",
            ] {
                assert!(flags.contains(&flag), "{args:?}: --{flag} in {flags:?}");
            }
        }
    }
}

#[test]
fn subcommand_env_vars_take_effect() {
    // windows --count from the environment
    let out = bin()
        .args(["windows", "--maintenance", "daily 01:50-02:30 UTC"])
        .args(["--from", "2026-03-07T12:00:00Z"])
        .env("CDC_SENTINEL_WINDOWS_COUNT", "2")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert_eq!(
        text.lines().filter(|l| l.contains(" -> ")).count(),
        2,
        "two occurrences:\n{text}"
    );
    // ... and windows --from
    let out = bin()
        .args(["windows", "--maintenance", "daily 01:50-02:30 UTC"])
        .args(["--count", "1"])
        .env("CDC_SENTINEL_WINDOWS_FROM", "2026-03-07T12:00:00Z")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Sun 2026-03-08 01:50 UTC"), "{text}");

    // probe --count and --interval from the environment, against a closed port
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("tcp://127.0.0.1:{port}");
    let out = bin()
        .args(["probe", &url])
        .env("CDC_SENTINEL_PROBE_COUNT", "3")
        .env("CDC_SENTINEL_PROBE_INTERVAL", "10ms")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("3 probes, 0 up, 3 down"), "{text}");
    // a bad value in the environment is bad input for `probe`: exit 2, naming the variable
    let out = bin()
        .args(["probe", &url])
        .env("CDC_SENTINEL_PROBE_COUNT", "many")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--count"), "{err}");

    // healthcheck --timeout from the environment: a bad one is a usage error naming the flag
    let (code, _, err) = {
        let o = bin()
            .args(["healthcheck", "--url", "http://127.0.0.1:1/readyz"])
            .env("CDC_SENTINEL_HEALTHCHECK_TIMEOUT", "soon")
            .output()
            .unwrap();
        (
            o.status.code(),
            (),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    assert_eq!(code, Some(64), "{err}");
    assert!(err.contains("--timeout"), "{err}");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_promptly_with_state_written_and_exit_0() {
    let sim = SimConnect::start(SimOptions::default()).await.unwrap();
    sim.add_connector(ConnectorSpec::oracle("term-ora", None));
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let log_path = dir.path().join("agent.log");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut child = bin()
        .args([
            "run",
            "--connect-url",
            &sim.url(),
            "--poll-interval",
            "100ms",
            "--state-file",
            state.to_str().unwrap(),
        ])
        .args([
            "--web.listen-address",
            &format!("127.0.0.1:{port}"),
            "--db",
            "tcp://127.0.0.1:1",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&log_path).unwrap()))
        .env_remove("NO_COLOR")
        .spawn()
        .unwrap();
    let ready = crate::support::eventually(Duration::from_secs(10), || async move {
        reqwest::get(format!("http://127.0.0.1:{port}/readyz"))
            .await
            .map(|r| r.status() == 200)
            .unwrap_or(false)
    })
    .await;
    assert!(ready, "agent became ready");
    let hc = bin()
        .args([
            "healthcheck",
            "--url",
            &format!("http://127.0.0.1:{port}/readyz"),
        ])
        .status()
        .unwrap();
    assert!(hc.success(), "healthcheck passes while ready");

    let t = Instant::now();
    assert!(Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "did not stop within 5s"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    println!("SIGTERM -> exit in {:?}", t.elapsed());
    assert_eq!(status.code(), Some(0));
    assert!(state.exists(), "state written on the way out");
    // the log went to a file, as under systemd or a container runtime: plain text, no colour codes
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("stopped; state written"), "log: {log}");
    assert!(
        !log.contains('\x1b'),
        "escape codes in a log written to a file:\n{log}"
    );
    let hc = bin()
        .args([
            "healthcheck",
            "--url",
            &format!("http://127.0.0.1:{port}/readyz"),
            "--timeout",
            "1s",
        ])
        .status()
        .unwrap();
    assert!(!hc.success(), "healthcheck fails when the agent is gone");
}

/// `--log-format json`, as every deployment example runs it: one JSON object per line with
/// timestamp, level and message, and each decision's fields (connector, target, reason) as
/// top-level keys a log pipeline can filter on.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_per_line_with_the_decision_fields() {
    let mut db = crate::support::Db::start().await;
    let sim = SimConnect::start(SimOptions::default()).await.unwrap();
    sim.add_connector(
        ConnectorSpec::oracle("json-ora", Some(db.addr))
            .with_retry(cdc_sentinel_sim::RetryMode::FailFast),
    );
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("agent.log");
    let child = bin()
        .args(["run", "--log-format", "json", "--connect-url", &sim.url()])
        .args(["--web.listen-address", "127.0.0.1:0", "--state-file"])
        .arg(dir.path().join("state.json"))
        .args(crate::support::FAST)
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&log_path).unwrap()))
        .spawn()
        .unwrap();
    struct Guard(std::process::Child);
    impl Drop for Guard {
        fn drop(&mut self) {
            if let Ok(None) = self.0.try_wait() {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
    }
    let mut agent = Guard(child);
    let running = crate::support::eventually(Duration::from_secs(30), || async {
        sim.connector_state("json-ora").as_deref() == Some("RUNNING")
            && std::fs::read_to_string(&log_path)
                .unwrap_or_default()
                .contains("watching")
    })
    .await;
    assert!(running, "agent started");
    db.down().await;
    let held = crate::support::eventually(Duration::from_secs(30), || async {
        sim.connector_state("json-ora").as_deref() == Some("PAUSED")
            && std::fs::read_to_string(&log_path)
                .unwrap_or_default()
                .contains("hold confirmed")
    })
    .await;
    assert!(
        held,
        "held: {}",
        std::fs::read_to_string(&log_path).unwrap()
    );

    assert!(Command::new("kill")
        .args(["-TERM", &agent.0.id().to_string()])
        .status()
        .unwrap()
        .success());
    let mut status = None;
    for _ in 0..600 {
        if let Some(s) = agent.0.try_wait().unwrap() {
            status = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{log}");

    let mut objects = Vec::new();
    for line in log.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        let o = v
            .as_object()
            .unwrap_or_else(|| panic!("not an object: {line}"));
        for key in ["timestamp", "level", "message"] {
            assert!(
                o.get(key).is_some_and(|x| x.is_string()),
                "no string {key:?}: {line}"
            );
        }
        let ts = o["timestamp"].as_str().unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(ts).is_ok(),
            "timestamp {ts:?} is RFC 3339: {line}"
        );
        assert!(
            ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"].contains(&o["level"].as_str().unwrap()),
            "{line}"
        );
        objects.push(o.clone());
    }
    let target = format!("{}/ORCLCDB", db.addr);
    let find = |fragment: &str| {
        objects
            .iter()
            .find(|o| o["message"].as_str().unwrap().contains(fragment))
            .unwrap_or_else(|| panic!("no line with {fragment:?}:\n{log}"))
            .clone()
    };
    let hold = find("json-ora: holding it while");
    assert_eq!(hold["level"], "WARN", "{hold:?}");
    assert_eq!(hold["connector"], "json-ora", "{hold:?}");
    assert_eq!(hold["target"], target.as_str(), "{hold:?}");
    assert_eq!(hold["reason"], "task_failed", "{hold:?}");
    let detected = find("json-ora: failure detected");
    assert_eq!(detected["connector"], "json-ora", "{detected:?}");
    let probing = find(&format!("probing {target}"));
    assert_eq!(probing["target"], target.as_str(), "{probing:?}");
    // the fields are keys, not text appended to the message as in the text format
    assert!(
        !hold["message"].as_str().unwrap().contains("connector="),
        "{hold:?}"
    );
    find("stopped; state written");
}
