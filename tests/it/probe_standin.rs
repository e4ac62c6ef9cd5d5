//! The simulator's database stand-in reads as up to every protocol probe.

use std::time::Duration;

use cdc_sentinel_sim::standin::answer_as_database;

#[tokio::test]
async fn every_protocol_probe_sees_the_stand_in_up() {
    use cdc_sentinel::probe::target::parse_url;
    use cdc_sentinel::probe::{probe, Reason};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(answer_as_database(s));
        }
    });
    for url in [
        format!("oracle://127.0.0.1:{port}/ORCLCDB"),
        format!("postgres://127.0.0.1:{port}"),
        format!("mysql://127.0.0.1:{port}"),
        format!("tcp://127.0.0.1:{port}"),
    ] {
        let r = probe(&parse_url(&url).unwrap(), Duration::from_secs(3)).await;
        assert_eq!(r.reason, Reason::Ok, "{url}: {r:?}");
    }
    server.abort();
}
