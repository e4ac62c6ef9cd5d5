#!/usr/bin/env python3
"""Checks the deployment examples under deploy/ for the mistakes that would bite a user:
flags the agent does not accept, probes on the wrong paths, a state file on a throw-away
volume, a root or writable container, a password in plain env, ports open beyond 127.0.0.1,
config files mounted from paths that do not exist, a PodMonitor that selects nothing, and for
deploy/kubernetes/strimzi/ a Role wider or narrower than what the agent uses (get, list, patch
on kafkaconnectors), a binding to another service account, no token mounted, a NetworkPolicy
that does not admit the agent to the Connect pods' 8083, flags that disagree.

    check_deploy.py REPO [--agent PATH_TO_CDC_SENTINEL_BINARY]

With --agent, every agent command line found in the examples (compose `command`, Kubernetes
`args`, systemd `ExecStart`) is run through `cdc-sentinel check-config`, so a flag that does
not exist or a bad value fails here rather than at 02:00.

Paths owned by other parts of the project (alerts/, dashboards/, deploy/prometheus, ...) must
exist unless CDC_CT_ALLOW_MISSING_MOUNTS=1 (for a branch that does not have them yet).
"""

import argparse
import configparser
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

problems = []
notes = []


def problem(where, msg):
    problems.append(f"{where}: {msg}")


def check_config(agent, where, args, env=None):
    """Runs `cdc-sentinel check-config ARGS` (the `run` subcommand word removed)."""
    if not agent:
        return
    args = [a for a in args if a != "run"]
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CDC_SENTINEL_")}
    full_env.update(env or {})
    # check-config opens the state file and proves its directory writable, as `run` does; the
    # example's state directory (/var/lib/cdc-sentinel, a volume) is not on this host, so the
    # state file is moved to a scratch directory and only the other flags are checked.
    scratch = tempfile.mkdtemp(prefix="cdc-sentinel-check-")
    state = os.path.join(scratch, "state.json")
    if "CDC_SENTINEL_STATE_FILE" in full_env:
        full_env["CDC_SENTINEL_STATE_FILE"] = state
    args = [state if i > 0 and args[i - 1] == "--state-file" else
            (f"--state-file={state}" if a.startswith("--state-file=") else a)
            for i, a in enumerate(args)]
    r = subprocess.run([agent, "check-config", *args], capture_output=True, text=True, env=full_env, timeout=30)
    shutil.rmtree(scratch, ignore_errors=True)
    if r.returncode != 0:
        problem(where, f"`cdc-sentinel check-config {' '.join(args)}` exited {r.returncode}: {r.stderr.strip()[:300]}")
    else:
        notes.append(f"{where}: check-config accepts {' '.join(args)}")


