"""Server-rendered pages: leaderboards, a participant's history, a submission's progress and result."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils import timezone

from common.validation import FieldError
from leaderboard import charts, selectors
from leaderboard.answer_cache import AnswerCache
from leaderboard.board_rows import Cell, html_rows
from leaderboard.models import Challenge, Participant, Submission, SubmissionStatus
from leaderboard.ranking_version import version_get
from leaderboard.scoring import COLUMNS, SCORE_COLUMNS, SCORE_LABELS, Column, value_format
from loadtest.selectors import RunLive, run_live, run_record


def _cells(submission: Submission, columns: tuple[Column, ...]) -> list[Cell]:
    values = (submission.statistic_1, submission.statistic_2, submission.statistic_3)
    return [Cell(c.text(v), absent=v is None) for c, v in zip(columns, values, strict=True)]


def _score_text(submission: Submission, challenge: Challenge) -> str:
    return SCORE_COLUMNS[challenge.scoring].text(submission.score)


def _bad_request(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "leaderboard/bad_request.html", {"message": message}, status=400)


def _page_number(raw: str | None) -> int | None:
    if raw in (None, ""):
        return 1
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if value >= 1 else None


@dataclass(frozen=True)
class Header:
    """A sortable column head: where its link goes, and whether (and which way) the table is sorted by it."""

    key: str
    label: str
    unit: str
    numeric: bool
    href: str
    link_title: str
    # "ascending" / "descending" when the table is sorted by this column, else "".
    aria_sort: str = ""

    @property
    def arrow(self) -> str:
        return {"ascending": "\u25b2", "descending": "\u25bc"}.get(self.aria_sort, "")


@functools.lru_cache(maxsize=256)
def _board_head(*, scoring_kind: str, current: str, verified_only: bool) -> str:
    """The ``<thead>`` of a leaderboard: a function of the code and these three alone (no data), so it is rendered
    once per process for each of their few combinations."""
    return render_to_string("leaderboard/_board_head.html", {
        "headers": _headers(scoring_kind=scoring_kind, current=current), "verified_only": verified_only,
    })


def _headers(*, scoring_kind: str, current: str) -> list[Header]:
    """Every column head of a leaderboard: the first click sorts best-first, a second one reverses."""
    headers = []
    for key in selectors.sort_keys(scoring_kind=scoring_kind).values():
        first = key.best_first
        reverse = first[1:] if first.startswith("-") else f"-{first}"
        sorted_here = current in (key.key, f"-{key.key}")
        href = reverse if current == first else first
        column = key.column
        if column is None:
            label, unit = key.key.capitalize(), ""
            title = "Reverse the order" if href != first else f"Sort by {key.key}"
        else:
            label = column.label
            unit = "" if column.key == "score" else column.unit
            title = f"Sort {'best' if href == first else 'worst'} first ({column.better} is better)"
        headers.append(Header(
            key=key.key, label=label, unit=unit, numeric=key.key not in ("participant", "when"),
            href=href, link_title=title,
            aria_sort=("descending" if current.startswith("-") else "ascending") if sorted_here else "",
        ))
    return headers


page_cache = AnswerCache()


def home_view(request: HttpRequest) -> HttpResponse:
    """What this is, how to take part, and every open challenge with its top score."""
    version = version_get()
    key = ("home",)
    cached = page_cache.get(key=key, version=version)
    if cached is not None:
        return HttpResponse(cached)
    entries = []
    for challenge in selectors.challenge_list():
        # The top of the same ranking the leaderboard shows: two small queries per challenge,
        # and the page is then kept per ranking version like the leaderboards.
        page = selectors.leaderboard_page(challenge=challenge, per_page=1)
        top = page.rows[0] if page.rows else None
        entries.append({
            "challenge": challenge,
            "score_label": SCORE_LABELS[challenge.scoring],
            "duration_s": (challenge.profile or {}).get("duration_s"),
            "chaos_events": len(challenge.chaos_plan or []),
            "top": top,
            "top_score": _score_text(top.submission, challenge) if top else "",
            "ranked_text": f"{page.total:,}",
            "ranked": page.total,
        })
    response = render(request, "leaderboard/home.html", {"entries": entries})
    page_cache.put(key=key, version=version, body=response.content)
    return response


def leaderboards_view(request: HttpRequest) -> HttpResponse:
    """``/leaderboard/``: the first open challenge's leaderboard, or the home page when none is open."""
    challenges = selectors.challenge_list()
    if not challenges:
        return redirect("leaderboard:home")
    return redirect("leaderboard:leaderboard", slug=challenges[0].slug)


def leaderboard_view(request: HttpRequest, slug: str | None = None) -> HttpResponse:
    # The rendered page holds nothing client-specific: it is kept per process
    # for the current ranking version (one shared read per request), so the
    # busiest page costs no queries until a new score or a challenge edit.
    version = version_get()
    key = (slug, request.GET.get("page"), request.GET.get("sort"), request.GET.get("verified"))
    cached = page_cache.get(key=key, version=version)
    if cached is not None:
        return HttpResponse(cached)
    response = _leaderboard_render(request, slug)
    if response.status_code == 200:
        page_cache.put(key=key, version=version, body=response.content)
    return response


