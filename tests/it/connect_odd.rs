//! Kafka Connect (or whatever answers at --connect-url) answering oddly: too much, cut off, an
//! HTML page, a 404 for the listing, nothing at all. A raw TCP server on 127.0.0.1 plays each
//! answer byte for byte, so the client meets exactly what a broken worker or proxy sends.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cdc_sentinel::config::ConnectSettings;
use cdc_sentinel::runtime::connect::Client;
use cdc_sentinel::telemetry::metrics::Metrics;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn settings(url: String, timeout: Duration, action: Duration, cap: u64) -> ConnectSettings {
    ConnectSettings {
        url,
        user: None,
        password: None,
        timeout,
        action_timeout: action,
        max_response_bytes: cap,
        ca_pem: None,
        identity_pem: None,
    }
}

fn client(url: String, cap: u64) -> Client {
    Client::new(
        &settings(url, Duration::from_secs(5), Duration::from_secs(5), cap),
        Metrics::new("t", "t", false),
    )
    .unwrap()
}

/// Serves every connection with `head` then `body_len` bytes of `fill` (then closes);
/// returns the URL and the count of body bytes the peer accepted.
async fn serve(head: String, body_len: u64, fill: u8) -> (String, Arc<AtomicU64>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let written = Arc::new(AtomicU64::new(0));
    let w = written.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            let (head, w) = (head.clone(), w.clone());
            tokio::spawn(async move {
                let mut req = [0u8; 4096];
                let _ = s.read(&mut req).await;
                if s.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let block = vec![fill; 64 << 10];
                let mut left = body_len;
                while left > 0 {
                    let n = left.min(block.len() as u64) as usize;
                    if s.write_all(&block[..n]).await.is_err() {
                        return;
                    }
                    w.fetch_add(n as u64, Ordering::Relaxed);
                    left -= n as u64;
                }
                let _ = s.shutdown().await;
            });
        }
    });
    (url, written)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_larger_than_the_cap_is_a_failed_poll_and_is_not_read_to_the_end() {
    let cap = 64 << 10;
    let total: u64 = 256 << 20;
    // no Content-Length: only an incremental cap stops it (a body that ends at close)
    let (url, written) = serve(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n".into(),
        total,
        b' ',
    )
    .await;
    let text = client(url, cap).list().await.unwrap_err().to_string();
    assert!(
        text.contains("answer larger than 64KiB") && text.contains("--connect-max-response-size"),
        "{text}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = written.load(Ordering::Relaxed);
    assert!(
        sent < total / 4,
        "the client stopped reading: the server got {sent} of {total} bytes out"
    );
    // a Content-Length beyond the cap is refused before the body is read
    let (url, _) = serve(
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {total}\r\n\r\n"
        ),
        0,
        b' ',
    )
    .await;
    let text = client(url, cap).list().await.unwrap_err().to_string();
    assert!(text.contains("answer larger than 64KiB"), "{text}");
    // under the cap: read and parsed as usual
    let body = r#"{"inv":{"status":{"name":"inv","connector":{"state":"RUNNING","worker_id":"w"},"tasks":[],"type":"source"}}}"#;
    let (url, _) = serve(
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
        0,
        b' ',
    )
    .await;
    let list = client(url, cap).list().await.unwrap();
    assert!(list.contains_key("inv"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_off_answer_says_so_not_unreachable() {
    // promises 100000 bytes, sends 10 and closes
    let (url, _) = serve(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"inv\":{\"".into(),
        0,
        b' ',
    )
    .await;
    let text = client(url, 64 << 20).list().await.unwrap_err().to_string();
    assert!(
        text.contains("answered") && text.contains("cut off"),
        "{text}"
    );
    assert!(!text.contains("could not be reached"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_html_page_with_200_is_named_as_one() {
    let page = "<!DOCTYPE html>\n<html><head><title>Sign in - Corporate SSO</title></head><body>...</body></html>\n";
    let (url, _) = serve(
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n{page}",
            page.len()
        ),
        0,
        b' ',
    )
    .await;
    let text = client(url, 64 << 20).list().await.unwrap_err().to_string();
    assert!(
        text.contains("an HTML page (Sign in - Corporate SSO)") && text.contains("--connect-url"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_404_for_the_listing_points_at_the_rest_root() {
    let body = "<html><body><h2>HTTP ERROR 404 Not Found</h2></body></html>";
    let (url, _) = serve(
        format!(
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
        0,
        b' ',
    )
    .await;
    let text = client(format!("{url}/ui"), 64 << 20)
        .list()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("404") && text.contains("--connect-url must be the Kafka Connect REST root"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_timeout_named_is_the_one_that_fired() {
    // connected, never answered: the request timeout of a read, with its value
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    let c = Client::new(
        &settings(
            url.clone(),
            Duration::from_millis(300),
            Duration::from_millis(700),
            64 << 20,
        ),
        Metrics::new("t", "t", false),
    )
    .unwrap();
    let text = c.list().await.unwrap_err().to_string();
    assert!(
        text.contains("did not answer GET /connectors?expand=status&expand=info within 300ms (request timeout --connect-timeout)"),
        "{text}"
    );
    let text = c.pause("inv").await.unwrap_err().to_string();
    assert!(
        text.contains("within 700ms (request timeout --connect-action-timeout)"),
        "{text}"
    );

    // a listener whose accept queue is full: the SYN is dropped, the connection never made,
    // so the connect timeout fires (300 ms), not the action's request timeout (5 s)
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = sock.local_addr().unwrap();
    let _full = sock.listen(0).unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        if let Ok(Ok(s)) = tokio::time::timeout(
            Duration::from_millis(200),
            tokio::net::TcpStream::connect(addr),
        )
        .await
        {
            fillers.push(s);
        }
    }
    let c = Client::new(
        &settings(
            format!("http://{addr}"),
            Duration::from_millis(300),
            Duration::from_secs(5),
            64 << 20,
        ),
        Metrics::new("t", "t", false),
    )
    .unwrap();
    let t = std::time::Instant::now();
    let text = c.pause("inv").await.unwrap_err().to_string();
    assert!(
        text.contains("did not accept a connection within 300ms")
            && text.contains("--connect-timeout"),
        "{text} (after {:?})",
        t.elapsed()
    );
}
