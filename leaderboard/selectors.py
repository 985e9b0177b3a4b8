"""Reads of the competition: leaderboards, a submission's progress and chart, scoring input."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import F, OrderBy, QuerySet, Window
from django.db.models.functions import RowNumber

from common.validation import FieldError
from leaderboard.keys import api_key_matches, api_key_prefix
from leaderboard.models import Challenge, Participant, Submission, SubmissionStatus
from leaderboard.scoring import COLUMNS, SCORE_COLUMNS, Column, Fault, Probe, RunData, Second
from loadtest.selectors import RunRecord, run_progress


def participant_by_key(*, key: str) -> Participant | None:
    prefix = api_key_prefix(key=key)
    if prefix is None:
        return None
    participant = Participant.objects.filter(key_prefix=prefix).first()
    # Compare even for an unknown prefix would not hide more: the prefix is
    # public anyway. What matters is the constant-time comparison of the hash.
    if participant is None or not api_key_matches(key=key, key_hash=participant.key_hash):
        return None
    return participant


def challenge_list(*, active_only: bool = True) -> list[Challenge]:
    challenges = Challenge.objects.all()
    if active_only:
        challenges = challenges.filter(is_active=True)
    return list(challenges)


def challenge_columns(*, challenge: Challenge) -> tuple[Column, Column, Column]:
    return COLUMNS[challenge.scoring]


def profile_ramp_up_s(*, profile: dict) -> int:
    """Seconds the load generator needs to reach the profile's starting users."""
    users = profile.get("users") or 0
    spawn_rate = profile.get("spawn_rate") or 0
    if users <= 0 or spawn_rate <= 0:
        return 0
    return math.ceil(users / spawn_rate)


def run_scoring_input(*, run: RunRecord) -> RunData:
    """The plain per-second record that ``leaderboard.scoring`` works on, from the engine's record of the run.

    Faults count as they were applied: one the anvil refused induced nothing.
    """
    return RunData(
        duration_s=run.duration_s,
        ramp_up_s=profile_ramp_up_s(profile=run.profile),
        seconds=[
            Second(second=s.second, requests=s.requests, successes=s.successes,
                   success_latency_sum_ms=s.success_latency_sum_ms, latency_histogram=s.latency_histogram,
                   instances=s.instances)
            for s in run.seconds
        ],
        probes=[Probe(second=p.second, up=p.up, instance=p.instance) for p in run.probes],
        faults=[Fault(kind=f.kind, start_s=f.in_force[0], end_s=f.in_force[1]) for f in run.faults if f.in_force],
    )


# --- leaderboards ------------------------------------------------------------

# Every ordering ends with the ranking order so that equal values keep a
# stable order (ties: the earlier submission).
RANK_ORDER = (F("score").desc(), F("created_at").asc(), F("id").asc())
# The columns' older, positional names, still accepted for a challenge's three
# statistics in order (``statistic_2`` is Avg Latency on Robust Service).
STATISTIC_ALIASES = ("statistic_1", "statistic_2", "statistic_3")


@dataclass(frozen=True)
class SortKey:
    """A public sort key of a leaderboard and what it orders by."""

    key: str
    # The Submission field; None for the rank (the ranking order itself).
    field: str | None
    # The figure's column when the key is one: it knows which way is better.
    column: Column | None = None

    @property
    def best_first(self) -> str:
        """The sort value that puts the best first (the rank's own order, a name or a date ascending)."""
        if self.column is not None and self.column.higher_is_better:
            return f"-{self.key}"
        return self.key

    def order_by(self, *, descending: bool) -> OrderBy:
        expression = F(self.field)
        if self.column is None:
            return expression.desc() if descending else expression.asc()
        # None is the worst value of its column (or the best, for "never"), in either direction.
        none_is_low = self.column.none_is_best != self.column.higher_is_better
        nulls = {"nulls_last": True} if none_is_low == descending else {"nulls_first": True}
        return expression.desc(**nulls) if descending else expression.asc(**nulls)


