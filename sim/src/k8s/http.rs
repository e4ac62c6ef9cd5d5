//! The fake API server's HTTP side: routing, authentication, faults, Status bodies,
//! discovery documents.

use super::*;

/// A request the fake refuses to answer (the connection is closed).
#[derive(Debug)]
pub(super) struct Closed;

impl std::fmt::Display for Closed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("closed by the fake")
    }
}

impl std::error::Error for Closed {}

pub(super) enum Route {
    Api,
    Apis,
    Group,
    GroupVersion(String),
    Collection {
        version: String,
        ns: Option<String>,
    },
    Object {
        version: String,
        ns: String,
        name: String,
        sub: Sub,
    },
    Unknown,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Sub {
    Main,
    Status,
}

pub(super) fn route(path: &str) -> Route {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match parts.as_slice() {
        ["api"] => Route::Api,
        ["apis"] => Route::Apis,
        ["apis", g] if *g == GROUP => Route::Group,
        ["apis", g, v] if *g == GROUP => Route::GroupVersion(v.to_string()),
        ["apis", g, v, p] if *g == GROUP && *p == PLURAL => Route::Collection {
            version: v.to_string(),
            ns: None,
        },
        ["apis", g, v, "namespaces", ns, p] if *g == GROUP && *p == PLURAL => Route::Collection {
            version: v.to_string(),
            ns: Some(ns.to_string()),
        },
        ["apis", g, v, "namespaces", ns, p, name] if *g == GROUP && *p == PLURAL => Route::Object {
            version: v.to_string(),
            ns: ns.to_string(),
            name: name.to_string(),
            sub: Sub::Main,
        },
        ["apis", g, v, "namespaces", ns, p, name, "status"] if *g == GROUP && *p == PLURAL => {
            Route::Object {
                version: v.to_string(),
                ns: ns.to_string(),
                name: name.to_string(),
                sub: Sub::Status,
            }
        }
        _ => Route::Unknown,
    }
}

pub(super) fn parse_query(q: Option<&str>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for pair in q.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.insert(percent_decode(k), percent_decode(v));
    }
    out
}

