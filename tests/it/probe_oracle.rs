//! The Oracle TNS probe against the scripted listener: every outcome the probe knows, what the
//! listener saw of the probe's CONNECT, and the listener's fidelity to the real reply bytes.

use std::time::Duration;

use cdc_sentinel::probe::target::{parse_url, Target};
use cdc_sentinel::probe::{probe, ProbeResult, Reason};

use cdc_sentinel_sim::tns::{self as tns, Reply, TnsListener};

const T: Duration = Duration::from_secs(3);

fn service(port: u16) -> Target {
    parse_url(&format!("oracle://127.0.0.1:{port}/ORCLPDB1")).unwrap()
}

async fn probe_with(scripts: Vec<Vec<Reply>>) -> (ProbeResult, TnsListener) {
    let l = TnsListener::start(scripts).await;
    let r = probe(&service(l.port), T).await;
    (r, l)
}

/// Hex blocks of tests/tns/VECTORS.txt by the start of their title.
pub fn vector(title: &str) -> Vec<u8> {
    let text = include_str!("../tns/VECTORS.txt");
    let mut lines = text.lines();
    while let Some(l) = lines.next() {
        if l.strip_prefix("## ").is_some_and(|t| t.starts_with(title)) {
            return lines
                .take_while(|l| !l.trim().is_empty() && !l.starts_with("##"))
                .flat_map(|l| l.split_whitespace())
                .map(|h| u8::from_str_radix(h, 16).unwrap())
                .collect();
        }
    }
    panic!("no vector {title:?}");
}

#[tokio::test]
async fn scripted_replies_are_the_real_bytes() {
    assert_eq!(tns::refuse(12514), vector("REFUSE ERR=12514"));
    assert_eq!(tns::refuse(0), vector("REFUSE ERR=0"));
    assert_eq!(tns::resend(), vector("RESEND"));
    assert_eq!(tns::accept(319), vector("ACCEPT v319"));
    assert_eq!(tns::accept(314), vector("ACCEPT v314"));
    let desc = "(DESCRIPTION=(ADDRESS=(PROTOCOL=tcp)(HOST=10.0.0.5)(PORT=1521))(CONNECT_DATA=(SERVICE_NAME=ORCL)))";
    assert_eq!(
        tns::redirect_split("10.0.0.5", 1521, desc),
        vector("REDIRECT split form")
    );
    assert_eq!(
        tns::redirect_inline("10.0.0.5", 1521, desc),
        vector("REDIRECT inline form")
    );
}

#[test]
fn listener_parses_the_connects_python_oracledb_sends() {
    let long = tns::parse_connect(
        &vector("python-oracledb 26.1.0 CONNECT (connect data 233 B"),
        Some(&vector("python-oracledb 26.1.0 following DATA")),
    )
    .unwrap();
    assert!(!long.inline);
    assert_eq!(long.version, 319);
    assert_eq!(long.value("SERVICE_NAME").as_deref(), Some("ORCLPDB1"));
    assert_eq!(
        long.value("PROGRAM").as_deref(),
        Some("/tmp/tns/venv/bin/python")
    );
    let short =
        tns::parse_connect(&vector("python-oracledb 26.1.0 CONNECT with inline"), None).unwrap();
    assert!(short.inline);
    assert_eq!(short.value("SERVICE_NAME").as_deref(), Some("FREEPDB1"));
    let redirected = vector("python-oracledb CONNECT after REDIRECT");
    assert_eq!(redirected[5], 0x04);
    // A CONNECT that announces connect data it does not carry is refused, not guessed.
    assert!(tns::parse_connect(&redirected, None).is_err());
}

#[tokio::test]
async fn accept_is_up_and_the_probe_leaves_with_an_ns_eof() {
    for (version, eof) in [
        (319, vector("NS EOF DATA packet after ACCEPT v>=315")),
        (314, vector("NS EOF DATA packet after ACCEPT v<315")),
    ] {
        let (r, l) = probe_with(vec![vec![Reply::Accept(version)]]).await;
        assert_eq!(r.reason, Reason::Ok, "{r:?}");
        assert!(r.detail.contains("ORCLPDB1") && r.detail.contains(&version.to_string()));
        let c = &l.wait_closed(1).await[0];
        assert_eq!(c.after_accept.as_deref(), Some(&eof[..]), "v{version}");
        assert!(c.client_closed, "the probe closes after the EOF packet");
        // What the listener logs about the probe.
        let connect = &c.connects[0];
        assert!(c.parse_errors.is_empty(), "{:?}", c.parse_errors);
        assert_eq!(connect.value("SERVICE_NAME").as_deref(), Some("ORCLPDB1"));
        assert_eq!(connect.value("PROGRAM").as_deref(), Some("cdc-sentinel"));
        assert!(!connect.descriptor.to_ascii_uppercase().contains("(UR="));
        assert_eq!(
            (connect.version, connect.flags, connect.inline),
            (319, 0, true)
        );
    }
}

