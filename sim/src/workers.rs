//! One simulated cluster served by several workers, one REST port each, as a distributed Kafka
//! Connect cluster is: any worker answers for every connector (pause and resume write the
//! target state, which every worker follows), each connector is owned by one worker (its
//! `worker_id` in the status), and a worker that dies leaves its connectors with their last
//! status under its id, running nothing, until another worker takes them over after
//! [`crate::SimOptions::scheduled_rebalance_delay`]; a restart sent meanwhile is lost (only the
//! owner executes restarts). Every request is recorded with the worker whose port it came to.
//!
//! Not modelled: each real worker answers from its own copy of the status topic, so two
//! workers' answers can differ for a moment; here they always agree.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::{bind, http, lock, Shared, SimConnect};

/// Another worker's REST port.
pub(crate) struct Port {
    pub(crate) id: String,
    pub(crate) index: usize,
    addr: SocketAddr,
    listener: Mutex<Option<TcpListener>>,
    changed: Notify,
    conn_token: Mutex<CancellationToken>,
}

impl Port {
    /// Refuses new connections and drops the open ones.
    pub(crate) fn close(&self) {
        *lock(&self.listener) = None;
        lock(&self.conn_token).cancel();
        self.changed.notify_one();
    }
}

impl SimConnect {
    /// Adds a worker to the cluster: the same connectors, served on another free 127.0.0.1
    /// port. Connectors added from now on are spread over the workers (round robin). Returns
    /// the new worker's base URL (`http://127.0.0.1:PORT`; its id is `127.0.0.1:PORT`).
    pub async fn add_worker(&self) -> io::Result<String> {
        let shared = self.inner.shared.clone();
        let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let addr = listener.local_addr()?;
        let id = format!("{}:{}", addr.ip(), addr.port());
        let index = shared.model().add_worker(id.clone());
        let port = Arc::new(Port {
            id,
            index,
            addr,
            listener: Mutex::new(Some(listener)),
            changed: Notify::new(),
            conn_token: Mutex::new(CancellationToken::new()),
        });
        lock(&shared.ports).push(port.clone());
        tokio::spawn(accept_loop(shared, port));
        Ok(format!("http://{addr}"))
    }

    /// Base URLs of every worker, the first one ([`SimConnect::url`]) first.
    pub fn worker_urls(&self) -> Vec<String> {
        let mut v = vec![self.url()];
        v.extend(
            lock(&self.inner.shared.ports)
                .iter()
                .map(|p| format!("http://{}", p.addr)),
        );
        v
    }

    /// The worker (by base URL) dies: its port refuses connections, and its connectors keep
    /// their last status under its id, running nothing, until another worker takes them over
    /// (after `scheduled_rebalance_delay`, in their target state).
    pub fn kill_worker(&self, url: &str) {
        let shared = self.inner.shared.clone();
        let index = if url == self.url() {
            self.set_reachable(false);
            Some(0)
        } else {
            lock(&shared.ports)
                .iter()
                .find(|p| format!("http://{}", p.addr) == url)
                .map(|p| {
                    p.close();
                    p.index
                })
        };
        if let Some(i) = index {
            shared.model().kill_worker(i, Instant::now());
        }
    }

    /// The id of the worker that owns the connector (its status's `worker_id`).
    pub fn owner_of(&self, name: &str) -> Option<String> {
        let m = self.inner.shared.model();
        m.connectors.get(name).map(|c| m.owner_id(c).to_string())
    }

    /// True while the connector waits for a new owner (its worker died).
    pub fn is_orphaned(&self, name: &str) -> bool {
        let m = self.inner.shared.model();
        m.connectors
            .get(name)
            .is_some_and(|c| c.orphaned_until.is_some())
    }
}

async fn accept_loop(shared: Arc<Shared>, port: Arc<Port>) {
    let worker: Arc<str> = Arc::from(port.id.as_str());
    loop {
        let accepted = tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            _ = port.changed.notified() => continue,
            r = poll_fn(|cx| match &*lock(&port.listener) {
                Some(l) => l.poll_accept(cx),
                None => Poll::Pending,
            }) => r,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::debug!(error = %e, "sim: accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let token = {
            let l = lock(&port.listener);
            if l.is_none() {
                continue;
            }
            lock(&port.conn_token).clone()
        };
        let _ = stream.set_nodelay(true);
        let conn_shared = shared.clone();
        let worker = worker.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| http::handle(conn_shared.clone(), worker.clone(), req));
            let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
            tokio::select! {
                _ = conn => {}
                _ = token.cancelled() => {}
            }
        });
    }
}