def sort_keys(*, challenge: Challenge) -> dict[str, SortKey]:
    """The keys a challenge's leaderboard sorts by, in the order of its columns: rank, participant, the
    challenge's own statistics by their column keys, score, when."""
    statistics = COLUMNS[challenge.scoring]
    keys = [SortKey("rank", None), SortKey("participant", "participant__username")]
    keys += [SortKey(column.key, alias, column) for column, alias in zip(statistics, STATISTIC_ALIASES, strict=True)]
    keys += [SortKey("score", "score", SCORE_COLUMNS[challenge.scoring]), SortKey("when", "created_at")]
    return {key.key: key for key in keys}


@dataclass(frozen=True)
class LeaderboardRow:
    rank: int
    submission: Submission

    @property
    def participant(self) -> Participant:
        return self.submission.participant


@dataclass(frozen=True)
class LeaderboardPage:
    challenge: Challenge
    columns: tuple[Column, Column, Column]
    rows: list[LeaderboardRow]
    # The order as a sort value with the column's own key ("-avg_latency_ms"), whatever alias asked for it.
    sort: str
    page: int
    page_count: int
    total: int
    per_page: int
    verified_only: bool = False


def sort_parse(*, challenge: Challenge, sort: str | None) -> tuple[SortKey, bool]:
    """``"-avg_latency_ms"`` → (its key, descending); None → the rank. Raises FieldError("sort") listing the keys.

    Exact: no whitespace is trimmed and an empty value is not the default.
    ``statistic_1``…``statistic_3`` name the challenge's columns in order.
    """
    keys = sort_keys(challenge=challenge)
    if sort is None:
        return keys["rank"], False
    descending = sort.startswith("-")
    name = sort[1:] if descending else sort
    aliases = dict(zip(STATISTIC_ALIASES, (column.key for column in COLUMNS[challenge.scoring]), strict=True))
    name = aliases.get(name, name)
    if name not in keys:
        raise FieldError("sort", f"must be one of {', '.join(keys)}, or one of them prefixed with - for descending")
    return keys[name], descending


def leaderboard_best(*, challenge: Challenge, verified_only: bool = False) -> QuerySet[Submission]:
    """Each participant's best scored submission; with ``verified_only``, their best verified one."""
    if not verified_only:
        return Submission.objects.filter(challenge=challenge, is_best=True)
    # Rare enough to rank on the fly: the best verified submission may not be the best one.
    firsts = (
        Submission.objects.filter(challenge=challenge, status=SubmissionStatus.SCORED, verified=True,
                                  score__isnull=False)
        .annotate(nth=Window(RowNumber(), partition_by=[F("participant_id")], order_by=list(RANK_ORDER)))
        .filter(nth=1)
        .values("id")
    )
    return Submission.objects.filter(id__in=firsts)


def leaderboard_page(
    *, challenge: Challenge, sort: str | None = None, page: int = 1, per_page: int | None = None,
    verified_only: bool = False,
) -> LeaderboardPage:
    """One page of a challenge's ranking, in a constant number of queries (a count and the rows).

    Each participant appears once, with their best scored submission (kept as
    ``is_best`` by the scoring service, so this is a scan of a partial index);
    ``verified_only`` ranks only results the platform measured in its own sandbox.
    """
    sort_key, descending = sort_parse(challenge=challenge, sort=sort)
    per_page = per_page or settings.LEADERBOARD_PAGE_SIZE
    best = leaderboard_best(challenge=challenge, verified_only=verified_only)
    total = best.count()
    page_count = max(1, math.ceil(total / per_page))
    page = min(max(1, page), page_count)
    offset = (page - 1) * per_page
    rows = best.select_related("participant").only(
        "id", "score", "statistic_1", "statistic_2", "statistic_3", "created_at", "finished_at", "verified",
        "participant__username", "participant__display_name", "challenge_id",
    )

    if sort_key.field is None:
        order = RANK_ORDER if not descending else tuple(_reverse(o) for o in RANK_ORDER)
        submissions = list(rows.order_by(*order)[offset : offset + per_page])
        count = total
        ranks = [offset + i + 1 if not descending else count - offset - i for i in range(len(submissions))]
    else:
        ordered = sort_key.order_by(descending=descending)
        # The rank stays the rank by score whatever the display order.
        submissions = list(
            rows.annotate(rank=Window(RowNumber(), order_by=list(RANK_ORDER))).order_by(ordered, *RANK_ORDER)[
                offset : offset + per_page
            ]
        )
        ranks = [s.rank for s in submissions]

    return LeaderboardPage(
        challenge=challenge,
        columns=COLUMNS[challenge.scoring],
        rows=[LeaderboardRow(rank=rank, submission=s) for rank, s in zip(ranks, submissions, strict=True)],
        sort=f"{'-' if descending else ''}{sort_key.key}",
        page=page,
        page_count=page_count,
        total=total,
        per_page=per_page,
        verified_only=verified_only,
    )