#[tokio::test]
async fn refusals_carry_the_listener_error_and_version() {
    let cases = [
        (12514, Reason::ServiceUnknown),
        (12528, Reason::Blocked),
        (12526, Reason::Restricted),
        (12527, Reason::Restricted),
        (12519, Reason::NoHandler),
        (12516, Reason::NoHandler),
        (12518, Reason::NoHandler),
        (12520, Reason::NoHandler),
        (12500, Reason::NoHandler),
        (12564, Reason::Refused),
    ];
    for (err, want) in cases {
        for reply in [Reply::Refuse(err), Reply::RefuseSplit(err)] {
            let (r, _l) = probe_with(vec![vec![reply.clone()]]).await;
            assert_eq!(r.reason, want, "{reply:?}: {r:?}");
            assert!(!r.up());
            assert!(r.detail.contains(&format!("ORA-{err}")), "{r:?}");
            assert_eq!(r.version.as_deref(), Some("19.0.0.0.0"));
        }
    }
    let (r, _l) = probe_with(vec![vec![Reply::Refuse(12514)]]).await;
    assert_eq!(
        r.detail,
        "listener up, service ORCLPDB1 not registered (ORA-12514): instance down, or not yet registered after a restart"
    );
}

#[tokio::test]
async fn sid_targets_ask_for_the_sid() {
    let l = TnsListener::start(vec![vec![Reply::Refuse(12505)]]).await;
    let t = parse_url(&format!("oracle://127.0.0.1:{}?sid=ORCL", l.port)).unwrap();
    let r = probe(&t, T).await;
    assert_eq!(r.reason, Reason::ServiceUnknown);
    assert!(
        r.detail.contains("SID ORCL") && r.detail.contains("ORA-12505"),
        "{r:?}"
    );
    let c = &l.conns()[0].connects[0];
    assert_eq!(c.value("SID").as_deref(), Some("ORCL"));
    assert_eq!(c.value("SERVICE_NAME"), None);
}

#[tokio::test]
async fn a_ping_answer_proves_only_the_listener() {
    let (r, _l) = probe_with(vec![vec![Reply::Ping]]).await;
    assert_eq!(r.reason, Reason::ProtocolError, "{r:?}");
    assert!(r.detail.contains("ERR=0"));
}

#[tokio::test]
async fn resend_sends_the_same_connect_again_on_the_same_socket() {
    let (r, l) = probe_with(vec![vec![Reply::Resend, Reply::Accept(319)]]).await;
    assert_eq!(r.reason, Reason::Ok, "{r:?}");
    let conns = l.wait_closed(1).await;
    assert_eq!(conns.len(), 1);
    assert_eq!(conns[0].connects.len(), 2);
    assert_eq!(conns[0].connects[0].raw, conns[0].connects[1].raw);

    // A listener that asks forever is bounded.
    let (r, l) = probe_with(vec![vec![Reply::Resend; 10]]).await;
    assert_eq!(r.reason, Reason::ProtocolError, "{r:?}");
    assert_eq!(l.conns()[0].connects.len(), 4, "CONNECT + 3 resends");
}

#[tokio::test]
async fn long_connect_data_travels_in_a_data_packet() {
    let svc = format!("SALES_{}.EXAMPLE.COM", "X".repeat(180));
    let l = TnsListener::start(vec![vec![Reply::Refuse(12514)]]).await;
    let t = parse_url(&format!("oracle://127.0.0.1:{}/{svc}", l.port)).unwrap();
    let r = probe(&t, T).await;
    assert_eq!(r.reason, Reason::ServiceUnknown, "{r:?}");
    let c = &l.conns()[0].connects[0];
    assert!(!c.inline);
    assert_eq!(c.raw.len(), 74);
    assert_eq!(c.value("SERVICE_NAME").as_deref(), Some(svc.as_str()));
    assert_eq!(c.value("PROGRAM").as_deref(), Some("cdc-sentinel"));
}

