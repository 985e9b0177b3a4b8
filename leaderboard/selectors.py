"""Reads of the competition: leaderboards, a submission's progress and chart, scoring input."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from django.conf import settings
from django.db import connections, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import F, Model, OrderBy, QuerySet, Subquery
from django.db.models.expressions import Col

from common.prepared import PreparedQuery, prepared_fetchall
from common.validation import FieldError
from leaderboard.board_rows import FIGURE_FIELDS, Figures, entry_renderings, html_row, json_result, rendering_stamp
from leaderboard.keys import api_key_matches, api_key_prefix
from leaderboard.models import Challenge, LeaderboardEntry, Participant, Submission, SubmissionStatus
from leaderboard.scoring import COLUMNS, SCORE_COLUMNS, Column, Fault, Probe, RunData, Second
from loadtest.selectors import RunRecord, run_progress

ModelT = TypeVar("ModelT", bound=Model)


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
    """The challenges in their tabs' order; the open ones unless ``active_only`` is False."""
    if active_only:
        return _OPEN_CHALLENGES.fetch(alias=router.db_for_read(Challenge))
    return list(Challenge.objects.all())


# Read by every page (the tabs, the home page): compiled once.
_OPEN_CHALLENGES = PreparedQuery(lambda: Challenge.objects.filter(is_active=True))


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

# The ranking order: score descending, ties to the earlier submission, then the
# lower id. The scoring service stores each participant's place in it as
# ``LeaderboardEntry.rank``, so reads order by the rank.
RANK_ORDER = (F("score").desc(), F("created_at").asc(), F("id").asc())
# The columns' older, positional names, still accepted for a challenge's three
# statistics in order (``statistic_2`` is Avg Latency on Robust Service).
STATISTIC_ALIASES = ("statistic_1", "statistic_2", "statistic_3")


@dataclass(frozen=True)
class SortKey:
    """A public sort key of a leaderboard and what it orders by."""

    key: str
    # The LeaderboardEntry field; None for the rank (the ranking order itself).
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


def sort_keys(*, scoring_kind: str) -> dict[str, SortKey]:
    """The keys a leaderboard of this scoring kind sorts by, in the order of its columns: rank, participant, the
    challenge's own statistics by their column keys, score, when."""
    statistics = COLUMNS[scoring_kind]
    keys = [SortKey("rank", None), SortKey("participant", "username")]
    keys += [SortKey(column.key, alias, column) for column, alias in zip(statistics, STATISTIC_ALIASES, strict=True)]
    keys += [SortKey("score", "score", SCORE_COLUMNS[scoring_kind]), SortKey("when", "submitted_at")]
    return {key.key: key for key in keys}


# What a page reads of each entry, in this order.
_ROW_FIELDS = ("rank", "submission_id", "participant_id", "username", "display_name", "score", "statistic_1",
               "statistic_2", "statistic_3", "submitted_at", "verified")
# What a page shown as stored renderings reads of each entry (``shown_as``), in this order.
_SHOWN_FIELDS = {"html": ("rank", "id", "row_html", "rendering"), "json": ("rank", "id", "row_json", "rendering")}


class LeaderboardRow:
    """One ranked participant, as their challenge's board stores them.

    The figures are plain attributes (``score``, ``statistic_1``…); the
    ``submission`` and ``participant`` behind them are model instances built on
    first use, without a query, holding the fields a page shows: the
    submission's id, figures, ``created_at``, ``verified``, ``status``, its
    challenge and participant (``username``, ``display_name``). Any other
    field is read from the database when asked for, as with ``QuerySet.only``.
    """

    __slots__ = (*_ROW_FIELDS, "_challenge", "_db", "_submission")

    def __init__(self, values: tuple, *, challenge: Challenge, db: str) -> None:
        # In the order of _ROW_FIELDS.
        (self.rank, self.submission_id, self.participant_id, self.username, self.display_name, self.score,
         self.statistic_1, self.statistic_2, self.statistic_3, self.submitted_at, self.verified) = values
        self._challenge = challenge
        self._db = db
        self._submission: Submission | None = None

    @property
    def shown_name(self) -> str:
        return self.display_name or self.username

    @property
    def participant(self) -> Participant:
        return self.submission.participant

    @property
    def submission(self) -> Submission:
        if self._submission is None:
            self._submission = _submission_of(self)
        return self._submission

    def __repr__(self) -> str:
        return f"<LeaderboardRow #{self.rank} {self.username} submission {self.submission_id}>"