def _reverse(order: OrderBy) -> OrderBy:
    return order.expression.asc() if order.descending else order.expression.desc()


# --- submissions -------------------------------------------------------------


def submission_queue_position(*, submission: Submission) -> int | None:
    """1 = next to run. Load tests run one at a time on one queue, in order of creation."""
    if submission.status != SubmissionStatus.QUEUED:
        return None
    ahead = Submission.objects.filter(status=SubmissionStatus.QUEUED, created_at__lt=submission.created_at).count()
    running = Submission.objects.filter(status=SubmissionStatus.RUNNING).count()
    return ahead + running + 1


@dataclass(frozen=True)
class Progress:
    status: str
    queue_position: int | None
    elapsed_s: float | None
    duration_s: int
    current_rps: float | None
    current_p95_ms: float | None
    seconds_recorded: int


def submission_progress(*, submission: Submission, now: datetime) -> Progress:
    run = run_progress(run_id=submission.run_id) if submission.run_id else None
    duration = run.duration_s if run else int((submission.challenge.profile or {}).get("duration_s") or 0)
    elapsed = (now - submission.started_at).total_seconds() if submission.started_at else None
    live = run is not None and submission.status == SubmissionStatus.RUNNING
    return Progress(
        status=submission.status,
        queue_position=submission_queue_position(submission=submission),
        elapsed_s=round(elapsed, 1) if elapsed is not None else None,
        duration_s=duration,
        current_rps=run.current_rps if live else None,
        current_p95_ms=run.current_p95_ms if live else None,
        seconds_recorded=run.seconds_recorded if live else 0,
    )


def submission_active_wait_s(*, participant: Participant, now: datetime) -> int:
    """Seconds until the participant's queued or running submission should have finished (at least 1).

    What stands in the way of a new submission is that one: running, it has
    the rest of its load test to go; queued, its own test and, at worst, as
    long again for each one ahead of it (tests run one at a time).
    """
    # The one-active rule holds at most one, and it is the newest: nothing can be submitted after it.
    latest = participant_submissions(participant=participant, limit=1)
    if not latest or not latest[0].is_active:
        return 1
    progress = submission_progress(submission=latest[0], now=now)
    if progress.elapsed_s is not None:
        remaining = progress.duration_s - progress.elapsed_s
    else:
        remaining = progress.duration_s * (progress.queue_position or 1)
    return max(1, math.ceil(remaining))


def participant_submissions(*, participant: Participant, limit: int = 200) -> list[Submission]:
    return list(
        Submission.objects.filter(participant=participant).select_related("challenge").order_by("-created_at", "-id")[:limit]
    )


def submission_for_participant(*, participant: Participant, submission_id: int) -> Submission | None:
    """A participant's own submission; someone else's is as absent as a missing one."""
    return Submission.objects.select_related("challenge").filter(id=submission_id, participant=participant).first()

