"""The cdc-sentinel monitoring mixin: knobs + the agent's table of metrics -> rules, promtool
tests, dashboards, runbook table, deploy examples. Entry point: monitoring/generate.py."""