def _submission_of(row: LeaderboardRow) -> Submission:
    submission = _instance(Submission, row._db, {
        "id": row.submission_id, "participant_id": row.participant_id, "challenge_id": row._challenge.id,
        "verified": row.verified, "status": SubmissionStatus.SCORED, "statistic_1": row.statistic_1,
        "statistic_2": row.statistic_2, "statistic_3": row.statistic_3, "score": row.score,
        "created_at": row.submitted_at,
    })
    participant = _instance(Participant, row._db, {"id": row.participant_id, "username": row.username,
                                                   "display_name": row.display_name})
    Submission.participant.field.set_cached_value(submission, participant)
    Submission.challenge.field.set_cached_value(submission, row._challenge)
    return submission


def _instance(model: type[ModelT], db: str, known: dict) -> ModelT:
    """A model instance as a query with ``.only(*known)`` would give it: the other fields load when read."""
    names = [field.attname for field in model._meta.concrete_fields if field.attname in known]
    return model.from_db(db, names, [known[name] for name in names])


@dataclass(frozen=True)
class LeaderboardPage:
    challenge: Challenge
    columns: tuple[Column, Column, Column]
    # LeaderboardRow, or with ``shown_as`` each row as shown: a ``<tr>`` (SafeString) or a JSON object (str).
    rows: list[LeaderboardRow] | list[str]
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
    keys = sort_keys(scoring_kind=challenge.scoring)
    if sort is None:
        return keys["rank"], False
    descending = sort.startswith("-")
    name = sort[1:] if descending else sort
    aliases = dict(zip(STATISTIC_ALIASES, (column.key for column in COLUMNS[challenge.scoring]), strict=True))
    name = aliases.get(name, name)
    if name not in keys:
        raise FieldError("sort", f"must be one of {', '.join(keys)}, or one of them prefixed with - for descending")
    return keys[name], descending


def leaderboard_board(*, challenge: Challenge, verified_only: bool = False) -> QuerySet[LeaderboardEntry]:
    """A challenge's ranking as stored: each participant's best scored submission (``verified_only``: their best
    verified one), ranked 1…N."""
    return LeaderboardEntry.objects.filter(challenge=challenge, verified_only=verified_only)


def leaderboard_page(
    *, challenge: Challenge, sort: str | None = None, page: int = 1, per_page: int | None = None,
    verified_only: bool = False, shown_as: str | None = None,
) -> LeaderboardPage:
    """One page of a challenge's ranking, in one query (two for a page past the last one).

    The scoring service keeps every participant's rank (``LeaderboardEntry``),
    so the rank's order is a range of the board's rank index, and the number
    of participants is the board's last rank, read in the same query. Any
    other order sorts the board (one narrow row per participant); the rank
    shown stays the rank by score, and equal values keep the rank's order.
    ``verified_only`` reads the board of results the platform measured in its
    own sandbox. ``shown_as`` ``"html"`` or ``"json"`` gives each row as the
    page or the API shows it, from the renderings stored with the entries.
    """
    sort_key, descending = sort_parse(challenge=challenge, sort=sort)
    per_page = per_page or settings.LEADERBOARD_PAGE_SIZE
    board = _Board(challenge=challenge, verified_only=verified_only)
    fields = _SHOWN_FIELDS[shown_as] if shown_as else _ROW_FIELDS
    page = max(1, page)
    rows, total = board.read(sort_key=sort_key, descending=descending, page=page, per_page=per_page, fields=fields)
    if not rows and page > 1:
        # Past the last page: show the last one.
        total = board.entries().order_by("-rank").values_list("rank", flat=True).first() or 0
        page = max(1, math.ceil(total / per_page))
        rows, _ = board.read(sort_key=sort_key, descending=descending, page=page, per_page=per_page, fields=fields)

    return _page_of(challenge=challenge, rows=rows, db=board.db, sort=f"{'-' if descending else ''}{sort_key.key}",
                    page=page, per_page=per_page, total=total, verified_only=verified_only, shown_as=shown_as)