#[tokio::test]
async fn redirects_are_followed_in_both_forms() {
    for split in [true, false] {
        let target = TnsListener::start(vec![vec![Reply::Accept(319)]]).await;
        // The redirect's descriptor comes from the listener; (UR=A) in it is not forwarded.
        let descriptor = "(DESCRIPTION=(CONNECT_DATA=(SERVICE_NAME=ORCLPDB1)(UR=A)(CID=(PROGRAM=cdc-sentinel))))".to_string();
        let reply = if split {
            Reply::RedirectSplit {
                port: target.port,
                descriptor,
            }
        } else {
            Reply::RedirectInline {
                port: target.port,
                descriptor,
            }
        };
        let (r, scan) = probe_with(vec![vec![reply]]).await;
        assert_eq!(r.reason, Reason::Ok, "split={split}: {r:?}");
        assert!(r.detail.contains("redirect"), "{r:?}");
        assert_eq!(scan.conns().len(), 1);
        let c = &target.wait_closed(1).await[0];
        assert_eq!(
            c.connects[0].flags, 0x04,
            "CONNECT after REDIRECT carries flag 0x04"
        );
        assert_eq!(
            c.connects[0].value("SERVICE_NAME").as_deref(),
            Some("ORCLPDB1")
        );
        assert!(
            !c.connects[0].descriptor.contains("UR="),
            "{}",
            c.connects[0].descriptor
        );
    }
}

#[tokio::test]
async fn redirect_loops_are_bounded() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let me = TnsListener::serve(
        l,
        port,
        vec![vec![Reply::RedirectSplit {
            port,
            descriptor: String::new(),
        }]],
    );
    let r = probe(&service(port), T).await;
    assert_eq!(r.reason, Reason::ProtocolError, "{r:?}");
    assert!(r.detail.contains("redirects"), "{r:?}");
    assert_eq!(me.conns().len(), 4, "first connection + 3 redirects");
    // Without a descriptor in the redirect, the probe sends its own again, flagged.
    let c = &me.conns()[3].connects[0];
    assert_eq!(
        (c.flags, c.value("PROGRAM").as_deref()),
        (0x04, Some("cdc-sentinel"))
    );
}

#[tokio::test]
async fn a_redirect_to_a_dead_address_is_refused() {
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = dead.local_addr().unwrap().port();
    drop(dead);
    let (r, _l) = probe_with(vec![vec![Reply::RedirectInline {
        port,
        descriptor: String::new(),
    }]])
    .await;
    assert_eq!(r.reason, Reason::Refused, "{r:?}");
    assert!(
        r.detail
            .contains(&format!("redirected to 127.0.0.1:{port}")),
        "{r:?}"
    );
}

#[tokio::test]
async fn garbage_silence_and_truncation() {
    let refuse = tns::refuse(12514);
    let accept = tns::accept(319);
    let cases: Vec<(Reply, Reason)> = vec![
        (
            Reply::Raw(b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec()),
            Reason::ProtocolError,
        ),
        (
            Reply::Raw(vec![0x00, 0x08, 0, 0, 0x0c, 0, 0, 0]),
            Reason::ProtocolError,
        ), // MARKER
        (Reply::Raw(refuse[..20].to_vec()), Reason::ProtocolError),
        (Reply::Raw(accept[..12].to_vec()), Reason::ProtocolError),
        (Reply::Raw(accept[..4].to_vec()), Reason::ProtocolError),
        (Reply::Raw(Vec::new()), Reason::ProtocolError),
        (Reply::RawThenHang(refuse[..30].to_vec()), Reason::Timeout),
        (Reply::Silence, Reason::Timeout),
    ];
    for (reply, want) in cases {
        let l = TnsListener::start(vec![vec![reply.clone()]]).await;
        let r = probe(&service(l.port), Duration::from_millis(400)).await;
        assert_eq!(r.reason, want, "{reply:?}: {r:?}");
        if want == Reason::Timeout {
            assert!(r.detail.contains("no TNS answer"), "{r:?}");
            assert!(r.duration < Duration::from_millis(1500));
        }
    }
}

#[tokio::test]
async fn no_listener_is_refused() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let r = probe(&service(port), T).await;
    assert_eq!(r.reason, Reason::Refused);
}