# ------------------------------------------------------------------------------------------
# docker compose
# ------------------------------------------------------------------------------------------
def check_compose(repo, agent, allow_missing):
    path = os.path.join(repo, "deploy", "docker-compose.yml")
    where = "deploy/docker-compose.yml"
    with open(path) as f:
        doc = yaml.safe_load(f)
    services = doc.get("services") or {}
    for name in ("kafka", "connect", "cdc-sentinel", "prometheus", "alertmanager", "grafana"):
        if name not in services:
            problem(where, f"service {name!r} missing")
    declared_volumes = set((doc.get("volumes") or {}).keys())
    base = os.path.dirname(path)
    for name, svc in services.items():
        image = svc.get("image", "")
        if image and (":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")):
            problem(where, f"{name}: image {image!r} has no pinned tag")
        for p in svc.get("ports") or []:
            if not str(p).startswith("127.0.0.1:"):
                problem(where, f"{name}: port {p!r} is published beyond 127.0.0.1")
        for v in svc.get("volumes") or []:
            src, _, rest = str(v).partition(":")
            if src.startswith((".", "/")):
                full = os.path.normpath(os.path.join(base, src))
                if not os.path.exists(full):
                    rel = os.path.relpath(full, repo)
                    msg = f"{name}: bind mount source {rel} does not exist"
                    if allow_missing:
                        notes.append(msg + " (allowed: CDC_CT_ALLOW_MISSING_MOUNTS=1)")
                    else:
                        problem(where, msg)
            elif src not in declared_volumes:
                problem(where, f"{name}: named volume {src!r} is not declared under volumes:")
    agent_svc = services.get("cdc-sentinel") or {}
    build = agent_svc.get("build") or {}
    ctx = os.path.normpath(os.path.join(base, build.get("context", ".")))
    if not os.path.isfile(os.path.join(ctx, build.get("dockerfile", "Dockerfile"))):
        problem(where, "cdc-sentinel: build context has no Dockerfile")
    mounts = [str(v) for v in agent_svc.get("volumes") or []]
    if not any(m.split(":")[1:2] == ["/var/lib/cdc-sentinel"] and not m.startswith((".", "/")) for m in mounts):
        problem(where, "cdc-sentinel: /var/lib/cdc-sentinel (state) is not on a named volume")
    if not agent_svc.get("read_only"):
        problem(where, "cdc-sentinel: root filesystem is not read_only")
    cmd = agent_svc.get("command") or []
    if not any(str(a).startswith("--connect-url=http://connect:8083") for a in cmd):
        problem(where, "cdc-sentinel: not pointed at the connect service (--connect-url=http://connect:8083)")
    env = {k: str(v) for k, v in (agent_svc.get("environment") or {}).items()}
    if any("PASSWORD" in k and not k.endswith("_FILE") for k in env):
        problem(where, "cdc-sentinel: a password in plain environment; use a secret file")
    check_config(agent, where, [str(a) for a in cmd], env)

    # Inline configs: every one a service uses is defined.
    configs = doc.get("configs") or {}
    for name, svc in services.items():
        for c in svc.get("configs") or []:
            src = c["source"] if isinstance(c, dict) else c
            if src not in configs:
                problem(where, f"{name}: config {src!r} is not defined under configs:")

    def mount_target(svc, src_rel):
        for v in (services.get(svc) or {}).get("volumes") or []:
            parts = str(v).split(":")
            if os.path.normpath(os.path.join(base, parts[0])) == os.path.normpath(os.path.join(repo, src_rel)):
                return parts[1]
        return None

    # Prometheus (config written for the compose network): scrapes the agent under the job name
    # the rules select, loads the rules where compose mounts alerts/, alerts Alertmanager.
    pc = yaml.safe_load((configs.get("prometheus") or {}).get("content") or "") or {}
    scrapes = pc.get("scrape_configs") or []
    job = next((sc.get("job_name") for sc in scrapes for st in sc.get("static_configs") or [] if "cdc-sentinel:10150" in (st.get("targets") or [])), None)
    if not job:
        problem(where, "the prometheus config does not scrape cdc-sentinel:10150")
    rules_dir = mount_target("prometheus", "alerts")
    rule_globs = pc.get("rule_files") or []
    if not rules_dir or not any(str(r).startswith(rules_dir.rstrip("/") + "/") for r in rule_globs):
        problem(where, f"prometheus rule_files {rule_globs} are not where alerts/ is mounted ({rules_dir})")
    ams = [t for a in (pc.get("alerting") or {}).get("alertmanagers") or [] for st in a.get("static_configs") or [] for t in st.get("targets") or []]
    if "alertmanager:9093" not in ams:
        problem(where, f"prometheus does not send alerts to alertmanager:9093 ({ams})")
    rules = sorted(glob.glob(os.path.join(repo, "alerts", "*.rules.yml")))
    if not rules and not allow_missing:
        problem(where, "no alerts/*.rules.yml to mount into Prometheus")
    for r in rules:
        text = re.sub(r"(?m)^\s*#.*$", "", open(r).read())  # not the comments' examples
        jobs = set(re.findall(r'job="([^"]+)"', text))
        if job and jobs and jobs != {job}:
            problem(where, f"{os.path.relpath(r, repo)} selects job {sorted(jobs)}, the scrape job is {job!r}")
    promtool = shutil.which("promtool")
    if promtool and rules:
        # promtool resolves rule_files: point them at the repository's copies for the check.
        with tempfile.TemporaryDirectory() as tmp:
            pc2 = dict(pc, rule_files=[os.path.join(repo, "alerts", "*.rules.yml")])
            fn = os.path.join(tmp, "prometheus.yml")
            with open(fn, "w") as f:
                yaml.safe_dump(pc2, f)
            r = subprocess.run([promtool, "check", "config", fn], capture_output=True, text=True)
            if r.returncode != 0:
                problem(where, f"promtool check config (compose's prometheus config): {(r.stdout + r.stderr).strip()[-400:]}")
            else:
                notes.append(f"{where}: promtool check config passes for the compose prometheus config with {len(rules)} rule file(s)")

    # Grafana: the datasource points at the prometheus service, the provisioned dashboard
    # provider reads where compose mounts dashboards/.
    gd = yaml.safe_load((configs.get("grafana-datasource") or {}).get("content") or "") or {}
    urls = [d.get("url") for d in gd.get("datasources") or []]
    if "http://prometheus:9090" not in urls:
        problem(where, f"grafana datasource url is {urls}, want http://prometheus:9090")
    dash_target = mount_target("grafana", "dashboards")
    prov = os.path.join(base, "grafana", "provisioning", "dashboards")
    if os.path.isdir(prov):
        paths = []
        for fn in glob.glob(os.path.join(prov, "*.y*ml")):
            with open(fn) as f:
                d = yaml.safe_load(f) or {}
            paths += [(p.get("options") or {}).get("path") for p in d.get("providers") or []]
        if dash_target not in paths:
            problem(where, f"grafana mounts dashboards/ at {dash_target}, the provisioned providers read {paths}")
    if not glob.glob(os.path.join(repo, "dashboards", "*.json")) and not allow_missing:
        problem(where, "no dashboards/*.json to mount into Grafana")


