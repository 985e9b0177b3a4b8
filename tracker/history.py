"""A target's history reduced for its charts, computed by the database.

A target may have tens of thousands of runs; the page never loads them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Avg, Count, FloatField, Func, IntegerField, Max, Min, Sum, Value
from django.db.models.functions import Floor, Least

from tracker.models import TrackedRun

DB = "tracker"


class Epoch(Func):
    """Seconds since 1970 of a datetime column, as a float, computed by the database."""

    template = "CAST(EXTRACT(EPOCH FROM %(expressions)s) AS double precision)"
    output_field = FloatField()

    def as_sqlite(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection,
                              template="((julianday(%(expressions)s) - 2440587.5) * 86400.0)", **extra)


@dataclass
class ChartSeries:
    """A target's history reduced for charting: at most ~max_points points per figure."""

    points: list[ChartPoint]
    session_runs: dict[str, int]
    commit_marks: list[tuple[float, str, int]]  # (epoch, commit hash, run id)
    run_count: int
    test_types: list[str] = field(default_factory=list)
    t0: float = 0.0
    t1: float = 0.0


@dataclass
class ChartPoint:
    t: float
    session: str
    # Per figure: (lowest, mean, highest) among the runs the point stands for.
    values: dict[str, tuple[float, float, float] | None]
    runs: int
    first_id: int
    last_id: int
    commit: str | None


CHART_FIGURES = ("rps", "avg_latency_ms", "p50_latency_ms", "p95_latency_ms", "p99_latency_ms", "error_rate")
MAX_COMMIT_MARKS = 12


def target_chart_series(*, target_key: str, max_points: int = 300) -> ChartSeries:
    """The history chart's data (and the filters' choices), reduced in the database in one scan.

    Up to ``max_points`` runs come as they are. Beyond that, time is cut into
    ``max_points / 2`` buckets and each session's runs in a bucket come back
    as one point carrying the lowest, mean and highest value of every figure
    (min/max downsampling keeps spikes and dips visible), so a long history
    never travels whole.
    """
    runs = TrackedRun.objects.using(DB).filter(target_key=target_key)
    count = runs.count()
    if not count:
        return ChartSeries(points=[], session_runs={}, commit_marks=[], run_count=0)
    # Both ends come from the (target_key, timestamp) index without a scan.
    t0 = runs.order_by("timestamp", "id").values_list(Epoch("timestamp"), flat=True).first()
    t1 = runs.order_by("-timestamp", "-id").values_list(Epoch("timestamp"), flat=True).first()
    runs = runs.order_by()
    if count <= max_points:
        rows = [
            {**row, "n": 1, "first_id": row["id"], "last_id": row["id"], "first_t": row["t"],
             **{f"{f}_lo": row[f] for f in CHART_FIGURES}, **{f"{f}_hi": row[f] for f in CHART_FIGURES},
             **{f"{f}_sum": row[f] or 0.0 for f in CHART_FIGURES},
             **{f"{f}_n": int(row[f] is not None) for f in CHART_FIGURES}}
            for row in runs.order_by("timestamp", "id").values(
                "id", "session_id", "test_type", "commit_hash", *CHART_FIGURES, t=Epoch("timestamp"))
        ]
        bucket_of = {row["id"]: row["id"] for row in rows}
    else:
        buckets = max(1, max_points // 2)
        span = (t1 - t0) or 1.0
        bucket = Least(Floor((Epoch("timestamp") - Value(t0)) * Value(buckets / span)), Value(buckets - 1),
                       output_field=IntegerField())
        aggregates = {}
        for figure in CHART_FIGURES:
            aggregates[f"{figure}_lo"] = Min(figure)
            aggregates[f"{figure}_hi"] = Max(figure)
            aggregates[f"{figure}_sum"] = Sum(figure)
            aggregates[f"{figure}_n"] = Count(figure)
        # One row per (session, bucket, test type, commit): the points, and
        # also the run count per session, the test types and where each
        # commit first appeared.
        rows = list(
            runs.annotate(bucket=bucket)
            .values("session_id", "bucket", "test_type", "commit_hash")
            .annotate(t=Avg(Epoch("timestamp")), first_t=Min(Epoch("timestamp")), n=Count("id"),
                      first_id=Min("id"), last_id=Max("id"), **aggregates)
        )
        bucket_of = None

    session_runs: dict[str, int] = {}
    commits: dict[str, tuple[float, int]] = {}
    merged: dict[tuple, dict] = {}
    for row in rows:
        session_runs[row["session_id"]] = session_runs.get(row["session_id"], 0) + row["n"]
        commit = row["commit_hash"]
        if commit and (commit not in commits or row["first_t"] < commits[commit][0]):
            commits[commit] = (row["first_t"], row["first_id"])
        key = (row["session_id"], bucket_of[row["id"]] if bucket_of is not None else row["bucket"])
        point = merged.get(key)
        if point is None:
            merged[key] = {**row, "t_sum": row["t"] * row["n"]}
            continue
        point["t_sum"] += row["t"] * row["n"]
        point["n"] += row["n"]
        point["first_id"] = min(point["first_id"], row["first_id"])
        point["last_id"] = max(point["last_id"], row["last_id"])
        point["commit_hash"] = max(filter(None, (point["commit_hash"], commit)), default=None)
        for figure in CHART_FIGURES:
            for end, pick in (("lo", min), ("hi", max)):
                known = [v for v in (point[f"{figure}_{end}"], row[f"{figure}_{end}"]) if v is not None]
                point[f"{figure}_{end}"] = pick(known) if known else None
            point[f"{figure}_sum"] = (point[f"{figure}_sum"] or 0.0) + (row[f"{figure}_sum"] or 0.0)
            point[f"{figure}_n"] += row[f"{figure}_n"]
    points = sorted(
        (
            ChartPoint(
                t=m["t_sum"] / m["n"], session=m["session_id"], runs=m["n"], first_id=m["first_id"],
                last_id=m["last_id"], commit=m["commit_hash"],
                values={
                    f: None if not m[f"{f}_n"] else (m[f"{f}_lo"], m[f"{f}_sum"] / m[f"{f}_n"], m[f"{f}_hi"])
                    for f in CHART_FIGURES
                },
            )
            for m in merged.values()
        ),
        key=lambda p: (p.t, p.first_id),
    )
    marks = sorted((first, commit, run_id) for commit, (first, run_id) in commits.items())
    if len(marks) > MAX_COMMIT_MARKS:
        step = len(marks) / MAX_COMMIT_MARKS
        marks = [marks[int(i * step)] for i in range(MAX_COMMIT_MARKS)]
    return ChartSeries(points=points, session_runs=dict(sorted(session_runs.items(), key=lambda kv: -kv[1])),
                       commit_marks=marks, run_count=count, test_types=sorted({r["test_type"] for r in rows}),
                       t0=t0, t1=t1)
