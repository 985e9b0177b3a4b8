"""A client of the tracker: a finished run as a tracker payload, filed locally or over HTTP.

The engine never imports the tracker. When the tracker is enabled in this
process (``ENABLE_LOCAL_TRACKER``), the run goes to the sink the tracker
registered in ``loadtest.hooks``; when it runs elsewhere, over HTTP to
``TRACKING_SERVICE_URL``. Either way the payload is the tracker schema 1.0
that every tracker client sends.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from typing import TextIO

from django.conf import settings
from django.utils import timezone

from loadtest.hooks import tracking_sink_get
from loadtest.models import LoadTestRun

HTTP_TIMEOUT_S = 10


class TrackingUnavailable(RuntimeError):
    """The run could not be logged (the tracker refused it or could not be reached)."""


def commit_default(*, cwd: str | None = None) -> str | None:
    """``git rev-parse HEAD`` of the repository around ``cwd`` (default: the working directory), or None."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd or os.getcwd(), capture_output=True, text=True, timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    commit = result.stdout.strip()
    return commit if result.returncode == 0 and commit else None


def run_test_type(*, run: LoadTestRun) -> str:
    """A compact name for the run's load settings: runs compare only when it is equal."""
    profile = run.profile or {}
    name = f"locust-{profile.get('shape', 'constant')}-{profile.get('users', 0)}u-{profile.get('duration_s', 0)}s"
    tasks = profile.get("tasks") or {}
    if tasks:
        name += "-mix" + "/".join(str(tasks.get(task, 0)) for task in sorted(tasks))
    if run.processes and run.processes > 1:
        name += f"-p{run.processes}"
    if run.chaos_plan:
        name += f"-chaos{len(run.chaos_plan)}"
    return name


def run_payload_build(*, run: LoadTestRun, session: str | None, commit: str | None,
                      user_id: str | None = None) -> dict:
    """The tracker payload (schema 1.0) for a finished run."""
    profile = run.profile or {}
    tasks = profile.get("tasks") or {}
    total = run.total_requests
    if run.started_at and run.finished_at:
        duration_s = (run.finished_at - run.started_at).total_seconds()
    else:
        duration_s = float(profile.get("duration_s", 0))
    details = {
        "target_url": run.target_url,
        # The engine's load setting is its user count, not a fixed number of requests.
        "request_count": int(profile.get("users", 0)),
        "method": "POST" if tasks.get("test") else "GET",
        "payload_urls": [],
        "total_requests": total,
        "successful_requests": run.total_successes,
        "failed_requests": run.total_failures,
        "avg_latency_ms": run.latency_avg_ms or 0.0,
        "error_rate": (run.total_failures / total * 100.0) if total else (0.0 if run.status == "completed" else 100.0),
        "rps": run.rps or 0.0,
        "duration_s": round(duration_s, 3),
        "test_type": run_test_type(run=run),
        "commit_hash": commit,
        "session_id": session or "",
    }
    for name, value in (("p50_latency_ms", run.latency_p50_ms), ("p95_latency_ms", run.latency_p95_ms),
                        ("p99_latency_ms", run.latency_p99_ms)):
        if value is not None:
            details[name] = value
    return {
        "schema_version": "1.0",
        # Unique per engine run, so logging the same run twice stores it once.
        "runId": f"loadtest-{run.pk}-{int(run.created_at.timestamp())}",
        "userId": user_id or settings.TRACKER_USER_ID,
        "challengeType": "loadtest",
        "metricName": "rps",
        "value": run.rps or 0.0,
        "timestamp": (run.finished_at or timezone.now()).isoformat(),
        "labels": {
            "source": "run_loadtest",
            "loadtest_run_id": run.pk,
            "status": run.status,
            "origin": run.origin,
            "shape": profile.get("shape"),
            "users": profile.get("users"),
            "chaos_events": len(run.chaos_plan or []),
        },
        "runDetails": details,
    }


def _send_http(*, url: str, payload: dict) -> dict:
    headers = {"Content-Type": "application/json"}
    if settings.TRACKING_SERVICE_API_KEY:
        headers["x-api-key"] = settings.TRACKING_SERVICE_API_KEY
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            message = json.loads(raw).get("message") or raw.decode(errors="replace")
        except (ValueError, AttributeError):
            message = raw.decode(errors="replace")[:300]
        raise TrackingUnavailable(f"the tracking service at {url} answered {exc.code}: {message}") from None
    except OSError as exc:
        raise TrackingUnavailable(f"the tracking service at {url} could not be reached: {exc}") from None
    try:
        return json.loads(body)
    except ValueError:
        raise TrackingUnavailable(f"the tracking service at {url} did not answer JSON") from None


def tracking_problem() -> str:
    """Why ``--track`` cannot work in this process, or "" when it can: asked before a run starts."""
    if settings.ENABLE_LOCAL_TRACKER:
        # The tracker app registers its sink when it is installed; on but absent, nothing would receive the run.
        return "" if tracking_sink_get() is not None else (
            "ENABLE_LOCAL_TRACKER is on, but the tracker app that files runs is not installed in this process")
    if settings.TRACKING_SERVICE_URL:
        return ""
    return "tracking is disabled: set ENABLE_LOCAL_TRACKER=true or TRACKING_SERVICE_URL to log runs"


def run_track(*, run: LoadTestRun, session: str | None = None, commit: str | None = None,
              stdout: TextIO | None = None) -> dict:
    """Log a finished run into the tracker; returns the tracker's answer (``status`` "ok")."""
    out = stdout or sys.stdout
    problem = tracking_problem()
    if problem:
        raise TrackingUnavailable(problem)
    if not run.is_finished:
        raise TrackingUnavailable(f"run {run.pk} has not finished ({run.status}); only finished runs are tracked")
    commit = commit or commit_default()
    payload = run_payload_build(run=run, session=session, commit=commit)
    if settings.ENABLE_LOCAL_TRACKER:
        ingest = tracking_sink_get()
        assert ingest is not None
        try:
            answer = ingest(payload)
        except ValueError as exc:
            raise TrackingUnavailable(f"the local tracker refused run {run.pk}: {exc}") from None
        where = "the local tracker"
    else:
        answer = _send_http(url=settings.TRACKING_SERVICE_URL, payload=payload)
        where = settings.TRACKING_SERVICE_URL
    out.write(
        f"tracked: run {run.pk} logged in {where} as #{answer.get('id')} "
        f"(session {session or '—'}, commit {(commit or '—')[:12]})\n"
    )
    return answer