# ------------------------------------------------------------------------------------------
# Kubernetes
# ------------------------------------------------------------------------------------------
def pod_specs(doc):
    kind = doc.get("kind")
    if kind in ("Deployment", "StatefulSet", "DaemonSet"):
        yield doc["spec"]["template"], doc
    elif kind == "Pod":
        yield {"metadata": doc.get("metadata"), "spec": doc.get("spec")}, doc


def check_kubernetes(repo, agent, subdir="", strimzi=False):
    """One set of manifests: deploy/kubernetes/*.yaml, or deploy/kubernetes/strimzi/*.yaml
    (strimzi=True: no Connect password needed, the Kubernetes API access checked as well)."""
    where_dir = "/".join(p for p in ("deploy/kubernetes", subdir) if p)
    docs = []
    for fn in sorted(glob.glob(os.path.join(repo, "deploy", "kubernetes", subdir, "*.yaml"))):
        with open(fn) as f:
            for d in yaml.safe_load_all(f):
                if d:
                    docs.append((os.path.relpath(fn, repo), d))
    if not docs:
        problem(where_dir, "no manifests")
        return
    secrets = {(d["metadata"]["name"], k) for _, d in docs if d.get("kind") == "Secret" for k in (d.get("stringData") or d.get("data") or {})}
    agent_pods = []
    for fn, d in docs:
        for tmpl, owner in pod_specs(d):
            spec = tmpl["spec"]
            labels = (tmpl.get("metadata") or {}).get("labels") or {}
            psc = spec.get("securityContext") or {}
            for c in spec.get("containers") or []:
                if "cdc-sentinel" not in c.get("image", ""):
                    continue
                where = f"{fn} {owner['kind']}/{owner['metadata']['name']} container {c['name']}"
                agent_pods.append((labels, c, owner))
                args = [str(a) for a in c.get("args") or []]
                if owner["kind"] == "StatefulSet" and "--connect-url=http://localhost:8083" not in args:
                    problem(where, "a sidecar should use --connect-url=http://localhost:8083")
                ports = {p.get("name"): p.get("containerPort") for p in c.get("ports") or []}
                if ports.get("metrics") != 10150:
                    problem(where, "no container port named metrics = 10150")
                for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
                    got = ((c.get(probe) or {}).get("httpGet") or {}).get("path")
                    if got != path:
                        problem(where, f"{probe} path is {got!r}, want {path}")
                res = c.get("resources") or {}
                for k in ("requests", "limits"):
                    if "memory" not in (res.get(k) or {}):
                        problem(where, f"no memory {k}")
                sc = {**psc, **(c.get("securityContext") or {})}
                for k, want in (("runAsNonRoot", True), ("runAsUser", 65532), ("readOnlyRootFilesystem", True), ("allowPrivilegeEscalation", False)):
                    if sc.get(k) != want:
                        problem(where, f"securityContext.{k} is {sc.get(k)!r}, want {want!r}")
                if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
                    problem(where, "capabilities not dropped")
                env = {}
                for e in c.get("env") or []:
                    ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                    if ref:
                        if (ref["name"], ref["key"]) not in secrets:
                            problem(where, f"env {e['name']} refers to secret {ref['name']}/{ref['key']}, which no manifest defines")
                        env[e["name"]] = "from-secret"
                    else:
                        if "PASSWORD" in e["name"] and "value" in e:
                            problem(where, f"{e['name']} given in plain text; use a secretKeyRef")
                        env[e["name"]] = str(e.get("value", ""))
                # Strimzi's Connect REST API has no authentication of its own: a password is
                # optional there, but never in plain text.
                if strimzi and "CDC_SENTINEL_CONNECT_PASSWORD" not in env:
                    pass
                elif "CDC_SENTINEL_CONNECT_PASSWORD" not in env or env["CDC_SENTINEL_CONNECT_PASSWORD"] != "from-secret":
                    problem(where, "CDC_SENTINEL_CONNECT_PASSWORD does not come from a Secret")
                # The state must outlive the pod: a PVC (claim or claim template), not emptyDir.
                mount = next((m for m in c.get("volumeMounts") or [] if m.get("mountPath") == "/var/lib/cdc-sentinel"), None)
                if not mount:
                    problem(where, "no volume at /var/lib/cdc-sentinel")
                else:
                    vols = {v["name"]: v for v in spec.get("volumes") or []}
                    claims = {t["metadata"]["name"] for t in (owner.get("spec") or {}).get("volumeClaimTemplates") or []}
                    v = vols.get(mount["name"])
                    if not (mount["name"] in claims or (v and "persistentVolumeClaim" in v)):
                        problem(where, "the state volume is not persistent (use a PersistentVolumeClaim)")
                if owner["kind"] == "Deployment":
                    if owner["spec"].get("replicas") != 1:
                        problem(where, "a standalone agent must have replicas: 1")
                    if (owner["spec"].get("strategy") or {}).get("type") != "Recreate":
                        problem(where, "a standalone agent needs strategy Recreate (old pod writes state before new reads it)")
                check_config(agent, where, args, {k: ("x" if v == "from-secret" else v) for k, v in env.items()})
    if not agent_pods:
        problem(where_dir, "no cdc-sentinel container in any workload")
    for fn, d in docs:
        if d.get("kind") != "PodMonitor":
            continue
        sel = d["spec"].get("selector") or {}
        eps = d["spec"].get("podMetricsEndpoints") or []

        def matches(labels):
            for k, v in (sel.get("matchLabels") or {}).items():
                if labels.get(k) != v:
                    return False
            for e in sel.get("matchExpressions") or []:
                if e["operator"] == "In" and labels.get(e["key"]) not in e["values"]:
                    return False
            return True

        hit = [(l, c, o) for l, c, o in agent_pods if matches(l)]
        if len(hit) != len(agent_pods):
            problem(fn, "the PodMonitor does not select every agent pod")
        for ep in eps:
            if ep.get("port") != "metrics" or ep.get("path", "/metrics") != "/metrics":
                problem(fn, f"endpoint {ep} is not port metrics, path /metrics")
        if strimzi:
            pm_ns = d["metadata"].get("namespace")
            names = ((d["spec"].get("namespaceSelector") or {}).get("matchNames")) or [pm_ns]
            for _, _, o in agent_pods:
                if o["metadata"].get("namespace") not in names:
                    problem(fn, f"the PodMonitor (namespace {pm_ns}) does not look in the agent's namespace {o['metadata'].get('namespace')}")
    if strimzi:
        check_strimzi(repo, where_dir, docs, agent_pods)


