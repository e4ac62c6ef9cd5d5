//! The fake API server's watch streams.

use super::*;

/// A streamed response body fed by a channel; an `Err` breaks the connection.
pub(super) struct ChannelBody(mpsc::Receiver<Result<Bytes, std::io::Error>>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0.poll_recv(cx).map(|o| o.map(|r| r.map(Frame::data)))
    }
}

pub(super) fn start_watch(
    shared: Arc<Shared>,
    version: String,
    ns: Option<String>,
    q: &BTreeMap<String, String>,
) -> Response<BoxBody> {
    let labels = match Selector::parse(q.get("labelSelector").map(String::as_str).unwrap_or("")) {
        Ok(s) => s,
        Err(m) => return json_response(400, bad_request(&m)),
    };
    let fields =
        match FieldSelector::parse(q.get("fieldSelector").map(String::as_str).unwrap_or("")) {
            Ok(s) => s,
            Err(m) => return json_response(400, bad_request(&m)),
        };
    let bookmarks = q.get("allowWatchBookmarks").map(String::as_str) == Some("true");
    let initial_events = q.get("sendInitialEvents").map(String::as_str) == Some("true");
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs);
    let requested: Option<u64> = q
        .get("resourceVersion")
        .filter(|r| !r.is_empty())
        .and_then(|r| r.parse().ok());
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    let matches = move |ns_name: &str, o: &Value| {
        ns.as_deref().is_none_or(|n| n == ns_name) && labels.matches(o) && fields.matches(o)
    };
    let line =
        |ty: &str, obj: Value| Bytes::from(format!("{}\n", json!({"type": ty, "object": obj})));
    tokio::spawn(async move {
        let mut changed = shared.changed.subscribe();
        let mut kill = shared.kill_watches.subscribe();
        kill.borrow_and_update();
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        let bookmark_every = shared.state.lock().unwrap().cfg.bookmark_interval;
        // Where to start.
        let (mut last, initial) = {
            let st = shared.state.lock().unwrap();
            match requested {
                Some(rv) if rv != 0 && !initial_events => {
                    if rv < st.compacted {
                        let msg = format!("too old resource version: {rv} ({})", st.compacted);
                        let _ = tx.try_send(Ok(line(
                            "ERROR",
                            status_body(410, "Expired", &msg, json!({})),
                        )));
                        return;
                    }
                    (rv, Vec::new())
                }
                _ => {
                    let init: Vec<Value> = st
                        .objects
                        .iter()
                        .filter(|((n, _), o)| matches(n, o))
                        .map(|(_, o)| versioned(o, &version))
                        .collect();
                    (st.rv, init)
                }
            }
        };
        for o in initial {
            if tx.send(Ok(line("ADDED", o))).await.is_err() {
                return;
            }
        }
        if initial_events {
            let bm = json!({"kind": KIND, "apiVersion": format!("{GROUP}/{version}"),
                            "metadata": {"resourceVersion": last.to_string(), "annotations": {"k8s.io/initial-events-end": "true"}}});
            if tx.send(Ok(line("BOOKMARK", bm))).await.is_err() {
                return;
            }
        }
        let mut tick = tokio::time::interval(bookmark_every);
        tick.tick().await;
        loop {
            let batch: Vec<Bytes> = {
                let st = shared.state.lock().unwrap();
                let mut out = Vec::new();
                let from = last;
                for e in st.events.iter().filter(|e| e.rv > from) {
                    let was = e.old.as_ref().is_some_and(|o| matches(&e.ns, o));
                    let is = e.ty != EventType::Deleted && matches(&e.ns, &e.new);
                    let ty = match (e.ty, was, is) {
                        (EventType::Deleted, true, _) => Some(EventType::Deleted),
                        (EventType::Deleted, false, _) => None,
                        (_, false, true) => Some(EventType::Added),
                        (_, true, true) => Some(EventType::Modified),
                        (_, true, false) => Some(EventType::Deleted),
                        (_, false, false) => None,
                    };
                    if let Some(ty) = ty {
                        let mut obj = if is || e.ty == EventType::Deleted {
                            e.new.clone()
                        } else {
                            e.old.clone().unwrap()
                        };
                        obj["metadata"]["resourceVersion"] = json!(e.rv.to_string());
                        out.push(line(ty.as_str(), versioned(&obj, &version)));
                    }
                    last = e.rv;
                }
                if last < st.compacted {
                    let msg = format!("too old resource version: {last} ({})", st.compacted);
                    out.push(line("ERROR", status_body(410, "Expired", &msg, json!({}))));
                    last = u64::MAX;
                }
                out
            };
            let expired = last == u64::MAX;
            for b in batch {
                if tx.send(Ok(b)).await.is_err() {
                    return;
                }
            }
            if expired {
                return;
            }
            let until = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = changed.changed() => if r.is_err() { return },
                _ = kill.changed() => {
                    let _ = tx.send(Err(std::io::Error::other("watch dropped by the fake"))).await;
                    return;
                }
                _ = tick.tick(), if bookmarks => {
                    let rv = shared.state.lock().unwrap().rv;
                    let bm = json!({"kind": KIND, "apiVersion": format!("{GROUP}/{version}"), "metadata": {"resourceVersion": rv.max(last).to_string()}});
                    if tx.send(Ok(line("BOOKMARK", bm))).await.is_err() {
                        return;
                    }
                }
                _ = until => return,
            }
        }
    });
    Response::builder()
        .status(200)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(ChannelBody(rx).boxed())
        .unwrap()
}
