//! HTTPS to Kafka Connect with a custom CA and a client certificate (mutual TLS), against a
//! real TLS peer: `openssl s_server -Verify 1`, which refuses clients without a certificate
//! signed by its CA. Certificates are minted by the openssl CLI for the test.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use cdc_sentinel::config::ConnectSettings;
use cdc_sentinel::runtime::connect::{Client, ConnectError};
use cdc_sentinel::telemetry::metrics::Metrics;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl CLI");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA;
/// plus a second, unrelated CA.
fn mint(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    for ca in ["ca", "other-ca"] {
        let (key, pem, subj) = (
            format!("{ca}.key"),
            format!("{ca}.pem"),
            format!("/CN={ca}"),
        );
        let mut a = vec!["req", "-x509"];
        a.extend(ec);
        a.extend(["-keyout", &key, "-out", &pem, "-days", "2", "-subj", &subj]);
        openssl(dir, &a);
    }
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    for who in ["server", "client"] {
        let mut a = vec!["req"];
        a.extend(ec);
        let key = format!("{who}.key");
        let csr = format!("{who}.csr");
        let subj = format!("/CN={who}");
        a.extend(["-keyout", &key, "-out", &csr, "-subj", &subj]);
        openssl(dir, &a);
        let pem = format!("{who}.pem");
        let ext = format!("{who}.ext");
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &pem,
                "-days",
                "2",
                "-extfile",
                &ext,
            ],
        );
    }
}

struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(dir: &Path) -> (Server, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("openssl")
        .current_dir(dir)
        .args([
            "s_server",
            "-accept",
            &format!("127.0.0.1:{port}"),
            "-cert",
            "server.pem",
            "-key",
            "server.key",
        ])
        .args([
            "-CAfile",
            "ca.pem",
            "-Verify",
            "1",
            "-verify_return_error",
            "-www",
            "-quiet",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_server");
    let server = Server(child);
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (server, port);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("s_server did not listen");
}

fn settings(port: u16, dir: &Path, ca: &str, client_cert: bool) -> ConnectSettings {
    let identity = client_cert.then(|| {
        let mut pem = std::fs::read(dir.join("client.pem")).unwrap();
        pem.extend(std::fs::read(dir.join("client.key")).unwrap());
        pem
    });
    ConnectSettings {
        url: format!("https://127.0.0.1:{port}"),
        user: None,
        password: None,
        timeout: Duration::from_secs(5),
        action_timeout: Duration::from_secs(5),
        max_response_bytes: 64 << 20,
        ca_pem: Some(std::fs::read(dir.join(ca)).unwrap()),
        identity_pem: identity,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_custom_ca_and_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    mint(dir.path());
    let (_server, port) = serve(dir.path());
    let m = Metrics::new("t", "t", false);

    // CA + client certificate: the TLS handshake succeeds (s_server answers its HTML status
    // page, which the client then rejects as not Kafka Connect's JSON).
    let ok = Client::new(&settings(port, dir.path(), "ca.pem", true), m.clone()).unwrap();
    match ok.list().await {
        Err(ConnectError::BadJson { .. }) => {}
        other => panic!("expected a TLS session and a non-JSON body, got {other:?}"),
    }
    // No client certificate: the server refuses the handshake.
    let anon = Client::new(&settings(port, dir.path(), "ca.pem", false), m.clone()).unwrap();
    let e = anon.list().await.unwrap_err();
    assert!(matches!(e, ConnectError::Unreachable { .. }), "{e:?}");
    // A CA that did not sign the server's certificate: the client refuses the server.
    let wrong = Client::new(&settings(port, dir.path(), "other-ca.pem", true), m).unwrap();
    let e = wrong.list().await.unwrap_err().to_string();
    assert!(
        e.to_ascii_lowercase().contains("certificate") || e.contains("could not be reached"),
        "{e}"
    );
}

#[test]
fn unreadable_or_bogus_pem_is_a_clear_error() {
    let s = ConnectSettings {
        url: "https://127.0.0.1:1".into(),
        user: None,
        password: None,
        timeout: Duration::from_secs(1),
        action_timeout: Duration::from_secs(1),
        max_response_bytes: 64 << 20,
        ca_pem: Some(b"not a certificate".to_vec()),
        identity_pem: None,
    };
    let e = Client::new(&s, Metrics::new("t", "t", false))
        .err()
        .expect("rejected");
    assert!(e.contains("--connect-ca"), "{e}");
}
