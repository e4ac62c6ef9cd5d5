//! The safety net when things are odd (issue 11): absurd flags, unwritable state, odd answers
//! from Kafka Connect, signals, cosmetic traps in what the binary prints. Each test runs the
//! real binary as an operator would.

use crate::cli::{bin, run};

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
    let out = bin().args(args).envs(env.iter().copied()).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
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
