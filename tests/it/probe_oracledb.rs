//! Proves the scripted TNS listener faithful with an independent real client: python-oracledb in
//! thin mode. It must raise against our listener what a real listener makes it raise
//! (tests/tns/oracledb_check.py holds those expectations), and the listener must parse the
//! CONNECT packets it sends the way VECTORS.txt shows them.
//!
//! Needs Python with `oracledb`: run `tests/tns/run.sh` (installs it with pip if missing), or
//! `CDC_SENTINEL_PYTHON=python3 cargo test --test it probe_oracledb -- --ignored`.

use std::process::Command;

use crate::probe_oracle::vector;
use cdc_sentinel_sim::tns::{Reply, TnsListener};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs python-oracledb: tests/tns/run.sh"]
async fn python_oracledb_reacts_to_the_scripted_listener_as_to_a_real_one() {
    let python = std::env::var("CDC_SENTINEL_PYTHON").unwrap_or_else(|_| "python3".into());
    let redirect_target = TnsListener::start(vec![vec![Reply::Refuse(12514)]]).await;
    let redirect_descriptor = format!(
        "(DESCRIPTION=(ADDRESS=(PROTOCOL=tcp)(HOST=127.0.0.1)(PORT={}))(CONNECT_DATA=(SERVICE_NAME=ORCLPDB1)))",
        redirect_target.port
    );
    let scenarios: Vec<(&str, Vec<Reply>)> = vec![
        ("refuse_12514", vec![Reply::Refuse(12514)]),
        ("sid_refuse_12505", vec![Reply::Refuse(12505)]),
        ("refuse_12528", vec![Reply::Refuse(12528)]),
        ("refuse_12526", vec![Reply::Refuse(12526)]),
        ("refuse_12519", vec![Reply::Refuse(12519)]),
        ("refuse_12516", vec![Reply::Refuse(12516)]),
        ("ping_err0", vec![Reply::Ping]),
        (
            "resend_then_12514",
            vec![Reply::Resend, Reply::Refuse(12514)],
        ),
        (
            "redirect_split_then_12514",
            vec![Reply::RedirectSplit {
                port: redirect_target.port,
                descriptor: redirect_descriptor,
            }],
        ),
        ("accept_319", vec![Reply::Accept(319)]),
        ("accept_314", vec![Reply::Accept(314)]),
        ("inline_refuse_12514", vec![Reply::Refuse(12514)]),
    ];
    let mut listeners = Vec::new();
    for (name, script) in scenarios {
        listeners.push((name, TnsListener::start(vec![script]).await));
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tns/oracledb_check.py");
    let args: Vec<String> = listeners
        .iter()
        .map(|(n, l)| format!("{n}={}", l.port))
        .collect();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .args(&args)
            .output()
            .expect("run python (set CDC_SENTINEL_PYTHON)")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "python-oracledb disagrees with the scripted listener"
    );

    // What the listener parsed from python-oracledb's packets.
    let thin_connect = vector("python-oracledb 26.1.0 CONNECT (connect data 233 B");
    for (name, l) in &listeners {
        let conns = l.conns();
        assert_eq!(conns.len(), 1, "{name}: one connection");
        let c = &conns[0];
        assert!(c.parse_errors.is_empty(), "{name}: {:?}", c.parse_errors);
        let first = &c.connects[0];
        assert_eq!(first.version, 319, "{name}");
        // Same fixed fields as the recorded python-oracledb CONNECT (length fields aside).
        assert_eq!(&first.raw[8..24], &thin_connect[8..24], "{name}");
        assert_eq!(&first.raw[26..74], &thin_connect[26..74], "{name}");
        assert!(!first.descriptor.contains("UR="), "{name}");
        let (key, want) = match *name {
            "sid_refuse_12505" => ("SID", "ORCL"),
            "inline_refuse_12514" => ("SERVICE_NAME", "FREEPDB1"),
            _ => ("SERVICE_NAME", "ORCLPDB1"),
        };
        assert_eq!(
            first.value(key).as_deref(),
            Some(want),
            "{name}: {}",
            first.descriptor
        );
        assert_eq!(
            first.inline,
            *name == "inline_refuse_12514",
            "{name}: {}",
            first.descriptor
        );
        match *name {
            "resend_then_12514" => {
                assert_eq!(c.connects.len(), 2, "RESEND makes the client send it again");
                assert_eq!(c.connects[0].raw, c.connects[1].raw);
                assert_eq!(c.connects[0].data_packet, c.connects[1].data_packet);
            }
            "accept_319" => {
                let p = c.after_accept.as_ref().expect("a packet after ACCEPT");
                assert_eq!(
                    &p[..2],
                    &[0, 0],
                    "4-byte length framing after ACCEPT >= 315"
                );
                assert_eq!(
                    u32::from_be_bytes([p[0], p[1], p[2], p[3]]) as usize,
                    p.len()
                );
                assert_eq!(p[4], 6, "a DATA packet");
            }
            _ => {}
        }
    }
    let redirected = &redirect_target.conns()[0].connects[0];
    assert_eq!(
        redirected.raw[5], 0x04,
        "CONNECT after REDIRECT carries flag 0x04"
    );
    assert_eq!(
        redirected.value("SERVICE_NAME").as_deref(),
        Some("ORCLPDB1")
    );
}
