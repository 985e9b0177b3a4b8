"""A bundle run end to end in a real sandbox: created, readied, loaded, faulted, torn down.

Needs a Docker engine (DOCKER_HOST; CI starts one): without it these tests
fail when REQUIRE_REAL_SERVICES is true or DOCKER_HOST is set, and are
skipped otherwise. Runs are short (a few seconds of load, few users).
"""

from __future__ import annotations

import pytest

from common.testing import tiny_profile
from loadtest.models import RunStatus
from loadtest.selectors import run_probe_summary
from sandbox.tests.bundles import example
from sandbox.tests.runs import bundle_run

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def test_the_bare_bundle_runs_in_a_sandbox_is_loaded_and_leaves_nothing_behind(sandbox_ready):
    run = bundle_run(bundle=example("bare-anvil.yaml"), profile=tiny_profile(duration_s=4))

    assert run.status == RunStatus.COMPLETED, run.error
    assert run.target_url == "http://entrypoint:80"
    assert run.total_successes > 0 and run.total_failures == 0
    probes = run_probe_summary(run=run)
    assert probes["probed_seconds"] >= 3 and probes["down_seconds"] == []
    sandbox = run.generator["sandbox"]
    assert sandbox["backend"] == "docker" and sandbox["torn_down"] is True
    assert {c["pod"] for c in sandbox["containers"] if c["role"] == "app"} == {"anvil-0"}
    assert sandbox["restarts"] == 0