def arg_value(args, flag):
    """--flag=value or --flag value."""
    for i, a in enumerate(args):
        if a.startswith(flag + "="):
            return a.split("=", 1)[1]
        if a == flag and i + 1 < len(args):
            return args[i + 1]
    return None


def check_strimzi(repo, where_dir, docs, agent_pods):
    """The Strimzi layout: the agent's service account may get, list and patch
    kafkaconnectors in the KafkaConnect's namespace and nothing else; the NetworkPolicy admits
    exactly the agent to the Connect pods' REST port; the flags agree with each other."""
    by_kind = {}
    for fn, d in docs:
        by_kind.setdefault(d.get("kind"), []).append((fn, d))
    for kind in ("ClusterRole", "ClusterRoleBinding"):
        for fn, d in by_kind.get(kind, []):
            problem(fn, f"{kind}/{d['metadata']['name']}: the agent needs nothing cluster-wide")
    deployments = [(l, c, o) for l, c, o in agent_pods if o["kind"] == "Deployment"]
    if len(deployments) != 1:
        problem(where_dir, f"want exactly one agent Deployment, found {len(deployments)}")
        return
    labels, c, dep = deployments[0]
    where = f"{where_dir} Deployment/{dep['metadata']['name']}"
    agent_ns = dep["metadata"].get("namespace")
    pod = dep["spec"]["template"]["spec"]
    args = [str(a) for a in c.get("args") or []]
    cluster = arg_value(args, "--strimzi-cluster")
    target_ns = arg_value(args, "--strimzi-namespace") or agent_ns
    if not cluster:
        problem(where, "no --strimzi-cluster: the agent would pause through REST and the operator would undo it")
        return
    url = arg_value(args, "--connect-url") or ""
    m = re.match(r"^http://([^/:]+):8083/?$", url)
    host = m.group(1) if m else ""
    allowed = {f"{cluster}-connect-api.{target_ns}", f"{cluster}-connect-api.{target_ns}.svc",
               f"{cluster}-connect-api.{target_ns}.svc.cluster.local"}
    if target_ns == agent_ns:
        allowed.add(f"{cluster}-connect-api")
    if host not in allowed:
        problem(where, f"--connect-url={url!r} is not Strimzi's REST service of {cluster} (http://{cluster}-connect-api:8083)")
    if pod.get("automountServiceAccountToken") is False:
        problem(where, "automountServiceAccountToken: false, but the agent needs its token for the Kubernetes API")
    sa = pod.get("serviceAccountName")
    if not sa or sa == "default":
        problem(where, "no serviceAccountName: the Role must be bound to the agent's own service account")
    if not any(d["metadata"]["name"] == sa and d["metadata"].get("namespace") == agent_ns for _, d in by_kind.get("ServiceAccount", [])):
        problem(where, f"ServiceAccount {agent_ns}/{sa} is not defined")
    # The Role: exactly what the code uses (strimzi/src/client.rs: list, get, patch).
    roles = {d["metadata"]["name"]: (fn, d) for fn, d in by_kind.get("Role", []) if d["metadata"].get("namespace") == target_ns}
    bound = []
    for fn, rb in by_kind.get("RoleBinding", []):
        if rb["metadata"].get("namespace") != target_ns:
            continue
        subj = [s for s in rb.get("subjects") or [] if s.get("kind") == "ServiceAccount" and s.get("name") == sa and s.get("namespace") == agent_ns]
        ref = rb.get("roleRef") or {}
        if subj and ref.get("kind") == "Role" and ref.get("name") in roles:
            bound.append(roles[ref["name"]])
    if not bound:
        problem(where_dir, f"no RoleBinding in namespace {target_ns} binds a Role to ServiceAccount {agent_ns}/{sa}")
    for fn, role in bound:
        rules = role.get("rules") or []
        want = [{"apiGroups": ["kafka.strimzi.io"], "resources": ["kafkaconnectors"], "verbs": ["get", "list", "patch"]}]
        got = [{"apiGroups": sorted(r.get("apiGroups") or []), "resources": sorted(r.get("resources") or []), "verbs": sorted(r.get("verbs") or [])} for r in rules]
        if got != want:
            problem(fn, f"Role/{role['metadata']['name']} grants {got}; the agent needs exactly {want}")
    # The NetworkPolicy: the Connect pods' 8083, from the agent's pods.
    ok = False
    for fn, np in by_kind.get("NetworkPolicy", []):
        spec = np.get("spec") or {}
        sel = (spec.get("podSelector") or {}).get("matchLabels") or {}
        if np["metadata"].get("namespace") != target_ns or sel.get("strimzi.io/cluster") != cluster or sel.get("strimzi.io/kind") != "KafkaConnect":
            continue
        for rule in spec.get("ingress") or []:
            if not any(str(p.get("port")) == "8083" for p in rule.get("ports") or []):
                continue
            for peer in rule.get("from") or []:
                pl = (peer.get("podSelector") or {}).get("matchLabels") or {}
                nl = (peer.get("namespaceSelector") or {}).get("matchLabels")
                pods_match = pl and all(labels.get(k) == v for k, v in pl.items())
                ns_match = (nl is None and agent_ns == target_ns) or (nl or {}).get("kubernetes.io/metadata.name") == agent_ns
                if pods_match and ns_match:
                    ok = True
    if not ok:
        problem(where_dir, f"no NetworkPolicy in {target_ns} admits the agent's pods to port 8083 of the {cluster} Connect pods")
    # The fix the agent prints on a 403 points at this file.
    err = os.path.join(repo, "strimzi", "src", "error.rs")
    if os.path.exists(err) and "deploy/kubernetes/strimzi/rbac.yaml" in open(err).read() and not os.path.exists(os.path.join(repo, "deploy", "kubernetes", "strimzi", "rbac.yaml")):
        problem(where_dir, "strimzi/src/error.rs tells users to apply deploy/kubernetes/strimzi/rbac.yaml, which does not exist")
    notes.append(f"{where_dir}: agent in {agent_ns} holds {target_ns}/KafkaConnect {cluster} via ServiceAccount {sa} (get, list, patch kafkaconnectors)")


