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
    let _ = bin;
}
