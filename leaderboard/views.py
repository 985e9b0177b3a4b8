"""Server-rendered pages: leaderboards, a participant's history, a submission's progress and result."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from common.validation import FieldError
from leaderboard import charts, selectors
from leaderboard.answer_cache import AnswerCache
from leaderboard.models import Challenge, Participant, Submission, SubmissionStatus
from leaderboard.ranking_version import version_get
from leaderboard.scoring import COLUMNS, SCORE_COLUMNS, SCORE_LABELS, Column, value_format
from loadtest.selectors import run_record


@dataclass(frozen=True)
class Cell:
    text: str
    absent: bool = False


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


def _headers(*, challenge: Challenge, current: str) -> list[Header]:
    """Every column head of a leaderboard: the first click sorts best-first, a second one reverses."""
    headers = []
    for key in selectors.sort_keys(challenge=challenge).values():
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
        page = selectors.leaderboard_page(challenge=challenge, sort=request.GET.get("sort") or None,
                                          page=page_number, verified_only=verified == "1")
    except FieldError as exc:
        return _bad_request(request, str(exc))
    rows = [
        {
            "rank": row.rank,
            "participant": row.participant,
            "cells": _cells(row.submission, page.columns),
            "score": _score_text(row.submission, challenge),
            "submission": row.submission,
        }
        for row in page.rows
    ]
    context = {
        "challenges": challenges,
        "challenge": challenge,
        "page": page,
        "rows": rows,
        "columns": page.columns,
        "headers": _headers(challenge=challenge, current=page.sort),
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
    score_charts = [
        charts.score_chart(title=group[0].challenge.name, scores=[(s.created_at, s.score) for s in group],
                           label=SCORE_COLUMNS[group[0].challenge.scoring].text)
        for group in by_challenge.values()
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
    run = run_record(run_id=submission.run_id) if submission.run_id and not submission.is_active else None
    if run is not None:
        # Faults as the score counted them: when they were really in force;
        # one that was never applied is listed below but not drawn.
        context["chart"] = charts.run_chart(
            duration_s=run.duration_s,
            seconds=[(s.second, s.rps, s.latency_p95_ms) for s in run.seconds],
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


def submission_progress_view(request: HttpRequest, submission_id: int) -> HttpResponse:
    """The live part of a submission's page, fetched again and again by progress.js."""
    submission = _submission(submission_id)
    response = render(request, "leaderboard/_progress.html", _progress_context(submission))
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
