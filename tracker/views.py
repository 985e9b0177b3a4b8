"""The tracker's pages: targets, a target's history and runs, comparisons, baselines and recordings.

The notebook is personal: pages answer clients on this machine (loopback,
or the networks in TRACKER_TRUSTED_NETWORKS) and logged-in staff; anyone else
gets a 403 that says so.
"""

from __future__ import annotations

from datetime import date
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from common.validation import FieldError, whole_number_from_text
from tracker import history, selectors, services
from tracker.api import client_is_local
from tracker.charts import history_charts, session_colors
from tracker.payload import target_key_for, text_problem
from tracker.regression import load_settings_label

PAGE_SIZE = 50
# The "every session" choice of the filter (an empty session id is a real value).
ALL = "__all__"


def _refuse(request: HttpRequest, status: int, message: str) -> HttpResponse:
    return render(request, "tracker/error.html", {"message": message}, status=status)


def trusted_only(view):
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        user = getattr(request, "user", None)
        if not (client_is_local(request) or (user is not None and user.is_active and user.is_staff)):
            return _refuse(request, 403, "The local tracker answers only on this machine or to logged-in staff.")
        return view(request, *args, **kwargs)

    return wrapper


def _int(raw: str | None, name: str) -> int:
    try:
        return whole_number_from_text((raw or "").strip(), field=name, minimum=1, maximum=2**63 - 1)
    except FieldError:
        raise ValueError(f"{name} must be a run number") from None


def _text(raw: str | None, name: str) -> str | None:
    if raw is not None:
        problem = text_problem(raw)
        if problem:
            raise ValueError(f"{name} {problem}")
    return raw


def _date(raw: str, name: str) -> date | None:
    if not raw:
        return None
    try:
        value = date.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"{name} must be a date like 2026-01-31") from None
    if not date.min < value < date.max:
        raise ValueError(f"{name} is out of range")
    return value


@require_GET
@trusted_only
def index(request: HttpRequest) -> HttpResponse:
    return render(request, "tracker/index.html", {
        "targets": selectors.targets_summary(),
        "interval_s": settings.TRACKER_RECORDING_INTERVAL_S,
        # Where this deployment's url-anvil answers (the compose stack's service name, or this machine's port).
        "anvil_url": settings.ANVIL_CORPUS_BASE_URL,
    })


@require_GET
@trusted_only
def target(request: HttpRequest, target_key: str) -> HttpResponse:
    url = selectors.target_url_for(target_key=target_key)
    if url is None:
        return _refuse(request, 404, "This target has no runs and no recording session.")
    try:
        filters = selectors.RunFilters(
            session=None if request.GET.get("session", ALL) == ALL else _text(request.GET["session"], "session"),
            test_type=_text(request.GET.get("test_type"), "test_type") or None,
            user_id=None if request.GET.get("user", ALL) == ALL else _text(request.GET["user"], "user"),
            date_from=_date(request.GET.get("from", ""), "from"),
            date_to=_date(request.GET.get("to", ""), "to"),
        )
    except ValueError as exc:
        return _refuse(request, 400, str(exc))
    page = Paginator(selectors.target_runs(target_key=target_key, filters=filters), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    rows = list(page.object_list)
    baseline = selectors.baseline_for(target_key=target_key)
    flags = selectors.runs_flag(rows=rows, baseline=baseline, threshold_pct=settings.TRACKER_REGRESSION_THRESHOLD_PCT,
                                window=settings.TRACKER_NOISE_WINDOW)
    series = history.target_chart_series(target_key=target_key)
    colors = session_colors(series.session_runs)
    for row in rows:
        row["flag"] = flags.get(row["id"])
        row["color"] = colors.get(row["session_id"])
        row["load_label"] = load_settings_label(row)
    users = selectors.target_users(target_key=target_key)
    recordings = selectors.recordings_for(target_key=target_key)
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "tracker/target.html", {
        "target_key": target_key,
        "target_url": url,
        "charts": history_charts(series=series),
        "run_count": series.run_count,
        "legend": list(colors.items()),
        "has_other_sessions": len(series.session_runs) > len(colors),
        "filters": filters,
        "choices": {"sessions": sorted(series.session_runs), "test_types": series.test_types, "users": users},
        # Runs of several users share this target: the table says whose each one is.
        "several_users": len(users) > 1,
        "page": page,
        "rows": rows,
        "baseline": baseline,
        "threshold_pct": settings.TRACKER_REGRESSION_THRESHOLD_PCT,
        "noise_window": settings.TRACKER_NOISE_WINDOW,
        "recordings": recordings,
        "active_recording": next((r for r in recordings if r.active), None),
        "query": query.urlencode(),
        "all_sessions": ALL,
        "all_users": ALL,
        "interval_s": settings.TRACKER_RECORDING_INTERVAL_S,
    })


@require_GET
@trusted_only
def compare(request: HttpRequest) -> HttpResponse:
    try:
        a_id, b_id = _int(request.GET.get("a"), "a"), _int(request.GET.get("b"), "b")
    except ValueError as exc:
        return _refuse(request, 400, f"Pick two runs to compare: {exc}.")
    comparison = selectors.runs_compare(a_id=a_id, b_id=b_id)
    if comparison is None:
        return _refuse(request, 404, f"There is no run #{a_id} or no run #{b_id}.")
    return render(request, "tracker/compare.html", comparison)


@require_POST
@trusted_only
def baseline_pin(request: HttpRequest, target_key: str) -> HttpResponse:
    try:
        run_id = _int(request.POST.get("run_id"), "run_id")
        services.baseline_pin(target_key=target_key, run_id=run_id)
    except FieldError as exc:
        return _refuse(request, 400, exc.message)
    except ValueError as exc:
        return _refuse(request, 400, str(exc))
    messages.success(request, f"Run #{run_id} is now the baseline.")
    return redirect(reverse("tracker:target", args=[target_key]))


@require_POST
@trusted_only
def baseline_clear(request: HttpRequest, target_key: str) -> HttpResponse:
    services.baseline_clear(target_key=target_key)
    messages.success(request, "Baseline cleared.")
    return redirect(reverse("tracker:target", args=[target_key]))


@require_POST
@trusted_only
def recording_start(request: HttpRequest) -> HttpResponse:
    raw_interval = request.POST.get("interval_s", "").strip()
    try:
        interval_s = (whole_number_from_text(raw_interval, field="interval_s", minimum=0, maximum=999_999_999)
                      if raw_interval else None)
    except FieldError:
        return _refuse(request, 400, "interval_s must be a whole number of seconds")
    try:
        session = services.recording_start(
            target_url=request.POST.get("target_url", ""),
            interval_s=interval_s,
        )
    except FieldError as exc:
        return _refuse(request, 400, exc.message)
    messages.success(request, f"Recording {session.session_id} started: a load test every {session.interval_s} s.")
    return redirect(reverse("tracker:target", args=[target_key_for(session.target_url)]))


@require_POST
@trusted_only
def recording_stop(request: HttpRequest, recording_pk: int) -> HttpResponse:
    session = selectors.recording_get(recording_pk=recording_pk)
    if session is None:
        return _refuse(request, 404, "There is no such recording session.")
    if services.recording_stop(recording_pk=recording_pk):
        messages.success(request, f"Recording {session.session_id} stopped.")
    return redirect(reverse("tracker:target", args=[session.target_key]))