def _leaderboard_render(request: HttpRequest, slug: str | None) -> HttpResponse:
    challenges = selectors.challenge_list()
    if slug is None:
        if not challenges:
            return render(request, "leaderboard/leaderboard.html", {"challenges": [], "challenge": None})
        challenge = challenges[0]
    else:
        challenge = next((c for c in challenges if c.slug == slug), None)
        if challenge is None:
            raise Http404(f"no open challenge {slug!r}")
    page_number = _page_number(request.GET.get("page"))
    if page_number is None:
        return _bad_request(request, "page must be a whole number of at least 1")
    verified = request.GET.get("verified", "")
    if verified not in ("", "0", "1"):
        return _bad_request(request, "verified must be 1 (verified results only) or 0")
    try:
        # An empty ``sort=`` is the default order here, as an empty ``page=`` is the first page.
        # Each row comes as the page shows it, rendered when its entry was written.
        page = selectors.leaderboard_page(challenge=challenge, sort=request.GET.get("sort") or None,
                                          page=page_number, verified_only=verified == "1", shown_as="html")
    except FieldError as exc:
        return _bad_request(request, str(exc))
    context = {
        "challenges": challenges,
        "challenge": challenge,
        "page": page,
        "rows": page.rows,
        "rows_html": html_rows(page.rows),
        "columns": page.columns,
        "board_head": _board_head(scoring_kind=challenge.scoring, current=page.sort,
                                  verified_only=page.verified_only),
        "score_label": SCORE_LABELS[challenge.scoring],
        "duration_s": (challenge.profile or {}).get("duration_s"),
        "total_text": f"{page.total:,}",
    }
    return render(request, "leaderboard/leaderboard.html", context)


def participant_view(request: HttpRequest, username: str) -> HttpResponse:
    participant = get_object_or_404(Participant, username=username)
    submissions = selectors.participant_submissions(participant=participant)
    by_challenge: dict[int, list[Submission]] = {}
    for submission in submissions:
        if submission.status == SubmissionStatus.SCORED and submission.score is not None:
            by_challenge.setdefault(submission.challenge_id, []).append(submission)
    # In the challenges' own order (their tabs, the home page), not in the order of the latest submission.
    groups = sorted(by_challenge.values(), key=lambda group: (group[0].challenge.position, group[0].challenge.id))
    score_charts = [
        charts.score_chart(title=group[0].challenge.name, slug=group[0].challenge.slug,
                           scores=[(s.created_at, s.score, s.id) for s in group],
                           label=SCORE_COLUMNS[group[0].challenge.scoring].text)
        for group in groups
    ]
    rows = [
        {
            "submission": s,
            "stats": list(zip(COLUMNS[s.challenge.scoring], _cells(s, COLUMNS[s.challenge.scoring]), strict=True)),
            "score": _score_text(s, s.challenge),
        }
        for s in submissions
    ]
    return render(
        request,
        "leaderboard/participant.html",
        {"participant": participant, "rows": rows, "score_charts": score_charts},
    )


def _submission(submission_id: int) -> Submission:
    return get_object_or_404(Submission.objects.select_related("challenge", "participant"), id=submission_id)


def _progress_context(submission: Submission) -> dict:
    return {
        "submission": submission,
        "progress": selectors.submission_progress(submission=submission, now=timezone.now()),
    }


def submission_view(request: HttpRequest, submission_id: int) -> HttpResponse:
    submission = _submission(submission_id)
    columns = COLUMNS[submission.challenge.scoring]
    context = {
        **_progress_context(submission),
        "columns": columns,
        "statistics": list(zip(columns, _cells(submission, columns), strict=True)),
        "score": _score_text(submission, submission.challenge),
        "score_label": SCORE_LABELS[submission.challenge.scoring],
        "extras": _extras(submission),
        "error": public_error(submission),
    }
    if submission.is_active:
        context.update(_live_chart_context(submission))
        return render(request, "leaderboard/submission.html", context)
    run = run_record(run_id=submission.run_id) if submission.run_id else None
    if run is not None:
        # Faults as the score counted them: when they were really in force;
        # one that was never applied is listed below but not drawn.
        context["chart"] = charts.run_chart(
            duration_s=run.duration_s,
            seconds=[(s.second, s.successes, s.failures, s.latency_p95_ms) for s in run.seconds],
            down_seconds=(submission.details or {}).get("down_seconds", []),
            faults=[(f.kind, *f.in_force) for f in run.faults if f.in_force],
            ramp_up_s=selectors.profile_ramp_up_s(profile=run.profile),
        )
        context["events"] = run.faults
        context["sandbox"] = run.generator.get("sandbox")
    return render(request, "leaderboard/submission.html", context)