pub(super) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
                {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(super) async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<BoxBody>, Closed> {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let query = parse_query(req.uri().query());
    let content_type = req
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.split(';').next().unwrap_or("").trim().to_string());
    let auth = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let body_bytes = req
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let body_json: Option<Value> = serde_json::from_slice(&body_bytes).ok();
    let route = route(&path);
    let watching = matches!(query.get("watch").map(String::as_str), Some("true" | "1"));
    let (verb, name) = match (&route, method.as_str()) {
        (Route::Api | Route::Apis | Route::Group | Route::GroupVersion(_), _) => ("discover", None),
        (Route::Collection { .. }, "GET") if watching => ("watch", None),
        (Route::Collection { .. }, "GET") => ("list", None),
        (Route::Collection { .. }, "POST") => (
            "create",
            body_json
                .as_ref()
                .and_then(|b| b["metadata"]["name"].as_str().map(String::from)),
        ),
        (Route::Object { name, .. }, "GET") => ("get", Some(name.clone())),
        (Route::Object { name, .. }, "PATCH") => ("patch", Some(name.clone())),
        (Route::Object { name, .. }, "PUT") => ("update", Some(name.clone())),
        (Route::Object { name, .. }, "DELETE") => ("delete", Some(name.clone())),
        _ => ("", None),
    };
    let log_index = {
        let mut st = shared.state.lock().unwrap();
        st.log.push(Logged {
            method: method.clone(),
            path: path.clone(),
            query: query.clone(),
            content_type: content_type.clone(),
            field_manager: query.get("fieldManager").cloned(),
            body: if body_bytes.is_empty() {
                None
            } else {
                Some(
                    body_json
                        .clone()
                        .unwrap_or(Value::String(String::from_utf8_lossy(&body_bytes).into())),
                )
            },
            code: 0,
        });
        st.log.len() - 1
    };
    let set_code = |code: u16| {
        let mut st = shared.state.lock().unwrap();
        if let Some(l) = st.log.get_mut(log_index) {
            l.code = code;
        }
    };

    // Authentication comes first, as in kube-apiserver.
    let token = shared.state.lock().unwrap().cfg.token.clone();
    if let Some(t) = token {
        if auth.as_deref() != Some(format!("Bearer {t}").as_str()) {
            set_code(401);
            return Ok(status_response(
                401,
                "Unauthorized",
                "Unauthorized",
                json!({}),
            ));
        }
    }

    // Faults.
    let fault = {
        let mut st = shared.state.lock().unwrap();
        let idx = st.faults.iter().position(|f| {
            f.verb.as_deref().is_none_or(|v| v == verb)
                && f.name.as_ref().is_none_or(|n| Some(n) == name.as_ref())
                && f.with_query.as_ref().is_none_or(|k| query.contains_key(k))
        });
        idx.map(|i| {
            let f = st.faults[i].clone();
            if let Some(t) = st.faults[i].times.as_mut() {
                *t -= 1;
                if *t == 0 {
                    st.faults.remove(i);
                }
            }
            f.action
        })
    };
    let ns_of = match &route {
        Route::Collection { ns, .. } => ns.clone().unwrap_or_default(),
        Route::Object { ns, .. } => ns.clone(),
        _ => String::new(),
    };
    match fault {
        Some(FaultAction::Status(code)) => {
            let user = shared.state.lock().unwrap().cfg.user.clone();
            set_code(code);
            return Ok(fault_response(
                code,
                verb,
                name.as_deref(),
                &ns_of,
                &user,
                &route,
            ));
        }
        Some(FaultAction::Delay(d)) => tokio::time::sleep(d).await,
        Some(FaultAction::Hang) => {
            std::future::pending::<()>().await;
        }
        Some(FaultAction::Close) => return Err(Closed),
        Some(FaultAction::Mutate(p)) => {
            if let Some(n) = &name {
                let mut st = shared.state.lock().unwrap();
                let _ = st.patch(
                    &ns_of,
                    n,
                    "v1beta2",
                    Patcher::Merge(&p),
                    Sub::Main,
                    "other-client",
                    false,
                );
                if p.get("status").is_some() {
                    let _ = st.patch(
                        &ns_of,
                        n,
                        "v1beta2",
                        Patcher::Merge(&p),
                        Sub::Status,
                        "other-client",
                        false,
                    );
                }
                drop(st);
                shared.changed.send_modify(|g| *g += 1);
            }
        }
        None => {}
    }

    let resp = {
        let served: Vec<&'static str> = shared.state.lock().unwrap().cfg.versions.clone();
        let unserved = |v: &str| !served.contains(&v);
        match route {
            Route::Api if method == "GET" => json_response(
                200,
                json!({"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]}),
            ),
            Route::Apis if method == "GET" => {
                let groups = if served.is_empty() {
                    vec![]
                } else {
                    vec![group_json(&served)]
                };
                json_response(
                    200,
                    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}),
                )
            }
            Route::Group if method == "GET" && !served.is_empty() => {
                json_response(200, group_json(&served))
            }
            Route::GroupVersion(v) if method == "GET" && !unserved(&v) => {
                json_response(200, resource_list(&v))
            }
            Route::Collection { version, .. } | Route::Object { version, .. }
                if unserved(&version) =>
            {
                not_found_path()
            }
            Route::Collection { version, ns } if method == "GET" && watching => {
                set_code(200);
                return Ok(start_watch(shared.clone(), version, ns, &query));
            }
            Route::Collection { version, ns } if method == "GET" => {
                let st = shared.state.lock().unwrap();
                match st.list(&version, ns.as_deref(), &query) {
                    Ok(v) => json_response(200, v),
                    Err((c, b)) => json_response(c, b),
                }
            }
            Route::Collection {
                version,
                ns: Some(ns),
            } if method == "POST" => {
                let r = match &body_json {
                    None => Err((
                        400,
                        bad_request("the body of the request is not valid JSON"),
                    )),
                    Some(b) => shared.state.lock().unwrap().create(
                        &ns,
                        b.clone(),
                        &version,
                        strict(&query),
                        &manager(&query),
                    ),
                };
                finish(&shared, r, 201)
            }
            Route::Object {
                version, ns, name, ..
            } if method == "GET" => {
                let st = shared.state.lock().unwrap();
                match st.objects.get(&(ns.clone(), name.clone())) {
                    Some(o) => json_response(200, versioned(o, &version)),
                    None => json_response(404, not_found_body(&name)),
                }
            }
            Route::Object {
                version,
                ns,
                name,
                sub,
            } if method == "PATCH" => {
                let r = match content_type.as_deref() {
                    Some("application/merge-patch+json") | Some("application/json-patch+json") => match &body_json {
                        None => Err((400, bad_request("error decoding patch: the body is not valid JSON"))),
                        Some(b) => {
                            let p = if content_type.as_deref() == Some("application/merge-patch+json") {
                                Patcher::Merge(b)
                            } else {
                                Patcher::Json(b)
                            };
                            shared.state.lock().unwrap().patch(&ns, &name, &version, p, sub, &manager(&query), strict(&query))
                        }
                    },
                    _ => Err((
                        415,
                        status_body(
                            415,
                            "UnsupportedMediaType",
                            &format!(
                                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json{}",
                                if content_type.as_deref() == Some("application/apply-patch+yaml") { " (server-side apply is not implemented by this fake)" } else { ", application/apply-patch+yaml" }
                            ),
                            json!({}),
                        ),
                    )),
                };
                finish(&shared, r, 200)
            }
            Route::Object {
                version,
                ns,
                name,
                sub,
            } if method == "PUT" => {
                let r = match &body_json {
                    None => Err((
                        400,
                        bad_request("the body of the request is not valid JSON"),
                    )),
                    Some(b) => shared.state.lock().unwrap().replace(
                        &ns,
                        &name,
                        &version,
                        b.clone(),
                        sub,
                        &manager(&query),
                        strict(&query),
                    ),
                };
                finish(&shared, r, 200)
            }
            Route::Object {
                version,
                ns,
                name,
                sub: Sub::Main,
            } if method == "DELETE" => {
                let r = shared
                    .state
                    .lock()
                    .unwrap()
                    .delete(&ns, &name)
                    .map(|o| versioned(&o, &version));
                finish(&shared, r, 200)
            }
            Route::Unknown | Route::Group | Route::GroupVersion(_) => not_found_path(),
            _ => status_response(
                405,
                "MethodNotAllowed",
                &format!(
                    "the server does not allow this method on the requested resource ({method})"
                ),
                json!({}),
            ),
        }
    };
    set_code(resp.status().as_u16());
    Ok(resp)
}

