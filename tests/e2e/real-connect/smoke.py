#!/usr/bin/env python3
"""Smoke run of the real environment alone (no agent): proves the worker, the connectors and the
outage behaviour the agent's scenarios rely on, and prints the timings.

  python3 tests/e2e/real-connect/smoke.py [--keep]

Brings everything up, checks both connectors RUNNING and a row reaching the topics, stops
PostgreSQL (-m immediate), sees pg-failfast's task go FAILED while pg-hidden stays RUNNING,
starts PostgreSQL, restarts pg-failfast's failed task (includeTasks=true&onlyFailed=true), checks
RUNNING and that rows written before, around and after the outage all arrive, and tears down.
Every wait is bounded; on failure the worker log tail is printed. Exit 0 only if all held.
"""

import argparse
import sys
import time

import env as e2e

FAILFAST, HIDDEN = "pg-failfast", "pg-hidden"


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keep", action="store_true", help="leave the workdir (logs) behind")
    a = ap.parse_args()
    e2e.exit_on_signals()

    timings = {}
    try:
        env = e2e.Env(keep=a.keep)
    except e2e.EnvError as ex:
        print(f"smoke.py: FAILED: {ex}", file=sys.stderr)
        return 1
    ok = False
    try:
        env.up()
        timings.update(env.timings)
        for name in (FAILFAST, HIDDEN):
            check(env.states(name) == ("RUNNING", ["RUNNING"]), f"{name} not RUNNING: {env.states(name)}")

        env.insert_rows(["smoke-before"])
        for name in (FAILFAST, HIDDEN):
            timings[f"first_row_on_topic_s[{name}]"] = round(env.wait_notes(name, ["smoke-before"], 60), 1)

        # --- outage ---
        env.insert_rows(["smoke-just-before-stop"])
        t_stop = time.monotonic()
        env.stop_pg("immediate")
        e2e.log("PostgreSQL stopped (-m immediate)")
        e2e.wait_until(lambda: env.states(FAILFAST)[1] == ["FAILED"], 30, f"{FAILFAST}'s task to go FAILED")
        timings["failfast_stop_to_FAILED_s"] = round(time.monotonic() - t_stop, 2)
        check(env.states(FAILFAST)[0] == "RUNNING", f"{FAILFAST}'s connector should stay RUNNING: {env.states(FAILFAST)}")
        trace = env.status(FAILFAST)["tasks"][0].get("trace", "")
        check("This connector will be stopped" in trace, f"unexpected FAILED trace: {trace[:300]}")

        # pg-hidden keeps RUNNING through at least one of Debezium's 10 s internal restarts
        seen = set()
        t_watch = time.monotonic()
        while time.monotonic() - t_watch < 12:
            c, tasks = env.states(HIDDEN)
            seen.add((c, tuple(tasks)))
            time.sleep(0.25)
        check(seen == {("RUNNING", ("RUNNING",))}, f"{HIDDEN} should read RUNNING all through the outage, saw {seen}")
        check(env.states(FAILFAST)[1] == ["FAILED"], f"{FAILFAST}'s task should stay FAILED: {env.states(FAILFAST)}")

        # --- recovery ---
        t_start = time.monotonic()
        env.start_pg()
        timings["pg_start_s"] = round(time.monotonic() - t_start, 2)
        env.insert_rows(["smoke-just-after-start"])
        t_restart = time.monotonic()
        code, plan = env.rest("POST", f"/connectors/{FAILFAST}/restart?includeTasks=true&onlyFailed=true")
        check(code == 202, f"restart?includeTasks=true&onlyFailed=true -> {code} {plan}")
        check([t["state"] for t in plan["tasks"]] == ["RESTARTING"], f"restart plan should list the task RESTARTING: {plan}")
        check(plan["connector"]["state"] == "RUNNING", f"restart plan should leave the connector alone: {plan}")
        timings["failfast_restart_to_RUNNING_s"] = round(env.wait_running(FAILFAST, 30), 2)
        env.insert_rows(["smoke-after"])
        want = ["smoke-before", "smoke-just-before-stop", "smoke-just-after-start", "smoke-after"]
        for name in (FAILFAST, HIDDEN):
            timings[f"all_rows_after_restart_s[{name}]"] = round(env.wait_notes(name, want, 60), 1)
            notes = env.topic_notes(name)
            dups = {n: notes.count(n) for n in want if notes.count(n) > 1}
            if dups:
                e2e.log(f"{name}: duplicates (at-least-once): {dups}")
            check(env.states(name) == ("RUNNING", ["RUNNING"]), f"{name} not RUNNING at the end: {env.states(name)}")
        ok = True
    except (AssertionError, e2e.EnvError, TimeoutError) as ex:
        print(f"\nSMOKE FAILED: {ex}\n--- worker log tail ({env.worker_log}) ---\n{env.worker_log_tail(60)}",
              file=sys.stderr)
    finally:
        t_down = time.monotonic()
        env.down()
        timings["teardown_s"] = round(time.monotonic() - t_down, 1)

    print("\nsmoke timings:")
    for k, v in timings.items():
        print(f"  {k:45} {v}")
    print("smoke: " + ("1 passed, 0 failed" if ok else "0 passed, 1 failed"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
