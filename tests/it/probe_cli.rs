//! `cdc-sentinel probe URL`, run as the operator runs it: output and exit codes (0 up, 1 down,
//! 2 bad input), against the scripted TNS listener and a closed port.

use std::process::{Command, Output};

use cdc_sentinel_sim::tns::{Reply, TnsListener};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cdc-sentinel"))
        .arg("probe")
        .args(args)
        .env_remove("CDC_SENTINEL_PROBE_TIMEOUT")
        .env_remove("CDC_SENTINEL_PROBE_COUNT")
        .env_remove("CDC_SENTINEL_PROBE_INTERVAL")
        .output()
        .unwrap()
}

async fn run_async(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&a)
    })
    .await
    .unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn down_service_prints_the_listener_error_and_exits_1() {
    let l = TnsListener::start(vec![vec![Reply::Refuse(12514)]]).await;
    let o = run_async(vec![format!("oracle://127.0.0.1:{}/ORCLPDB1", l.port)]).await;
    let (out, err) = text(&o);
    print!("{out}");
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(out.starts_with("DOWN oracle://127.0.0.1:"), "{out}");
    for want in [
        "reason=service_unknown",
        "latency=",
        "listener_version=19.0.0.0.0",
        "service ORCLPDB1 not registered (ORA-12514)",
    ] {
        assert!(out.contains(want), "{want}: {out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_service_exits_0_and_count_prints_a_summary() {
    let l = TnsListener::start(vec![vec![Reply::Accept(319)]]).await;
    let o = run_async(vec![
        format!("oracle://127.0.0.1:{}/ORCLPDB1", l.port),
        "--count".into(),
        "20".into(),
        "--interval".into(),
        "20ms".into(),
    ])
    .await;
    let (out, err) = text(&o);
    print!("{out}");
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert_eq!(out.matches("UP   oracle://").count(), 20, "{out}");
    assert!(
        out.contains("20 probes, 20 up, 0 down; latency min/avg/max"),
        "{out}"
    );
    assert!(
        out.contains("MOUNTED"),
        "the ACCEPT caveat is printed: {out}"
    );
    assert_eq!(l.conns().len(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_code_follows_the_last_probe() {
    // First connection refused 12528 (NOMOUNT), then open.
    let l = TnsListener::start(vec![vec![Reply::Refuse(12528)], vec![Reply::Accept(319)]]).await;
    let o = run_async(vec![
        format!("oracle://127.0.0.1:{}/ORCLPDB1", l.port),
        "--count=2".into(),
        "--interval=10ms".into(),
    ])
    .await;
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains("reason=blocked") && out.contains("2 probes, 1 up, 1 down"),
        "{out}"
    );
}

#[test]
fn closed_port_is_down_and_bad_input_is_2() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let o = run(&[&format!("postgres://127.0.0.1:{port}"), "--timeout", "2s"]);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("DOWN postgres://127.0.0.1") && out.contains("reason=refused"),
        "{out}"
    );

    for bad in [
        vec!["db1:1521"],
        vec!["oracle://db1:1521"],
        vec!["oracle://db1:1521/SVC)(UR=A"],
        vec!["mysql://db1:3306", "--count", "0"],
        vec!["mysql://db1:3306", "--timeout", "soon"],
        vec![],
    ] {
        let o = run(&bad);
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {out}{err}");
        assert!(out.is_empty(), "{bad:?}: nothing on stdout: {out}");
        assert!(!err.is_empty(), "{bad:?}: a message on stderr");
    }
    let (_, err) = text(&run(&["db1:1521"]));
    assert!(
        err.contains("oracle://HOST:PORT/SERVICE") && err.contains("postgres://HOST:PORT"),
        "{err}"
    );
}
