#!/usr/bin/env python
"""Bare url-anvil against the resilient reference setup, under the three challenges.

    .venv/bin/python benchmarks/resilience_bench.py [--scale 1.0] [--noise-runs 5] [--only bare|resilient]
    .venv/bin/python benchmarks/resilience_bench.py --noise-runs 0 --challenges graceful-degradation,longest-upkeep

Starts ``examples/bare-anvil`` and ``examples/resilient-anvil`` one after the
other on free ports, runs every challenge (its real profile and chaos plan,
time-scaled with ``--scale`` for a shorter version) against each with the
load-test engine (``loadtest.services.run_execute``), and scores each run with
the same functions a submission is scored with. Then it runs Robust Service
``--noise-runs`` times more against one setup to measure run-to-run noise (the
coefficient of variation of the score). Prints Markdown for docs/benchmarks.md.
Every challenge starts from a freshly started setup, as a new submission would:
a bare anvil that a challenge's crash took down stays down until then.

Everything runs on the embedded defaults under a throw-away VAR_DIR (SQLite,
the file fault store); each setup gets its own fault store, so chaos aimed at
one never reaches the other.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common.net import free_port  # noqa: E402

CHALLENGES = ("robust-service", "graceful-degradation", "longest-upkeep")
NOISE_CHALLENGE = "robust-service"


@dataclass
class Setup:
    name: str
    script: Path
    env: dict[str, str]
    url: str

    def start(self) -> None:
        result = subprocess.run(
            ["bash", str(self.script), "start"], env=self.env, cwd=ROOT, capture_output=True, text=True
        )
        if result.returncode != 0:
            raise RuntimeError(f"{self.name} did not start:\n{result.stdout}{result.stderr}")
        print(f"# {self.name}: {result.stdout.strip()}", file=sys.stderr)

    def stop(self) -> None:
        subprocess.run(["bash", str(self.script), "stop"], env=self.env, cwd=ROOT, capture_output=True, text=True)


def setups_make(*, var_dir: Path) -> dict[str, Setup]:
    base = {key: value for key, value in os.environ.items() if key != "PROMETHEUS_MULTIPROC_DIR"}
    bare_port = free_port()
    bare_var = var_dir / "bare"
    lb_port = free_port()
    resilient_var = var_dir / "resilient"
    return {
        "bare": Setup(
            name="bare",
            script=ROOT / "examples" / "bare-anvil" / "run.sh",
            env={**base, "VAR_DIR": str(bare_var), "ANVIL_STATE_DIR": str(bare_var / "anvil"), "PORT": str(bare_port)},
            url=f"http://127.0.0.1:{bare_port}",
        ),
        "resilient": Setup(
            name="resilient",
            script=ROOT / "examples" / "resilient-anvil" / "run.sh",
            env={
                **base,
                "VAR_DIR": str(resilient_var),
                "ANVIL_STATE_DIR": str(resilient_var / "anvil"),
                "LB_PORT": str(lb_port),
                "STATS_PORT": str(free_port()),
                "REPLICA_PORTS": ",".join(str(free_port()) for _ in range(3)),
            },
            url=f"http://127.0.0.1:{lb_port}",
        ),
    }


def challenge_scaled(*, profile: dict, chaos_plan: list[dict], scale: float) -> tuple[dict, list[dict]]:
    """The challenge with every duration and offset multiplied by ``scale`` (a shorter version of it)."""
    if scale == 1.0:
        return dict(profile), [dict(event) for event in chaos_plan]
    profile = dict(profile, duration_s=max(10, round(profile["duration_s"] * scale)))
    for key in ("step_every_s", "spike_at_s", "spike_duration_s"):
        if key in profile:
            profile[key] = max(1, round(profile[key] * scale))
    plan = [
        dict(event, at_s=round(event["at_s"] * scale, 1), duration_s=max(1.0, round(event["duration_s"] * scale, 1)))
        for event in chaos_plan
    ]
    return profile, plan


@dataclass
class Outcome:
    setup: str
    challenge: str
    status: str
    score: float
    statistics: tuple
    requests: int
    failures: int
    error: str


def challenge_run(*, setup: Setup, slug: str, scale: float) -> Outcome:
    from django.test import override_settings

    from leaderboard.models import Challenge
    from leaderboard.scoring import run_score
    from leaderboard.selectors import run_scoring_input
    from loadtest.models import RunStatus
    from loadtest.selectors import run_record
    from loadtest.services import run_create, run_execute

    challenge = Challenge.objects.get(slug=slug)
    profile, plan = challenge_scaled(profile=challenge.profile, chaos_plan=challenge.chaos_plan, scale=scale)
    # The engine applies the plan through this setup's own fault store.
    # The setups listen on free ports of this machine: each is allowed as exactly its host:port.
    target = setup.url.removeprefix("http://")
    with override_settings(ANVIL_STATE_DIR=Path(setup.env["ANVIL_STATE_DIR"]).resolve(),
                           LOADTEST_ALLOWED_TARGET_HOSTS=[target]):
        run = run_create(target_url=setup.url, profile=profile, chaos_plan=plan, origin="benchmark")
        run = run_execute(run_id=run.id)
    if run.status != RunStatus.COMPLETED:
        return Outcome(
            setup.name, slug, run.status, 0.0, (None, None, None), run.total_requests, run.total_failures, run.error
        )
    result = run_score(kind=challenge.scoring, run=run_scoring_input(run=run_record(run_id=run.id)), threshold_pct=challenge.up_threshold_pct)
    return Outcome(
        setup.name, slug, run.status, result.score, result.statistics, run.total_requests, run.total_failures, ""
    )


def _fmt(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="time scale of the challenges (0.5: half as long)")
    parser.add_argument("--noise-runs", type=int, default=5, help="extra Robust Service runs for the noise figure")
    parser.add_argument("--noise-setup", choices=("bare", "resilient"), default="resilient")
    parser.add_argument("--only", choices=("bare", "resilient"), help="benchmark one setup only")
    parser.add_argument("--challenges", default=",".join(CHALLENGES), help="comma-separated challenge slugs")
    args = parser.parse_args(argv)

    var_dir = Path(tempfile.mkdtemp(prefix="resilience-bench-"))
    # Self-contained: embedded database and fault store, whatever the shell has set.
    for name in (
        "DATABASE_URL",
        "TRACKER_DATABASE_URL",
        "REDIS_URL",
        "CELERY_BROKER_URL",
        "LOADTEST_ANVIL_CONTROL_URL",
    ):
        os.environ.pop(name, None)
    os.environ["VAR_DIR"] = str(var_dir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "chaoschallenge.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    setups = setups_make(var_dir=var_dir)
    names = [args.only] if args.only else ["bare", "resilient"]
    slugs = [slug for slug in args.challenges.split(",") if slug]

    outcomes: list[Outcome] = []
    noise: list[Outcome] = []
    started = time.monotonic()
    for name in names:
        setup = setups[name]
        setup.start()
        try:
            for index, slug in enumerate(slugs):
                if index:
                    # A crash that took a bare anvil down is nobody's to undo:
                    # like a new submission, every challenge starts afresh.
                    setup.stop()
                    setup.start()
                outcome = challenge_run(setup=setup, slug=slug, scale=args.scale)
                outcomes.append(outcome)
                print(
                    f"# {name} {slug}: {outcome.status} score {outcome.score:.1f} {outcome.statistics}", file=sys.stderr
                )
            if name == args.noise_setup:
                for i in range(args.noise_runs):
                    outcome = challenge_run(setup=setup, slug=NOISE_CHALLENGE, scale=args.scale)
                    noise.append(outcome)
                    print(f"# noise {i + 1}/{args.noise_runs}: score {outcome.score:.1f}", file=sys.stderr)
        finally:
            setup.stop()

    by_key = {(o.setup, o.challenge): o for o in outcomes}
    print(
        f"Challenges at time scale {args.scale} ({sum(1 for _ in outcomes)} runs, {time.monotonic() - started:.0f} s)."
    )
    print()
    print("| Challenge | Bare score | Resilient score | Resilient / bare | Bare statistics | Resilient statistics |")
    print("| --- | ---: | ---: | ---: | --- | --- |")
    for slug in slugs:
        bare, resilient = by_key.get(("bare", slug)), by_key.get(("resilient", slug))
        ratio = (
            f"{resilient.score / bare.score:.2f}x"
            if bare and resilient and bare.score > 0
            else ("∞" if bare and resilient and resilient.score > 0 else "—")
        )

        def stats(o: Outcome | None) -> str:
            if o is None:
                return "—"
            if o.status != "completed":
                return f"{o.status}: {o.error[:60]}"
            return " / ".join(_fmt(v) for v in o.statistics) + f" ({o.requests:,} req, {o.failures:,} failed)"

        print(
            f"| {slug} | {_fmt(bare.score if bare else None)} | {_fmt(resilient.score if resilient else None)} "
            f"| {ratio} | {stats(bare)} | {stats(resilient)} |"
        )
    if noise:
        scores = [o.score for o in noise]
        mean = statistics.fmean(scores)
        stdev = statistics.stdev(scores) if len(scores) > 1 else 0.0
        print()
        print(
            f"Noise: {NOISE_CHALLENGE} x {len(scores)} on {args.noise_setup}: scores "
            f"{', '.join(f'{s:.1f}' for s in scores)}; mean {mean:.1f}, stdev {stdev:.2f}, "
            f"coefficient of variation {100 * stdev / mean if mean else float('nan'):.1f}%"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
