"""Celery tasks of the sandbox: thin shells around ``sandbox.services``."""

from __future__ import annotations

from celery import shared_task

from sandbox import services
from sandbox.engine import EngineUnavailable


# Safe to run twice or side by side: removing what is already gone is nothing.
@shared_task(name="sandbox.tasks.sandboxes_reap_task")
def sandboxes_reap_task() -> int:
    try:
        return len(services.sandboxes_reap())
    except EngineUnavailable:
        # No engine, no sandbox to reap (the quickstart without Docker).
        return 0
