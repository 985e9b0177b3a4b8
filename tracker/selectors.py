"""Reads of the tracker: grouped runs for clients, targets, history series, run tables and comparisons."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Max, OuterRef, Q, Subquery

from common.validation import FieldError, whole_number_from_text
from tracker.models import Baseline, RecordingSession, TrackedRun
from tracker.payload import run_as_payload
from tracker.regression import (
    COMPARED_FIGURES,
    METRICS,
    change_pct,
    load_settings_differences,
    load_settings_label,
    regression_explain,
    run_is_locust,
    verdict_summary,
)

DB = "tracker"

PAYLOAD_COLUMNS = (
    "id", "client_run_id", "schema_version", "user_id", "challenge_type", "metric_name", "value", "timestamp",
    "labels", "target_url", "request_count", "method", "payload_urls", "total_requests", "successful_requests",
    "failed_requests", "avg_latency_ms", "error_rate", "rps", "duration_s", "test_type", "commit_hash",
    "session_id", "p50_latency_ms", "p95_latency_ms", "p99_latency_ms", "extra", "run_details_extra",
)
TABLE_COLUMNS = (
    "id", "timestamp", "user_id", "target_url", "target_key", "method", "request_count", "test_type", "session_id",
    "commit_hash", "total_requests", "rps", "avg_latency_ms", "p50_latency_ms", "p95_latency_ms", "p99_latency_ms",
    "error_rate", "duration_s",
)


CURSOR_REFUSED = "is not one this API handed out"


def page_limit_parse(*, raw: str | None) -> int:
    """``?limit=``: the page size asked for (the default when none is), or FieldError."""
    if not raw:
        return settings.TRACKER_PAGE_DEFAULT
    return whole_number_from_text(raw, field="limit", minimum=1, maximum=settings.TRACKER_PAGE_MAX)


def cursor_encode(*, timestamp: datetime, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{timestamp.isoformat()}|{pk}".encode()).decode().rstrip("=")


def cursor_decode(*, cursor: str) -> tuple[datetime, int]:
    """The ``(timestamp, id)`` a cursor from :func:`cursor_encode` stands for, or FieldError on ``cursor``."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, pk = raw.rsplit("|", 1)
        # In UTC, as the column is: a far-east offset on the first day of year 1
        # is a valid datetime that no database can compare with (OverflowError).
        value = datetime.fromisoformat(stamp)
        if value.tzinfo is None:
            raise ValueError("naive")
        value = value.astimezone(UTC)
    except (ValueError, OverflowError):
        # binascii.Error and UnicodeDecodeError are ValueErrors too.
        raise FieldError("cursor", CURSOR_REFUSED) from None
    try:
        return value, whole_number_from_text(pk, field="cursor", minimum=1, maximum=2**63 - 1)
    except FieldError:
        raise FieldError("cursor", CURSOR_REFUSED) from None


def _before(timestamp: datetime, pk: int) -> Q:
    """Rows strictly before (timestamp, pk) in newest-first order."""
    return Q(timestamp__lt=timestamp) | Q(timestamp=timestamp, id__lt=pk)


def _after(timestamp: datetime, pk: int) -> Q:
    """Rows strictly after (timestamp, pk) in newest-first order."""
    return Q(timestamp__gt=timestamp) | Q(timestamp=timestamp, id__gt=pk)


