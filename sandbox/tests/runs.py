"""Helpers for tests that run bundles through the engine (run_create → run_execute) in a sandbox."""

from __future__ import annotations

from loadtest import services
from loadtest.models import LoadTestRun


def bundle_run(*, bundle: str, profile: dict, chaos_plan: list | None = None, **kwargs) -> LoadTestRun:
    """Create the run of a bundle (its text) in a sandbox and execute it here; the finished run."""
    spec = services.run_place_spec_build(place="sandbox", given={"bundle": bundle})
    run = services.run_create(target_url="", profile=profile, chaos_plan=chaos_plan, place="sandbox",
                              place_spec=spec)
    return services.run_execute(run_id=run.pk, **kwargs)
