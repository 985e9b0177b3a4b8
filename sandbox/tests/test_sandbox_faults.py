"""Chaos in a sandbox: url-anvil's faults reach the sandbox's replicas; pod_kill and partition are real.

The two reference bundles under the same short plan: the bare one goes
down when its only replica is killed, the resilient one does not — and
serves at least twice as much while and after the faults.
"""

from __future__ import annotations

import pytest

from common.testing import tiny_profile
from loadtest.models import ChaosEvent, RunStatus
from loadtest.selectors import run_probe_summary, run_window_stats
from sandbox.tests.bundles import example
from sandbox.tests.runs import bundle_run

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

PROFILE = tiny_profile(duration_s=8, users=3)


def _applied(run) -> list[ChaosEvent]:
    events = list(ChaosEvent.objects.filter(run=run).order_by("index"))
    assert all(e.applied_at is not None and e.cleared_at is not None and not e.error for e in events), \
        [(e.kind, e.error) for e in events]
    return events


def test_pod_kill_restarts_the_bare_replica_and_shows_as_down_seconds(sandbox_ready):
    plan = [{"at_s": 2, "duration_s": 1, "kind": "pod_kill"}]

    run = bundle_run(bundle=example("bare-anvil.yaml"), profile=PROFILE, chaos_plan=plan)

    assert run.status == RunStatus.COMPLETED, run.error
    _applied(run)
    sandbox = run.generator["sandbox"]
    assert sandbox["restarts"] >= 1 and sandbox["pod_kills"] == 1
    assert run_probe_summary(run=run, start_s=2)["down_seconds"], "the bare bundle should go down"
    # The replica came back: a new instance answered after the kill.
    assert len(run_probe_summary(run=run)["instances"]) >= 2


def test_pod_kill_of_a_resilient_replica_counts_as_a_restart_but_not_as_downtime(sandbox_ready):
    plan = [{"at_s": 2, "duration_s": 1, "kind": "pod_kill"}]

    run = bundle_run(bundle=example("resilient-anvil.yaml"), profile=PROFILE, chaos_plan=plan)

    assert run.status == RunStatus.COMPLETED, run.error
    _applied(run)
    sandbox = run.generator["sandbox"]
    assert sandbox["restarts"] == 1 and sandbox["pod_kills"] == 1
    killed = [c for c in sandbox["containers"] if c["restarts"]]
    assert len(killed) == 1 and killed[0]["image"] == "url-anvil"
    assert run_probe_summary(run=run)["down_seconds"] == []


def test_a_partition_cuts_one_replica_off_for_its_duration_and_the_bare_bundle_is_down_meanwhile(
        sandbox_ready):
    plan = [{"at_s": 2, "duration_s": 3, "kind": "partition"}]

    run = bundle_run(bundle=example("bare-anvil.yaml"), profile=PROFILE, chaos_plan=plan)

    assert run.status == RunStatus.COMPLETED, run.error
    event = _applied(run)[0]
    down = run_probe_summary(run=run)["down_seconds"]
    assert down and min(down) >= 2 and max(down) <= 6, down
    # Reconnected, it serves again (with no restart: the same process).
    assert run_window_stats(run=run, start_s=int(event.cleared_second) + 1)["successes"] > 0
    assert run.generator["sandbox"]["restarts"] == 0


def test_url_anvil_faults_reach_every_replica_of_the_sandbox(sandbox_ready):
    plan = [{"at_s": 1, "duration_s": 3, "kind": "error", "params": {"status": 503, "probability": 1.0}}]

    run = bundle_run(bundle=example("bare-anvil.yaml"), profile=tiny_profile(duration_s=5), chaos_plan=plan)

    assert run.status == RunStatus.COMPLETED, run.error
    _applied(run)
    during = run_window_stats(run=run, start_s=2, end_s=4)
    assert during["failures_by_kind"].get("503", 0) > 0 and during["successes"] == 0
    assert run_window_stats(run=run, end_s=1)["failures"] == 0


def test_the_resilient_bundle_serves_at_least_twice_what_the_bare_one_does_under_a_crash_and_errors(sandbox_ready):
    # Graceful Degradation in small: one url-anvil instance dies outright
    # (its gunicorn master too), then half the requests fail for a while.
    plan = [
        {"at_s": 2, "duration_s": 2, "kind": "crash", "params": {"probability": 1.0, "once": True, "target": "server"}},
        {"at_s": 4.5, "duration_s": 3, "kind": "error", "params": {"status": 503, "probability": 0.6}},
    ]
    served = {}
    for name in ("bare-anvil.yaml", "resilient-anvil.yaml"):
        run = bundle_run(bundle=example(name), profile=PROFILE, chaos_plan=plan)
        assert run.status == RunStatus.COMPLETED, run.error
        _applied(run)
        served[name] = run_window_stats(run=run, start_s=2)["successes"]

    print(f"successes from the first fault on: {served}")
    assert served["resilient-anvil.yaml"] >= 2 * served["bare-anvil.yaml"], served