def leaderboard_page_by_slug(
    *, slug: str, sort: str | None = None, page: int = 1, per_page: int | None = None, shown_as: str | None = None,
) -> LeaderboardPage | None:
    """``leaderboard_page`` of the open challenge ``slug``; None when there is no such challenge.

    In the rank's order (the API's first pages) the challenge comes with the
    rows, in one query; for any other order it is read first, as its columns
    decide what may sort.
    """
    per_page = per_page or settings.LEADERBOARD_PAGE_SIZE
    page = max(1, page)
    if sort in (None, "rank"):
        found = _challenge_and_rank_range(slug=slug, offset=(page - 1) * per_page, per_page=per_page,
                                          fields=_SHOWN_FIELDS[shown_as] if shown_as else _ROW_FIELDS)
        if found is None:
            return None
        challenge, rows, total = found
        if rows or page == 1:
            return _page_of(challenge=challenge, rows=rows, db=router.db_for_read(LeaderboardEntry), sort="rank",
                            page=page, per_page=per_page, total=total, verified_only=False, shown_as=shown_as)
    else:
        challenge = Challenge.objects.filter(slug=slug, is_active=True).first()
        if challenge is None:
            return None
    return leaderboard_page(challenge=challenge, sort=sort, page=page, per_page=per_page, shown_as=shown_as)


def _page_of(*, challenge: Challenge, rows: list[tuple], db: str, sort: str, page: int, per_page: int, total: int,
             verified_only: bool, shown_as: str | None) -> LeaderboardPage:
    return LeaderboardPage(
        challenge=challenge,
        columns=COLUMNS[challenge.scoring],
        rows=(_shown_rows(rows, shown_as=shown_as, challenge=challenge, db=db) if shown_as
              else [LeaderboardRow(values, challenge=challenge, db=db) for values in rows]),
        sort=sort,
        page=page,
        page_count=max(1, math.ceil(total / per_page)),
        total=total,
        per_page=per_page,
        verified_only=verified_only,
    )


def _shown_rows(rows: list[tuple], *, shown_as: str, challenge: Challenge, db: str) -> list[str]:
    """Rows of ``_SHOWN_FIELDS[shown_as]`` as shown; one whose stored rendering is out of date is rendered now."""
    current = rendering_stamp(challenge.scoring)
    stale = [entry_id for _, entry_id, _, stamp in rows if stamp != current]
    fresh = _renderings_now(entry_ids=stale, challenge=challenge, db=db) if stale else {}
    column = f"row_{shown_as}"
    shown = html_row if shown_as == "html" else json_result
    return [shown(rank=rank, rendered=fresh[entry_id][column] if entry_id in fresh else rendered)
            for rank, entry_id, rendered, _ in rows]


def _renderings_now(*, entry_ids: list[int], challenge: Challenge, db: str) -> dict[int, dict[str, str]]:
    """The renderings of these entries as this release makes them (not stored: a read does not write)."""
    found = LeaderboardEntry.objects.using(db).filter(id__in=entry_ids).values_list("id", *FIGURE_FIELDS)
    return {row[0]: entry_renderings(figures=Figures(*row[1:]), scoring_kind=challenge.scoring) for row in found}


# What a page read by slug loads of its challenge (anything else loads when read).
_CHALLENGE_FIELDS = ("id", "slug", "name", "scoring", "is_active")