# ------------------------------------------------------------------------------------------
# systemd
# ------------------------------------------------------------------------------------------
def check_systemd(repo, agent):
    fn = os.path.join(repo, "deploy", "systemd", "cdc-sentinel.service")
    where = "deploy/systemd/cdc-sentinel.service"
    cp = configparser.ConfigParser(strict=False, interpolation=None)
    cp.optionxform = str
    with open(fn) as f:
        cp.read_string(f.read())
    s = cp["Service"]
    want = {
        "DynamicUser": "yes",
        "StateDirectory": "cdc-sentinel",
        "ProtectSystem": "strict",
        "NoNewPrivileges": "yes",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "CapabilityBoundingSet": "",
        "KillSignal": "SIGTERM",
    }
    for k, v in want.items():
        if s.get(k) != v:
            problem(where, f"{k}={s.get(k)!r}, want {v!r}")
    envs = dict(re.findall(r"^Environment=(\w+)=(.*)$", open(fn).read(), re.M))
    if not envs.get("CDC_SENTINEL_STATE_FILE", "").startswith("/var/lib/cdc-sentinel/"):
        problem(where, "the state file is not in the StateDirectory (/var/lib/cdc-sentinel/)")
    exec_start = s.get("ExecStart", "").split()
    if not exec_start or not exec_start[0].endswith("/cdc-sentinel"):
        problem(where, f"ExecStart does not run cdc-sentinel: {exec_start}")
    check_config(agent, where, exec_start[1:], {k: v for k, v in envs.items() if "%" not in v})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("repo")
    ap.add_argument("--agent")
    a = ap.parse_args()
    allow = os.environ.get("CDC_CT_ALLOW_MISSING_MOUNTS") == "1"
    check_compose(a.repo, a.agent, allow)
    check_kubernetes(a.repo, a.agent)
    check_kubernetes(a.repo, a.agent, "strimzi", strimzi=True)
    check_systemd(a.repo, a.agent)
    for n in notes:
        print("  deploy:", n)
    for p in problems:
        print("  deploy: PROBLEM:", p, file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