pub(super) fn strict(q: &BTreeMap<String, String>) -> bool {
    q.get("fieldValidation").map(String::as_str) == Some("Strict")
}

pub(super) fn manager(q: &BTreeMap<String, String>) -> String {
    q.get("fieldManager")
        .cloned()
        .unwrap_or_else(|| "unknown".into())
}

/// Wakes watches on success and answers.
pub(super) fn finish(
    shared: &Shared,
    r: Result<Value, (u16, Value)>,
    ok: u16,
) -> Response<BoxBody> {
    match r {
        Ok(v) => {
            shared.changed.send_modify(|g| *g += 1);
            json_response(ok, v)
        }
        Err((c, b)) => json_response(c, b),
    }
}

pub(super) fn group_json(served: &[&str]) -> Value {
    let versions: Vec<Value> = served
        .iter()
        .map(|v| json!({"groupVersion": format!("{GROUP}/{v}"), "version": v}))
        .collect();
    // Kubernetes version priority: GA before beta.
    let preferred = if served.contains(&"v1") {
        "v1"
    } else {
        served[0]
    };
    json!({"kind": "APIGroup", "apiVersion": "v1", "name": GROUP, "versions": versions,
           "preferredVersion": {"groupVersion": format!("{GROUP}/{preferred}"), "version": preferred}})
}