def _challenge_and_rank_range(
    *, slug: str, offset: int, per_page: int, fields: tuple[str, ...],
) -> tuple[Challenge, list[tuple], int] | None:
    """The open challenge ``slug``, the rows (``fields``) of its board of everyone in a range of ranks and the
    board's size.

    One query, in SQL written out (see ``_Board._rank_order_read``); None when
    no open challenge has this slug. An empty range comes back as no rows.
    """
    db = router.db_for_read(LeaderboardEntry)
    connection = connections[db]
    found = prepared_fetchall(alias=db, sql=_challenge_and_rank_range_sql(db, fields),
                              params=[slug, False, False, offset, offset + per_page, slug, True])
    if not found:
        return None
    head = len(_CHALLENGE_FIELDS)
    known = dict(zip(_CHALLENGE_FIELDS, found[0][:head], strict=True))
    challenge = _instance(Challenge, db, {**known, "is_active": bool(known["is_active"])})
    # A challenge without entries in the range still comes, once, with its entry's columns empty.
    values = [row[head:] for row in found if row[head] is not None]
    converters = _row_converters(connection, fields)
    if converters:
        values = [_converted(row, converters, connection) for row in values]
    return challenge, [row[:-1] for row in values], (found[0][-1] or 0)


@functools.cache
def _challenge_and_rank_range_sql(alias: str, fields: tuple[str, ...]) -> str:
    """Parameters: slug, verified_only (the board's size); verified_only, the rank range (the rows); slug, True."""
    quote = connections[alias].ops.quote_name

    def column(model: type[Model], name: str) -> str:
        return quote(model._meta.get_field(name).column)

    challenges, entries = quote(Challenge._meta.db_table), quote(LeaderboardEntry._meta.db_table)
    challenge_id, slug = column(Challenge, "id"), column(Challenge, "slug")
    board_challenge, verified_only, rank = (column(LeaderboardEntry, name)
                                            for name in ("challenge_id", "verified_only", "rank"))
    return (
        f"SELECT {', '.join(f'c.{column(Challenge, name)}' for name in _CHALLENGE_FIELDS)},"
        f" {', '.join(f'e.{column(LeaderboardEntry, name)}' for name in fields)},"
        f" (SELECT b.{rank} FROM {entries} b"
        f" WHERE b.{board_challenge} = (SELECT {challenge_id} FROM {challenges} WHERE {slug} = %s)"
        f" AND b.{verified_only} = %s ORDER BY b.{rank} DESC LIMIT 1) AS {quote('board_size')}"
        f" FROM {challenges} c LEFT JOIN {entries} e ON e.{board_challenge} = c.{challenge_id}"
        f" AND e.{verified_only} = %s AND e.{rank} > %s AND e.{rank} <= %s"
        f" WHERE c.{slug} = %s AND c.{column(Challenge, 'is_active')} = %s"
        f" ORDER BY e.{rank} ASC"
    )


