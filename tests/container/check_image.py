#!/usr/bin/env python3
"""Checks a built image's configuration (JSON of `podman image inspect` on stdin) against what
deployments rely on: numeric non-root user, exec-form entrypoint and healthcheck through the
binary, the metrics port, the state volume and its env, and the OCI labels. Exit 1 on a
mismatch, naming it."""

import json
import sys

img = json.load(sys.stdin)[0]
cfg = img.get("Config") or {}
problems = []


def expect(what, got, want):
    if got != want:
        problems.append(f"{what}: got {got!r}, want {want!r}")


expect("User", cfg.get("User"), "65532:65532")
expect("Entrypoint", cfg.get("Entrypoint"), ["/cdc-sentinel"])
expect("Cmd", cfg.get("Cmd"), ["run"])
expect("ExposedPorts", sorted((cfg.get("ExposedPorts") or {}).keys()), ["10150/tcp"])
expect("Volumes", sorted((cfg.get("Volumes") or {}).keys()), ["/var/lib/cdc-sentinel"])
hc = img.get("Healthcheck") or cfg.get("Healthcheck") or {}
expect("Healthcheck.Test", hc.get("Test"), ["CMD", "/cdc-sentinel", "healthcheck"])
env = dict(e.split("=", 1) for e in cfg.get("Env") or [])
expect("env CDC_SENTINEL_STATE_FILE", env.get("CDC_SENTINEL_STATE_FILE"), "/var/lib/cdc-sentinel/state.json")
expect("env CDC_SENTINEL_WEB_LISTEN_ADDRESS", env.get("CDC_SENTINEL_WEB_LISTEN_ADDRESS"), ":10150")
labels = cfg.get("Labels") or img.get("Labels") or {}
expect("label licenses", labels.get("org.opencontainers.image.licenses"), "Apache-2.0")
for key in ("source", "version", "revision"):
    if not labels.get(f"org.opencontainers.image.{key}"):
        problems.append(f"label org.opencontainers.image.{key} missing")
# The final stage is the binary and its state directory, nothing else: one layer from scratch.
layers = (img.get("RootFS") or {}).get("Layers") or []
if len(layers) != 1:
    problems.append(f"expected 1 layer (FROM scratch + one COPY), got {len(layers)}")

for p in problems:
    print("image:", p, file=sys.stderr)
sys.exit(1 if problems else 0)