def public_error(submission: Submission) -> str:
    """The reason a submission failed, as anyone may read it: without the participant's target URL."""
    error = submission.error or ""
    return error.replace(submission.target_url, "the target") if submission.target_url else error


def _live_chart_context(submission: Submission) -> dict:
    """The chart of an active submission as far as its run got: the page draws it, progress.js extends it."""
    live = run_live(run_id=submission.run_id) if submission.run_id else None
    profile = live.profile if live is not None else (submission.challenge.profile or {})
    duration_s = live.duration_s if live is not None else int(profile.get("duration_s") or 0)
    ramp_up_s = selectors.profile_ramp_up_s(profile=profile)
    return {
        "live": True,
        "ramp_up_s": ramp_up_s,
        "chart": charts.run_chart(
            duration_s=duration_s,
            seconds=[(s.second, s.successes, s.failures, s.latency_p95_ms) for s in live.seconds] if live else [],
            down_seconds=live.probe_down_seconds if live else [],
            faults=_live_fault_spans(live) if live else [],
            ramp_up_s=ramp_up_s,
        ),
        "live_faults": live.faults if live else [],
    }


def _live_fault_spans(live: RunLive) -> list[tuple[str, float, float]]:
    """Faults applied so far; one still in force reaches the latest recorded second (as progress.js draws it)."""
    latest = live.seconds[-1].second + 1 if live.seconds else 0
    return [
        (f.kind, f.applied_s, f.cleared_s if f.cleared_s is not None else max(f.applied_s, latest))
        for f in live.faults if f.applied_s is not None
    ]


def _wants_json(request: HttpRequest) -> bool:
    return request.GET.get("format") == "json" or "application/json" in request.headers.get("Accept", "")


def _live_run_json(live: RunLive) -> dict:
    return {
        "status": live.status,
        "duration_s": live.duration_s,
        "ramp_up_s": selectors.profile_ramp_up_s(profile=live.profile),
        # [second, successes, failures, p95 ms or null]: compact, as it is sent every second or two.
        "seconds": [[s.second, s.successes, s.failures, s.latency_p95_ms] for s in live.seconds],
        "probe_down_seconds": live.probe_down_seconds,
        "faults": [
            {"index": f.index, "kind": f.kind, "planned_at_s": f.planned_at_s, "applied_s": f.applied_s,
             "cleared_s": f.cleared_s, "refused": bool(f.error) and f.applied_s is None}
            for f in live.faults
        ],
    }


def submission_progress_view(request: HttpRequest, submission_id: int) -> HttpResponse:
    """The live part of a submission's page, fetched again and again by progress.js.

    HTML (the progress block) by default; JSON with ``Accept: application/json``
    or ``?format=json``: the same block as ``progress_html`` plus, while it
    runs, the seconds, probe verdicts and faults from ``?since=`` on, so a
    follower fetches what is new rather than the whole run.
    """
    submission = _submission(submission_id)
    context = _progress_context(submission)
    if not _wants_json(request):
        response = render(request, "leaderboard/_progress.html", context)
    else:
        raw_since = request.GET.get("since") or "0"
        since = None if not raw_since.isascii() or not raw_since.isdigit() else int(raw_since)
        if since is None or since > 10**7:
            response = JsonResponse({"error": "since must be a whole number of seconds (0 or more)",
                                     "details": {"since": ["must be a whole number of at least 0"]}}, status=400)
        else:
            live = None
            if submission.status == SubmissionStatus.RUNNING and submission.run_id:
                live = run_live(run_id=submission.run_id, since_second=since)
            response = JsonResponse({
                "id": submission.id,
                "status": submission.status,
                "finished": not submission.is_active,
                "progress_html": render_to_string("leaderboard/_progress.html", context, request=request),
                "run": _live_run_json(live) if live is not None else None,
            })
    # One URL, two representations: a cache in between must tell them apart.
    response["Vary"] = "Accept"
    response["Cache-Control"] = "no-store"
    return response


_EXTRA_LABELS = {
    "p95_latency_ms": ("p95 latency", "ms", 1),
    "avg_latency_ms": ("Avg latency of successes", "ms", 1),
    "mttr_s": ("Mean time to recover", "s", 1),
    "successes": ("Successful requests", "", 0),
    "requests": ("Requests", "", 0),
    "failures": ("Failed requests", "", 0),
    "up_seconds": ("Up seconds", "s", 0),
    "window_s": ("Measured window", "s", 0),
    "unrecovered_failures": ("Failures never recovered from", "", 0),
    "threshold_pct": ("Up-second threshold", "%", 0),
}


def _extras(submission: Submission) -> list[tuple[str, str]]:
    details = submission.details or {}
    return [
        (label, f"{value_format(value=details[key], decimals=decimals)}{(' ' + unit) if unit and details[key] is not None else ''}")
        for key, (label, unit, decimals) in _EXTRA_LABELS.items()
        if key in details
    ]
