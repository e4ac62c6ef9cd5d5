//! The fake API server's store: create, patch (merge and JSON), update, delete, list with
//! selectors and consistent pages, schema checks, the event history watches read.

use super::*;

/// The object as served in `version`: apiVersion/kind set, fields outside that version's
/// schema dropped (v1 has no `spec.pause`).
pub(super) fn versioned(stored: &Value, version: &str) -> Value {
    let mut o = stored.clone();
    o["apiVersion"] = json!(format!("{GROUP}/{version}"));
    o["kind"] = json!(KIND);
    if version == "v1" {
        if let Some(spec) = o.get_mut("spec").and_then(Value::as_object_mut) {
            spec.remove("pause");
        }
    }
    let mut out = Map::new();
    for k in ["apiVersion", "kind", "metadata", "spec", "status"] {
        if let Some(v) = o.get(k) {
            out.insert(k.into(), v.clone());
        }
    }
    Value::Object(out)
}

pub(super) enum Patcher<'a> {
    Merge(&'a Value),
    Json(&'a Value),
}

pub(super) type ApiResult = Result<Value, (u16, Value)>;

impl State {
    pub(super) fn spec_fields(&self, version: &str) -> Vec<&'static str> {
        let mut f = vec![
            "class",
            "tasksMax",
            "autoRestart",
            "version",
            "config",
            "listOffsets",
            "alterOffsets",
        ];
        if self.cfg.state_field {
            f.push("state");
        }
        if version == "v1beta2" {
            f.push("pause");
        }
        f
    }

    /// Schema checks and pruning of an object about to be stored.
    pub(super) fn validate(
        &self,
        obj: &mut Value,
        version: &str,
        strict: bool,
        name: &str,
    ) -> Result<(), (u16, Value)> {
        let allowed = self.spec_fields(version);
        if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
            let unknown: Vec<String> = spec
                .keys()
                .filter(|k| !allowed.contains(&k.as_str()))
                .cloned()
                .collect();
            if strict && !unknown.is_empty() {
                let fields: Vec<String> = unknown
                    .iter()
                    .map(|k| format!("unknown field \"spec.{k}\""))
                    .collect();
                return Err((
                    400,
                    bad_request(&format!(
                        "{KIND} in version \"{version}\" cannot be handled as a {KIND}: strict decoding error: {}",
                        fields.join(", ")
                    )),
                ));
            }
            for k in unknown {
                spec.remove(&k);
            }
            if let Some(s) = spec.get("state") {
                if !matches!(s.as_str(), Some("paused" | "stopped" | "running")) {
                    let shown = s.to_string();
                    let cause = format!("Unsupported value: {shown}: supported values: \"paused\", \"stopped\", \"running\"");
                    return Err((
                        422,
                        status_body(
                            422,
                            "Invalid",
                            &format!("{KIND}.{GROUP} {name:?} is invalid: spec.state: {cause}"),
                            json!({"name": name, "group": GROUP, "kind": KIND,
                                   "causes": [{"reason": "FieldValueNotSupported", "message": cause, "field": "spec.state"}]}),
                        ),
                    ));
                }
            }
        }
        for key in ["annotations", "labels"] {
            match obj["metadata"].get(key) {
                None | Some(Value::Null) => {}
                Some(Value::Object(m)) if m.values().all(Value::is_string) => {}
                Some(_) => {
                    return Err((
                        400,
                        bad_request(&format!(
                            "{KIND} in version \"{version}\" cannot be handled as a {KIND}: json: cannot unmarshal into Go struct field ObjectMeta.metadata.{key} of type string"
                        )),
                    ))
                }
            }
        }
        Ok(())
    }

    pub(super) fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    pub(super) fn record(
        &mut self,
        ty: EventType,
        ns: &str,
        name: &str,
        old: Option<Value>,
        new: Value,
    ) {
        let rv = self.rv;
        self.events.push_back(Event {
            rv,
            ty,
            ns: ns.into(),
            name: name.into(),
            old,
            new,
        });
        while self.events.len() > HISTORY {
            if let Some(e) = self.events.pop_front() {
                self.compacted = e.rv;
            }
        }
    }

    pub(super) fn create(
        &mut self,
        ns: &str,
        mut obj: Value,
        version: &str,
        strict: bool,
        manager: &str,
    ) -> ApiResult {
        let name = match obj["metadata"]["name"].as_str() {
            Some(n) if !n.is_empty() => n.to_string(),
            _ => {
                return Err((
                    422,
                    status_body(422, "Invalid", &format!("{KIND}.{GROUP} \"\" is invalid: metadata.name: Required value: name or generateName is required"),
                        json!({"group": GROUP, "kind": KIND, "causes": [{"reason": "FieldValueRequired", "message": "Required value: name or generateName is required", "field": "metadata.name"}]})),
                ))
            }
        };
        if let Some(other) = obj["metadata"]["namespace"].as_str() {
            if other != ns {
                return Err((400, bad_request("the namespace of the provided object does not match the namespace sent on the request")));
            }
        }
        if self.objects.contains_key(&(ns.into(), name.clone())) {
            return Err((
                409,
                status_body(
                    409,
                    "AlreadyExists",
                    &format!("{PLURAL}.{GROUP} {name:?} already exists"),
                    json!({"name": name, "group": GROUP, "kind": PLURAL}),
                ),
            ));
        }
        self.validate(&mut obj, version, strict, &name)?;
        let rv = self.next_rv();
        self.uid += 1;
        let now = rfc3339(SystemTime::now());
        let meta = obj["metadata"]
            .as_object_mut()
            .expect("metadata is an object");
        meta.insert("namespace".into(), json!(ns));
        meta.insert(
            "uid".into(),
            json!(format!("00000000-0000-4000-8000-{:012x}", self.uid)),
        );
        meta.insert("resourceVersion".into(), json!(rv.to_string()));
        meta.insert("generation".into(), json!(1));
        meta.insert("creationTimestamp".into(), json!(now));
        meta.insert(
            "managedFields".into(),
            json!([managed_entry(manager, "Update", version, None)]),
        );
        let mut stored = versioned(&obj, version);
        let m = stored.as_object_mut().unwrap();
        m.remove("apiVersion");
        m.remove("kind");
        m.remove("status"); // the status subresource: create ignores it
        self.objects
            .insert((ns.into(), name.clone()), stored.clone());
        self.record(EventType::Added, ns, &name, None, stored.clone());
        Ok(versioned(&stored, version))
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn patch(
        &mut self,
        ns: &str,
        name: &str,
        version: &str,
        p: Patcher,
        sub: Sub,
        manager: &str,
        strict: bool,
    ) -> ApiResult {
        let Some(current) = self.objects.get(&(ns.into(), name.into())).cloned() else {
            return Err((404, not_found_body(name)));
        };
        let mut doc = versioned(&current, version);
        match p {
            Patcher::Merge(patch) => {
                if !patch.is_object() {
                    return Err((
                        400,
                        bad_request("error decoding patch: a merge patch must be a JSON object"),
                    ));
                }
                merge_patch(&mut doc, patch);
            }
            Patcher::Json(patch) => json_patch(&mut doc, patch)?,
        }
        self.store_update(ns, name, version, current, doc, sub, manager, strict)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn replace(
        &mut self,
        ns: &str,
        name: &str,
        version: &str,
        doc: Value,
        sub: Sub,
        manager: &str,
        strict: bool,
    ) -> ApiResult {
        let Some(current) = self.objects.get(&(ns.into(), name.into())).cloned() else {
            return Err((404, not_found_body(name)));
        };
        if doc["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or("")
            .is_empty()
        {
            return Err((
                422,
                status_body(422, "Invalid", &format!("{KIND}.{GROUP} {name:?} is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update"),
                    json!({"name": name, "group": GROUP, "kind": KIND})),
            ));
        }
        self.store_update(ns, name, version, current, doc, sub, manager, strict)
    }

    /// The common end of PATCH and PUT: name check, precondition, subresource rules,
    /// validation, no-op detection, generation, resourceVersion, event.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn store_update(
        &mut self,
        ns: &str,
        name: &str,
        version: &str,
        current: Value,
        mut doc: Value,
        sub: Sub,
        manager: &str,
        strict: bool,
    ) -> ApiResult {
        if doc["metadata"]["name"].as_str() != Some(name) {
            return Err((
                400,
                bad_request(&format!(
                    "the name of the object ({}) does not match the name on the URL ({name})",
                    doc["metadata"]["name"].as_str().unwrap_or("")
                )),
            ));
        }
        if doc["metadata"]["namespace"]
            .as_str()
            .is_some_and(|n| n != ns)
        {
            return Err((400, bad_request("the namespace of the provided object does not match the namespace sent on the request")));
        }
        let current_rv = current["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or("")
            .to_string();
        match doc["metadata"]["resourceVersion"].as_str() {
            Some(rv) if !rv.is_empty() && rv != current_rv => {
                return Err((
                    409,
                    status_body(409, "Conflict",
                        &format!("Operation cannot be fulfilled on {PLURAL}.{GROUP} {name:?}: the object has been modified; please apply your changes to the latest version and try again"),
                        json!({"name": name, "group": GROUP, "kind": PLURAL})),
                ))
            }
            _ => {}
        }
        // What each endpoint may change.
        let mut next = current.clone();
        match sub {
            Sub::Main => {
                self.validate(&mut doc, version, strict, name)?;
                let cur_meta = current["metadata"].as_object().cloned().unwrap_or_default();
                let mut meta = doc["metadata"].as_object().cloned().unwrap_or_default();
                for fixed in [
                    "uid",
                    "creationTimestamp",
                    "generation",
                    "resourceVersion",
                    "managedFields",
                    "namespace",
                    "deletionTimestamp",
                ] {
                    match cur_meta.get(fixed) {
                        Some(v) => meta.insert(fixed.into(), v.clone()),
                        None => meta.remove(fixed),
                    };
                }
                next["metadata"] = Value::Object(meta);
                match doc.get("spec") {
                    Some(s) => next["spec"] = s.clone(),
                    None => {
                        next.as_object_mut().unwrap().remove("spec");
                    }
                }
                if version == "v1" {
                    // A write through v1 cannot keep a field v1 does not have.
                    if let Some(s) = next.get_mut("spec").and_then(Value::as_object_mut) {
                        s.remove("pause");
                    }
                }
            }
            Sub::Status => match doc.get("status") {
                Some(s) => next["status"] = s.clone(),
                None => {
                    next.as_object_mut().unwrap().remove("status");
                }
            },
        }
        if next == current {
            return Ok(versioned(&current, version));
        }
        let rv = self.next_rv();
        if sub == Sub::Main && next.get("spec") != current.get("spec") {
            let g = current["metadata"]["generation"].as_i64().unwrap_or(1);
            next["metadata"]["generation"] = json!(g + 1);
        }
        next["metadata"]["resourceVersion"] = json!(rv.to_string());
        let subresource = if sub == Sub::Status {
            Some("status")
        } else {
            None
        };
        let entry = managed_entry(manager, "Update", version, subresource);
        let mut managed: Vec<Value> = next["metadata"]["managedFields"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        managed.retain(|m| {
            !(m["manager"] == entry["manager"] && m["subresource"] == entry["subresource"])
        });
        managed.push(entry);
        next["metadata"]["managedFields"] = Value::Array(managed);
        self.objects.insert((ns.into(), name.into()), next.clone());
        self.record(EventType::Modified, ns, name, Some(current), next.clone());
        Ok(versioned(&next, version))
    }

    pub(super) fn delete(&mut self, ns: &str, name: &str) -> ApiResult {
        let Some(mut obj) = self.objects.remove(&(ns.to_string(), name.to_string())) else {
            return Err((404, not_found_body(name)));
        };
        let old = obj.clone();
        let rv = self.next_rv();
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        self.record(EventType::Deleted, ns, name, Some(old), obj.clone());
        Ok(obj)
    }

    /// The objects as they were at `rv` (undoing later events), or None when compacted.
    pub(super) fn objects_at(
        &self,
        rv: u64,
    ) -> Option<std::borrow::Cow<'_, BTreeMap<(String, String), Value>>> {
        if rv < self.compacted {
            return None;
        }
        if self.events.back().is_none_or(|e| e.rv <= rv) {
            // Nothing happened since: the current objects, without a copy.
            return Some(std::borrow::Cow::Borrowed(&self.objects));
        }
        let mut objs = self.objects.clone();
        for e in self.events.iter().rev().take_while(|e| e.rv > rv) {
            let key = (e.ns.clone(), e.name.clone());
            match (&e.ty, &e.old) {
                (EventType::Added, _) => {
                    objs.remove(&key);
                }
                (_, Some(old)) => {
                    objs.insert(key, old.clone());
                }
                _ => {}
            }
        }
        Some(std::borrow::Cow::Owned(objs))
    }

    pub(super) fn list(
        &self,
        version: &str,
        ns: Option<&str>,
        q: &BTreeMap<String, String>,
    ) -> ApiResult {
        let labels = Selector::parse(q.get("labelSelector").map(String::as_str).unwrap_or(""))
            .map_err(|m| (400, bad_request(&m)))?;
        let fields = FieldSelector::parse(q.get("fieldSelector").map(String::as_str).unwrap_or(""))
            .map_err(|m| (400, bad_request(&m)))?;
        let limit: usize = match q.get("limit") {
            None => 0,
            Some(l) => l
                .parse()
                .map_err(|_| (400, bad_request(&format!("limit: invalid value {l:?}"))))?,
        };
        // A continue token: "<rv>/<namespace>/<name>" of the last item served.
        let (at_rv, after) = match q.get("continue").filter(|c| !c.is_empty()) {
            Some(tok) => {
                let mut parts = tok.splitn(3, '/');
                let rv = parts.next().and_then(|r| r.parse::<u64>().ok());
                let (Some(rv), Some(n), Some(m)) = (rv, parts.next(), parts.next()) else {
                    return Err((
                        400,
                        bad_request("continue key is not valid: illegal base64 data"),
                    ));
                };
                (rv, Some((n.to_string(), m.to_string())))
            }
            None => (self.rv, None),
        };
        let Some(objs) = self.objects_at(at_rv) else {
            return Err((
                410,
                status_body(410, "Expired",
                    "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
                    json!({})),
            ));
        };
        let matching: Vec<(&(String, String), &Value)> = objs
            .iter()
            .filter(|((n, _), o)| {
                ns.is_none_or(|ns| ns == n) && labels.matches(o) && fields.matches(o)
            })
            .filter(|(k, _)| after.as_ref().is_none_or(|a| *k > a))
            .collect();
        let take = if limit == 0 {
            matching.len()
        } else {
            limit.min(matching.len())
        };
        let items: Vec<Value> = matching[..take]
            .iter()
            .map(|(_, o)| versioned(o, version))
            .collect();
        let mut meta = json!({"resourceVersion": at_rv.to_string()});
        if take < matching.len() {
            let (n, m) = matching[take - 1].0;
            meta["continue"] = json!(format!("{at_rv}/{n}/{m}"));
            meta["remainingItemCount"] = json!(matching.len() - take);
        }
        Ok(
            json!({"apiVersion": format!("{GROUP}/{version}"), "kind": format!("{KIND}List"), "metadata": meta, "items": items}),
        )
    }
}

pub(super) fn managed_entry(
    manager: &str,
    operation: &str,
    version: &str,
    subresource: Option<&str>,
) -> Value {
    let mut e = json!({"manager": manager, "operation": operation, "apiVersion": format!("{GROUP}/{version}"),
                       "time": rfc3339(SystemTime::now()), "fieldsType": "FieldsV1"});
    if let Some(s) = subresource {
        e["subresource"] = json!(s);
    }
    e
}

/// RFC 7386.
pub(super) fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = json!({});
            }
            let t = target.as_object_mut().unwrap();
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// RFC 6902. Errors are the API server's: 400 for a malformed patch, 422 for one that does not
/// apply (a failed `test` included).
pub(super) fn json_patch(doc: &mut Value, patch: &Value) -> Result<(), (u16, Value)> {
    let unprocessable = |msg: String| {
        (
            422,
            status_body(
                422,
                "Invalid",
                "the server rejected our request due to an error in our request",
                json!({"causes": [{"reason": "UnexpectedServerResponse", "message": msg}]}),
            ),
        )
    };
    let Some(ops) = patch.as_array() else {
        return Err((
            400,
            bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch"),
        ));
    };
    let mut work = doc.clone();
    for op in ops {
        let kind = op["op"].as_str().unwrap_or("");
        let path = op["path"]
            .as_str()
            .ok_or_else(|| (400, bad_request("JSON patch operation has no path")))?;
        let result = match kind {
            "add" => pointer_add(
                &mut work,
                path,
                op.get("value").cloned().unwrap_or(Value::Null),
            ),
            "remove" => pointer_remove(&mut work, path).map(|_| ()),
            "replace" => {
                if work.pointer(path).is_none() {
                    Err(format!(
                        "replace operation does not apply: doc is missing key: {path}"
                    ))
                } else {
                    *work.pointer_mut(path).unwrap() =
                        op.get("value").cloned().unwrap_or(Value::Null);
                    Ok(())
                }
            }
            "test" => match work.pointer(path) {
                Some(v) if Some(v) == op.get("value") => Ok(()),
                _ => Err(format!("testing value {path} failed")),
            },
            "move" | "copy" => {
                let from = op["from"].as_str().unwrap_or("");
                match work.pointer(from).cloned() {
                    None => Err(format!(
                        "{kind} operation does not apply: doc is missing from path: {from}"
                    )),
                    Some(v) => {
                        if kind == "move" {
                            let _ = pointer_remove(&mut work, from);
                        }
                        pointer_add(&mut work, path, v)
                    }
                }
            }
            other => return Err((400, bad_request(&format!("Unexpected kind: {other}")))),
        };
        result.map_err(unprocessable)?;
    }
    *doc = work;
    Ok(())
}

pub(super) fn split_pointer(path: &str) -> Result<(String, String), String> {
    if path.is_empty() {
        return Err("cannot operate on the document root".into());
    }
    let i = path
        .rfind('/')
        .ok_or_else(|| format!("invalid JSON pointer {path:?}"))?;
    let last = path[i + 1..].replace("~1", "/").replace("~0", "~");
    Ok((path[..i].to_string(), last))
}

pub(super) fn pointer_add(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let (parent, key) = split_pointer(path)?;
    match doc.pointer_mut(&parent) {
        Some(Value::Object(m)) => {
            m.insert(key, value);
            Ok(())
        }
        Some(Value::Array(a)) => {
            if key == "-" {
                a.push(value);
                return Ok(());
            }
            match key.parse::<usize>() {
                Ok(i) if i <= a.len() => {
                    a.insert(i, value);
                    Ok(())
                }
                _ => Err(format!(
                    "add operation does not apply: index out of bounds: {path}"
                )),
            }
        }
        _ => Err(format!(
            "add operation does not apply: doc is missing path: {path}"
        )),
    }
}

pub(super) fn pointer_remove(doc: &mut Value, path: &str) -> Result<Value, String> {
    let (parent, key) = split_pointer(path)?;
    let missing = || format!("remove operation does not apply: doc is missing path: {path}");
    match doc.pointer_mut(&parent) {
        Some(Value::Object(m)) => m.remove(&key).ok_or_else(missing),
        Some(Value::Array(a)) => match key.parse::<usize>() {
            Ok(i) if i < a.len() => Ok(a.remove(i)),
            _ => Err(missing()),
        },
        _ => Err(missing()),
    }
}

/// Equality- and set-based label selectors.
pub(super) struct Selector(Vec<Req>);

pub(super) enum Req {
    Eq(String, String),
    Ne(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

impl Selector {
    pub(super) fn parse(s: &str) -> Result<Self, String> {
        let mut reqs = Vec::new();
        let mut depth = 0;
        let mut cur = String::new();
        let mut parts = Vec::new();
        for c in s.chars() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                ',' if depth == 0 => {
                    parts.push(std::mem::take(&mut cur));
                    continue;
                }
                _ => {}
            }
            cur.push(c);
        }
        if !cur.trim().is_empty() || !parts.is_empty() {
            parts.push(cur);
        }
        for p in parts {
            let p = p.trim();
            let bad = || {
                format!(
                    "unable to parse requirement: found '{p}', expected: key, operator and values"
                )
            };
            let set = |rest: &str| -> Result<Vec<String>, String> {
                let rest = rest.trim();
                let inner = rest
                    .strip_prefix('(')
                    .and_then(|r| r.strip_suffix(')'))
                    .ok_or_else(bad)?;
                Ok(inner.split(',').map(|v| v.trim().to_string()).collect())
            };
            let req = if let Some(k) = p.strip_prefix('!') {
                Req::NotExists(k.trim().into())
            } else if let Some((k, v)) = p.split_once("!=") {
                Req::Ne(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = p.split_once("==") {
                Req::Eq(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = p.split_once('=') {
                Req::Eq(k.trim().into(), v.trim().into())
            } else if let Some((k, rest)) = p.split_once(" notin ") {
                Req::NotIn(k.trim().into(), set(rest)?)
            } else if let Some((k, rest)) = p.split_once(" in ") {
                Req::In(k.trim().into(), set(rest)?)
            } else if !p.is_empty() && !p.contains(' ') {
                Req::Exists(p.into())
            } else {
                return Err(bad());
            };
            reqs.push(req);
        }
        Ok(Selector(reqs))
    }

    pub(super) fn matches(&self, obj: &Value) -> bool {
        let labels = &obj["metadata"]["labels"];
        let get = |k: &str| labels.get(k).and_then(Value::as_str);
        self.0.iter().all(|r| match r {
            Req::Eq(k, v) => get(k) == Some(v.as_str()),
            Req::Ne(k, v) => get(k) != Some(v.as_str()),
            Req::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Req::NotIn(k, vs) => get(k).is_none_or(|x| !vs.iter().any(|v| v == x)),
            Req::Exists(k) => get(k).is_some(),
            Req::NotExists(k) => get(k).is_none(),
        })
    }
}

/// `metadata.name` / `metadata.namespace` field selectors (all a custom resource supports).
pub(super) struct FieldSelector(Vec<(String, bool, String)>);

impl FieldSelector {
    pub(super) fn parse(s: &str) -> Result<Self, String> {
        let mut out = Vec::new();
        for p in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, eq, v) = if let Some((k, v)) = p.split_once("!=") {
                (k, false, v)
            } else if let Some((k, v)) = p.split_once("==") {
                (k, true, v)
            } else if let Some((k, v)) = p.split_once('=') {
                (k, true, v)
            } else {
                return Err(format!("invalid selector: '{p}'; can't understand '{p}'"));
            };
            if k != "metadata.name" && k != "metadata.namespace" {
                return Err(format!("field label not supported: {k}"));
            }
            out.push((k.to_string(), eq, v.to_string()));
        }
        Ok(FieldSelector(out))
    }

    pub(super) fn matches(&self, obj: &Value) -> bool {
        self.0.iter().all(|(k, eq, v)| {
            let field = if k == "metadata.name" {
                "name"
            } else {
                "namespace"
            };
            (obj["metadata"][field].as_str() == Some(v.as_str())) == *eq
        })
    }
}