pub(super) fn resource_list(v: &str) -> Value {
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": format!("{GROUP}/{v}"), "resources": [
        {"name": PLURAL, "singularName": "kafkaconnector", "namespaced": true, "kind": KIND,
         "verbs": ["delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"],
         "shortNames": ["kctr"], "categories": ["strimzi"]},
        {"name": format!("{PLURAL}/status"), "singularName": "", "namespaced": true, "kind": KIND, "verbs": ["get", "patch", "update"]},
        {"name": format!("{PLURAL}/scale"), "singularName": "", "namespaced": true, "group": "autoscaling", "version": "v1",
         "kind": "Scale", "verbs": ["get", "patch", "update"]}
    ]})
}

pub(super) fn json_response(code: u16, v: Value) -> Response<BoxBody> {
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(
            Full::new(Bytes::from(v.to_string()))
                .map_err(|e: Infallible| match e {})
                .boxed(),
        )
        .unwrap()
}

pub(super) fn status_body(code: u16, reason: &str, message: &str, details: Value) -> Value {
    let mut s = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                       "message": message, "reason": reason, "code": code});
    if details.as_object().is_some_and(|d| !d.is_empty()) {
        s["details"] = details;
    }
    s
}

pub(super) fn status_response(
    code: u16,
    reason: &str,
    message: &str,
    details: Value,
) -> Response<BoxBody> {
    json_response(code, status_body(code, reason, message, details))
}

pub(super) fn bad_request(message: &str) -> Value {
    status_body(400, "BadRequest", message, json!({}))
}

pub(super) fn not_found_path() -> Response<BoxBody> {
    status_response(
        404,
        "NotFound",
        "the server could not find the requested resource",
        json!({}),
    )
}

pub(super) fn not_found_body(name: &str) -> Value {
    status_body(
        404,
        "NotFound",
        &format!("{PLURAL}.{GROUP} {name:?} not found"),
        json!({"name": name, "group": GROUP, "kind": PLURAL}),
    )
}

pub(super) fn fault_response(
    code: u16,
    verb: &str,
    name: Option<&str>,
    ns: &str,
    user: &str,
    route: &Route,
) -> Response<BoxBody> {
    let resource = match route {
        Route::Object {
            sub: Sub::Status, ..
        } => format!("{PLURAL}/status"),
        _ => PLURAL.to_string(),
    };
    match code {
        403 => {
            let subject = match name {
                Some(n) => format!("{PLURAL}.{GROUP} {n:?} is forbidden"),
                None => format!("{PLURAL}.{GROUP} is forbidden"),
            };
            let scope = if ns.is_empty() { "at the cluster scope".to_string() } else { format!("in the namespace {ns:?}") };
            let msg = format!("{subject}: User {user:?} cannot {verb} resource {resource:?} in API group {GROUP:?} {scope}");
            let mut details = json!({"group": GROUP, "kind": PLURAL});
            if let Some(n) = name {
                details["name"] = json!(n);
            }
            status_response(403, "Forbidden", &msg, details)
        }
        404 => json_response(404, not_found_body(name.unwrap_or(""))),
        409 => status_response(
            409,
            "Conflict",
            &format!("Operation cannot be fulfilled on {PLURAL}.{GROUP} {:?}: the object has been modified; please apply your changes to the latest version and try again", name.unwrap_or("")),
            json!({"name": name.unwrap_or(""), "group": GROUP, "kind": PLURAL}),
        ),
        429 => {
            let mut r = status_response(429, "TooManyRequests", "Too many requests, please try again later.", json!({"retryAfterSeconds": 1}));
            r.headers_mut().insert("Retry-After", hyper::header::HeaderValue::from_static("1"));
            r
        }
        503 => status_response(503, "ServiceUnavailable", "the server is currently unable to handle the request", json!({})),
        504 => status_response(504, "Timeout", "the server was unable to return a response in the time allotted, but may still be processing the request", json!({})),
        c => status_response(c, "InternalError", "Internal error occurred: injected by the fake", json!({"causes": [{"message": "injected by the fake"}]})),
    }
}