@dataclass(frozen=True)
class _Board:
    """One of a challenge's two stored rankings, read a page at a time."""

    challenge: Challenge
    verified_only: bool

    @property
    def db(self) -> str:
        return router.db_for_read(LeaderboardEntry)

    def entries(self) -> QuerySet[LeaderboardEntry]:
        return leaderboard_board(challenge=self.challenge, verified_only=self.verified_only)

    def read(self, *, sort_key: SortKey, descending: bool, page: int, per_page: int,
             fields: tuple[str, ...]) -> tuple[list[tuple], int]:
        """One page as tuples of ``fields``, and the board's size (0 when the page is empty)."""
        offset = (page - 1) * per_page
        if sort_key.field is None:
            return self._rank_order_read(descending=descending, offset=offset, per_page=per_page, fields=fields)
        entries = self.entries()
        last_rank = entries.order_by("-rank").values("rank")[:1]
        # The rank breaks ties: equal values keep the ranking's order.
        entries = entries.order_by(sort_key.order_by(descending=descending), "rank")[offset : offset + per_page]
        values = list(entries.annotate(board_size=Subquery(last_rank)).values_list(*fields, "board_size"))
        return [row[:-1] for row in values], (values[0][-1] if values else 0)

    def _rank_order_read(self, *, descending: bool, offset: int, per_page: int,
                         fields: tuple[str, ...]) -> tuple[list[tuple], int]:
        """The rank's order — the hottest read of the platform — in SQL written out.

        It is what ``read`` asks the ORM for in any other order, but building
        and compiling that queryset costs more CPU than running it (the ORM
        took 1.5 ms of CPU for a page that this takes 0.45 ms for, measured
        on PostgreSQL), and the leaderboard's database path is mostly this
        query. Table and columns come from the model; values pass through
        the backend's converters (SQLite's dates and booleans), as the ORM's
        would.
        """
        connection = connections[self.db]
        sql = _rank_order_sql(self.db, descending=descending, fields=fields)
        board = [self.challenge.id, self.verified_only]
        values = prepared_fetchall(alias=self.db, sql=sql, params=board + board + (
            [per_page, offset] if descending else [offset, offset + per_page]))
        converters = _row_converters(connection, fields)
        if converters:
            values = [_converted(row, converters, connection) for row in values]
        return [row[:-1] for row in values], (values[0][-1] if values else 0)


@functools.cache
def _rank_order_sql(alias: str, *, descending: bool, fields: tuple[str, ...]) -> str:
    """Parameters: the board (challenge id, verified_only) twice, then the rank range, or LIMIT and OFFSET."""
    quote = connections[alias].ops.quote_name
    table = quote(LeaderboardEntry._meta.db_table)
    column = {name: quote(LeaderboardEntry._meta.get_field(name).column)
              for name in (*fields, "challenge_id", "verified_only")}
    rank, board = column["rank"], f'{column["challenge_id"]} = %s AND {column["verified_only"]} = %s'
    return (
        f"SELECT {', '.join(column[name] for name in fields)},"
        f" (SELECT {rank} FROM {table} WHERE {board} ORDER BY {rank} DESC LIMIT 1) AS {quote('board_size')}"
        f" FROM {table} WHERE {board}"
        + (f" ORDER BY {rank} DESC LIMIT %s OFFSET %s" if descending
           else f" AND {rank} > %s AND {rank} <= %s ORDER BY {rank} ASC")
    )


def _row_converters(connection: BaseDatabaseWrapper, fields: tuple[str, ...]) -> list[tuple[int, list, Col]]:
    """The backend's converters of ``fields`` (none on PostgreSQL), as the ORM would apply them."""
    table = LeaderboardEntry._meta.db_table
    found = []
    for index in _converted_fields(connection, fields):
        column = LeaderboardEntry._meta.get_field(fields[index]).get_col(table)
        found.append((index, connection.ops.get_db_converters(column) + column.get_db_converters(connection), column))
    return found


def _converted_fields(connection: BaseDatabaseWrapper, fields: tuple[str, ...]) -> tuple[int, ...]:
    """Which of ``fields`` the connection's backend converts; asked once per backend."""
    found = _CONVERTED_FIELDS.get((connection.vendor, fields))
    if found is None:
        table = LeaderboardEntry._meta.db_table
        columns = [LeaderboardEntry._meta.get_field(name).get_col(table) for name in fields]
        found = tuple(index for index, column in enumerate(columns)
                      if connection.ops.get_db_converters(column) + column.get_db_converters(connection))
        _CONVERTED_FIELDS[(connection.vendor, fields)] = found
    return found


_CONVERTED_FIELDS: dict[tuple[str, tuple[str, ...]], tuple[int, ...]] = {}


def _converted(row: tuple, converters: list[tuple[int, list, Col]], connection: BaseDatabaseWrapper) -> tuple:
    values = list(row)
    for index, functions, column in converters:
        for function in functions:
            values[index] = function(values[index], column, connection)
    return tuple(values)


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