def runs_grouped_for_user(*, user_id: str, limit: int, cursor: tuple[datetime, int] | None = None
                          ) -> tuple[dict[str, dict[str, list[dict]]], str | None]:
    """One page (newest first) of a user's runs as ``{target_url: {session_id: [run, …]}}`` and the next cursor.

    Targets and sessions appear in the order of their newest run on the page.
    """
    queryset = TrackedRun.objects.using(DB).filter(user_id=user_id)
    if cursor is not None:
        queryset = queryset.filter(_before(*cursor))
    rows = list(queryset.order_by("-timestamp", "-id").values(*PAYLOAD_COLUMNS)[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    grouped: dict[str, dict[str, list[dict]]] = {}
    for row in rows:
        grouped.setdefault(row["target_url"], {}).setdefault(row["session_id"], []).append(run_as_payload(row))
    next_cursor = cursor_encode(timestamp=rows[-1]["timestamp"], pk=rows[-1]["id"]) if more else None
    return grouped, next_cursor


# --- Pages -----------------------------------------------------------------


def targets_summary() -> list[dict[str, Any]]:
    """Every target with its run count, latest run, baseline and active recording, most recently active first.

    A fixed number of queries however many targets there are.
    """
    latest_id = Subquery(
        TrackedRun.objects.using(DB).filter(target_key=OuterRef("target_key"))
        .order_by("-timestamp", "-id").values("id")[:1]
    )
    stats = list(
        TrackedRun.objects.using(DB)
        .values("target_key")
        .annotate(runs=Count("id"), last=Max("timestamp"))
        .annotate(latest_id=latest_id)
        .order_by("-last")
    )
    latest = {
        row["id"]: row
        for row in TrackedRun.objects.using(DB).filter(pk__in=[s["latest_id"] for s in stats]).values(*TABLE_COLUMNS)
    }
    baselines = dict(Baseline.objects.using(DB).values_list("target_key", "run_id"))
    recordings = {r.target_key: r for r in RecordingSession.objects.using(DB).filter(active=True)}
    out = []
    for stat in stats:
        out.append({**stat, "latest": latest.get(stat["latest_id"]),
                    "baseline_run_id": baselines.get(stat["target_key"]),
                    "recording": recordings.pop(stat["target_key"], None)})
    # Recording sessions that have not logged a run yet still show up.
    for recording in recordings.values():
        out.append({"target_key": recording.target_key, "runs": 0, "last": None, "latest": None,
                    "baseline_run_id": None, "recording": recording, "target_url": recording.target_url})
    return out


def target_url_for(*, target_key: str) -> str | None:
    url = TrackedRun.objects.using(DB).filter(target_key=target_key).values_list("target_url", flat=True).first()
    if url is None:
        url = (
            RecordingSession.objects.using(DB).filter(target_key=target_key)
            .values_list("target_url", flat=True).first()
        )
    return url


@dataclass
class RunFilters:
    session: str | None = None
    test_type: str | None = None
    # The userId a client sent; None: every user's runs.
    user_id: str | None = None
    date_from: date | None = None
    date_to: date | None = None


def target_runs(*, target_key: str, filters: RunFilters):
    """The filtered runs of a target, newest first (a queryset of dicts for a paginator)."""
    queryset = TrackedRun.objects.using(DB).filter(target_key=target_key)
    if filters.session is not None:
        queryset = queryset.filter(session_id=filters.session)
    if filters.test_type:
        queryset = queryset.filter(test_type=filters.test_type)
    if filters.user_id is not None:
        queryset = queryset.filter(user_id=filters.user_id)
    if filters.date_from:
        queryset = queryset.filter(timestamp__gte=datetime.combine(filters.date_from, time.min, tzinfo=UTC))
    if filters.date_to:
        end = datetime.combine(filters.date_to + timedelta(days=1), time.min, tzinfo=UTC)
        queryset = queryset.filter(timestamp__lt=end)
    return queryset.order_by("-timestamp", "-id").values(*TABLE_COLUMNS)


def target_users(*, target_key: str) -> list[str]:
    """The userIds that logged runs of a target, for the run table's filter."""
    return list(
        TrackedRun.objects.using(DB).filter(target_key=target_key).order_by("user_id")
        .values_list("user_id", flat=True).distinct()
    )


def baseline_for(*, target_key: str) -> dict[str, Any] | None:
    baseline = Baseline.objects.using(DB).filter(target_key=target_key).values("run_id", "pinned_at").first()
    if baseline is None:
        return None
    run = TrackedRun.objects.using(DB).filter(pk=baseline["run_id"]).values(*TABLE_COLUMNS).first()
    return {**baseline, "run": run}


def _key(row: dict) -> tuple[datetime, int]:
    return (row["timestamp"], row["id"])


def runs_flag(*, rows: list[dict[str, Any]], baseline: dict[str, Any] | None, threshold_pct: float,
              window: int) -> dict[int, dict[str, Any]]:
    """Verdicts for the given runs of one target against its baseline.

    Per run id: ``{"summary": "regression"|"improvement"|None, "figures": {...}}``,
    or ``{"summary": "incomparable", "why": [...]}`` when its load settings
    differ from the baseline's. Runs not newer than the baseline get nothing.
    """
    if baseline is None or baseline.get("run") is None or not rows:
        return {}
    base = baseline["run"]
    flags: dict[int, dict[str, Any]] = {}
    comparable = []
    for row in rows:
        if _key(row) <= _key(base):
            continue
        differences = load_settings_differences(a=base, b=row)
        if differences:
            flags[row["id"]] = {"summary": "incomparable", "why": differences}
        else:
            comparable.append(row)
    if not comparable:
        return flags
    same_settings = TrackedRun.objects.using(DB).filter(
        target_key=base["target_key"], method=base["method"], request_count=base["request_count"],
        test_type=base["test_type"],
    )
    columns = ("id", "timestamp", *(m.name for m in METRICS))
    lo = min(comparable, key=_key)
    hi = max(comparable, key=_key)
    # The comparable runs from the oldest to the newest row shown, plus the
    # `window` runs before the oldest: every row's "previous N" in two queries.
    span = list(
        same_settings.exclude(_before(*_key(lo))).exclude(_after(*_key(hi)))
        .order_by("timestamp", "id").values(*columns)
    )
    earlier = list(same_settings.filter(_before(*_key(lo))).order_by("-timestamp", "-id").values(*columns)[:window])
    series = earlier[::-1] + span
    position = {row["id"]: index for index, row in enumerate(series)}
    for row in comparable:
        index = position.get(row["id"])
        if index is None:
            continue
        previous = series[max(0, index - window):index] if window else []
        moved = regression_explain(baseline=base, current=row, previous=previous, threshold_pct=threshold_pct)
        verdicts = {metric.name: None for metric in METRICS} | {m.metric.name: m.verdict for m in moved}
        flags[row["id"]] = {"summary": verdict_summary(verdicts), "figures": verdicts,
                            "moved": [{"verdict": m.verdict, "text": m.text()} for m in moved]}
    return flags


def runs_compare(*, a_id: int, b_id: int) -> dict[str, Any] | None:
    """Two runs side by side with the % change of each figure from a to b; None if either is missing."""
    found = {row["id"]: row for row in TrackedRun.objects.using(DB).filter(pk__in=[a_id, b_id]).values(*TABLE_COLUMNS)}
    if a_id not in found or b_id not in found:
        return None
    a, b = found[a_id], found[b_id]
    for run in (a, b):
        run["load_label"] = load_settings_label(run)
        run["is_locust"] = run_is_locust(run)
    differences = load_settings_differences(a=a, b=b)
    figures = []
    if not differences:
        for metric in COMPARED_FIGURES:
            pct = change_pct(before=a[metric.name], after=b[metric.name], floor=metric.floor)
            better = None
            if pct and metric.higher_is_better is not None:
                better = (pct > 0) == metric.higher_is_better
            figures.append({"metric": metric, "a": a[metric.name], "b": b[metric.name], "pct": pct,
                            "better": better})
    # Comparable load, but not necessarily the same service: worth a warning, not a refusal.
    return {"a": a, "b": b, "differences": differences, "figures": figures,
            "different_targets": a["target_key"] != b["target_key"]}


def recordings_for(*, target_key: str, limit: int = 10) -> list[RecordingSession]:
    return list(RecordingSession.objects.using(DB).filter(target_key=target_key)[:limit])


def recording_get(*, recording_pk: int) -> RecordingSession | None:
    return RecordingSession.objects.using(DB).filter(pk=recording_pk).first()
