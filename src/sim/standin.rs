//! A database stand-in that answers the protocol probes the way an open database does, for
//! the demo and the tests whose "database" is a plain TCP listener: with protocol-aware probes, a listener that
//! accepts and drops connections reads as `protocol_error` (down) to an oracle:// or
//! postgres:// target. `answer_as_database(stream)` instead of `drop(stream)` keeps such a
//! stand-in "up" for every protocol: it replies to a TNS CONNECT with ACCEPT, to a PostgreSQL
//! StartupMessage with a SCRAM authentication request, and to a client that stays silent (MySQL
//! waits for the server) with a MariaDB greeting.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Answers one connection like an open database, then closes it.
pub async fn answer_as_database(mut s: TcpStream) {
    let mut head = [0u8; 8];
    let mut got = 0;
    let silent = loop {
        match tokio::time::timeout(Duration::from_millis(100), s.read(&mut head[got..])).await {
            Err(_) => break got == 0,
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(n)) => {
                got += n;
                if got == head.len() {
                    break false;
                }
            }
        }
    };
    let reply: Vec<u8> = if silent {
        mysql_greeting()
    } else if got == 8 && head[2..4] == [0, 0] && head[4] == 1 {
        tns_accept()
    } else if got == 8 && head[4..8] == [0, 3, 0, 0] {
        let body = b"\0\0\0\x0aSCRAM-SHA-256\0\0";
        let mut m = vec![b'R'];
        m.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
        m.extend_from_slice(body);
        m
    } else {
        return;
    };
    if s.write_all(&reply).await.is_err() {
        return;
    }
    if silent {
        // The client's login attempt gets "access denied", as for the probe's account.
        let mut buf = [0u8; 512];
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf)).await {
            if n > 0 {
                let err = b"\xff\x15\x04#28000Access denied for user 'cdc_sentinel'";
                let mut p = (err.len() as u32).to_le_bytes()[..3].to_vec();
                p.push(2);
                p.extend_from_slice(err);
                let _ = s.write_all(&p).await;
            }
        }
    }
    // Let the client finish (the TNS probe sends its EOF packet) before closing.
    let mut sink = [0u8; 512];
    let _ = tokio::time::timeout(Duration::from_secs(2), s.read(&mut sink)).await;
}

fn mysql_greeting() -> Vec<u8> {
    let mut p = vec![10];
    p.extend_from_slice(b"10.11.6-MariaDB\0");
    p.extend_from_slice(&1u32.to_le_bytes());
    p.extend_from_slice(b"abcdefgh\0");
    p.extend_from_slice(&0xf7feu16.to_le_bytes());
    p.push(45);
    p.extend_from_slice(&2u16.to_le_bytes());
    p.extend_from_slice(&0x81bfu16.to_le_bytes());
    p.push(21);
    p.extend_from_slice(&[0; 10]);
    p.extend_from_slice(b"ijklmnopqrst\0mysql_native_password\0");
    let mut out = (p.len() as u32).to_le_bytes()[..3].to_vec();
    out.push(0);
    out.extend_from_slice(&p);
    out
}

/// A TNS ACCEPT (version 319) as a listener sends it when the service has a ready handler.
fn tns_accept() -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&319u16.to_be_bytes());
    b.extend_from_slice(&[0x08, 0x01, 0x20, 0x00, 0xff, 0xff, 0x01, 0x00]);
    b.extend_from_slice(&[0; 14]);
    b.extend_from_slice(&8192u32.to_be_bytes());
    b.extend_from_slice(&65535u32.to_be_bytes());
    b.extend_from_slice(&[0; 5]);
    let mut p = ((b.len() + 8) as u16).to_be_bytes().to_vec();
    p.extend_from_slice(&[0, 0, 2, 0, 0, 0]);
    p.extend_from_slice(&b);
    p
}
