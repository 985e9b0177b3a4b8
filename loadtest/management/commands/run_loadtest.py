"""``python manage.py run_loadtest --target URL …``: one load test from the command line.

``--bundle FILE`` instead of ``--target`` runs a bundle (Kubernetes manifests)
in a sandbox the platform starts for the run and loads its ``entrypoint``
Service; the result then has a ``sandbox`` section.

``--async`` only queues the run; ``--follow ID`` watches a queued or running
run live until it ends and then prints its result as a synchronous run would
(Ctrl-C stops watching, not the run).

Exit codes: 0 the run completed, 1 it failed or was cancelled (a sandbox that
never got ready included), 2 bad arguments, a refused bundle (the field is
named) or an unknown run id; each non-zero exit comes with a one-line reason
on stderr.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from common.progress_line import ProgressLine
from common.validation import FieldError
from loadtest import hooks, services
from loadtest.models import FINISHED_STATUSES, LoadTestRun, RunStatus
from loadtest.profiles import SHAPES
from loadtest.selectors import RunProgress, run_progress, run_summary
from loadtest.targets import TargetNotAllowed
from loadtest.tracker_client import run_track, tracking_problem

EXIT_FAILED = 1
EXIT_USAGE = 2
# The place that runs bundles (registered by the sandbox app), and the most of
# a bundle file read: a byte past the limit the place checks.
BUNDLE_PLACE = "sandbox"
BUNDLE_MAX_READ = 256 * 1024 + 1
# How often --follow reads the run's progress: its seconds are stored about once a second.
FOLLOW_POLL_S = 0.5
# Flags that describe a new run, which --follow (watching an existing one) refuses.
NEW_RUN_OPTIONS = ("target", "bundle", "challenge", "tasks", "chaos_plan", "processes", "run_async")

# CLI flag → profile field; only flags that were given go into the profile, so
# loadtest.profiles fills in the same defaults everywhere.
PROFILE_FLAGS = {
    "users": "users", "spawn_rate": "spawn_rate", "duration": "duration_s", "shape": "shape",
    "timeout": "timeout_s", "connect_timeout": "connect_timeout_s", "wait_min": "wait_min_s",
    "wait_max": "wait_max_s", "step_users": "step_users", "step_every": "step_every_s",
    "max_users": "max_users", "spike_users": "spike_users", "spike_at": "spike_at_s",
    "spike_duration": "spike_duration_s",
}


class Command(BaseCommand):
    help = "Run a load test (optionally with a chaos plan) against a target and print the results."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--target", help="base URL to load (must be on the allow-list)")
        parser.add_argument("--bundle", metavar="FILE",
                            help="run this bundle (YAML/JSON manifests; '-' reads stdin) in a sandbox and load it")
        parser.add_argument("--challenge", metavar="SLUG", help="use this challenge's profile and chaos plan")
        parser.add_argument("--users", type=int, help="simulated users (the start for step, the base for spike)")
        parser.add_argument("--spawn-rate", type=float, help="users started per second")
        parser.add_argument("--duration", type=int, help="seconds of load")
        parser.add_argument("--shape", choices=SHAPES, help="constant (default), step or spike")
        parser.add_argument("--step-users", type=int, help="step: users added per step")
        parser.add_argument("--step-every", type=int, help="step: seconds between steps")
        parser.add_argument("--max-users", type=int, help="step: ceiling")
        parser.add_argument("--spike-users", type=int, help="spike: users during the spike")
        parser.add_argument("--spike-at", type=int, help="spike: second the spike starts")
        parser.add_argument("--spike-duration", type=int, help="spike: seconds it lasts")
        parser.add_argument("--timeout", type=float, help="request timeout in seconds")
        parser.add_argument("--connect-timeout", type=float, help="connect timeout in seconds")
        parser.add_argument("--wait-min", type=float, help="least think time between a user's requests (s)")
        parser.add_argument("--wait-max", type=float, help="most think time between a user's requests (s)")
        parser.add_argument("--tasks", help='task weights as JSON, e.g. \'{"sample_urls": 1, "test": 1}\'')
        parser.add_argument("--chaos-plan", metavar="FILE.json", help="a JSON list of timed faults")
        parser.add_argument("--processes", type=int, help="Locust worker processes on this host (default 1)")
        parser.add_argument("--async", dest="run_async", action="store_true",
                            help="enqueue on the load-test queue and print the run id (watch it with --follow)")
        parser.add_argument("--follow", metavar="RUN_ID", type=int,
                            help="watch a queued or running run until it ends, then print its result")
        parser.add_argument("--json", dest="as_json", action="store_true", help="print the result as JSON")
        parser.add_argument("--track", action="store_true", help="record the finished run in your tracker")
        parser.add_argument("--session", help="tracker session name (with --track)")
        parser.add_argument("--commit", help="commit hash of your setup (with --track)")

    # --- arguments ----------------------------------------------------------------
    def _usage_error(self, message: str) -> CommandError:
        return CommandError(message, returncode=EXIT_USAGE)

    def _profile_and_plan(self, options: dict) -> tuple[dict, list | None]:
        given = {field: options[flag] for flag, field in PROFILE_FLAGS.items() if options.get(flag) is not None}
        if options.get("tasks"):
            try:
                given["tasks"] = json.loads(options["tasks"])
            except ValueError as exc:
                raise self._usage_error(f"--tasks is not valid JSON: {exc}") from None
            except RecursionError:
                raise self._usage_error("--tasks is nested too deeply") from None
        plan = None
        if options.get("chaos_plan"):
            path = Path(options["chaos_plan"])
            try:
                plan = json.loads(path.read_text())
            except OSError as exc:
                raise self._usage_error(f"--chaos-plan {path}: {exc.strerror}") from None
            except ValueError as exc:
                raise self._usage_error(f"--chaos-plan {path} is not valid JSON: {exc}") from None
            except RecursionError:
                raise self._usage_error(f"--chaos-plan {path} is nested too deeply") from None
        if not options.get("challenge"):
            return given, plan
        if given or plan is not None:
            raise self._usage_error("--challenge takes the profile and chaos plan from the challenge; "
                                    "drop the explicit profile flags / --chaos-plan")
        try:
            found = hooks.profile_source_lookup(name="challenge", key=options["challenge"])
        except hooks.UnknownProfileSource:
            raise self._usage_error("--challenge needs the competition (leaderboard app), which is not installed") from None
        if found is None:
            raise self._usage_error(f"no challenge with slug {options['challenge']!r}")
        profile, chaos_plan = found
        return dict(profile), list(chaos_plan or [])

    # --- the command --------------------------------------------------------------
    def handle(self, *args, **options) -> None:
        if options["track"] and options["run_async"]:
            raise self._usage_error("--track needs the result, so it cannot be combined with --async")
        if (options.get("session") or options.get("commit")) and not options["track"]:
            raise self._usage_error("--session and --commit only make sense with --track")
        if options["track"] and tracking_problem():
            # Said before the load test, not after it.
            raise self._usage_error(f"--track: {tracking_problem()}")
        if options.get("follow") is not None:
            self._follow(run_id=options["follow"], options=options)
            return
        if bool(options.get("target")) == bool(options.get("bundle")):
            raise self._usage_error("give either --target URL or --bundle FILE")
        profile, plan = self._profile_and_plan(options)
        place, place_spec = "local", None
        if options.get("bundle"):
            place = BUNDLE_PLACE
            try:
                place_spec = services.run_place_spec_build(place=place, given={"bundle": self._bundle_read(options["bundle"])})
            except FieldError as exc:
                where = f"{exc.field}: " if exc.field else ""
                raise self._usage_error(f"refused: {where}{exc.message}") from None
        processes = 1 if options.get("processes") is None else options["processes"]
        try:
            with transaction.atomic():
                run = services.run_create(target_url=options.get("target") or "", profile=profile, chaos_plan=plan,
                                          processes=processes, origin="cli", place=place,
                                          place_spec=place_spec)
                if options["run_async"]:
                    services.run_enqueue(run_id=run.pk)
        except FieldError as exc:
            raise self._usage_error(f"bad profile or chaos plan: {exc}") from None
        except TargetNotAllowed as exc:
            raise self._usage_error(str(exc)) from None

        if options["run_async"]:
            follow = f"manage.py run_loadtest --follow {run.pk}"
            if options["as_json"]:
                self.stdout.write(json.dumps({"id": run.pk, "status": run.status, "follow": follow}))
            else:
                self.stdout.write(f"queued run {run.pk} on the load-test queue; watch it with: {follow}")
            return

        run = self._execute(run_id=run.pk, quiet=options["as_json"])
        self._result_report(run=run, options=options)

    def _result_report(self, *, run: LoadTestRun, options: dict) -> None:
        """The end of a run, synchronous or followed: its summary, tracking, and the exit code."""
        summary = run_summary(run=run)
        if "sandbox" in (summary.get("generator") or {}):
            summary["sandbox"] = summary["generator"]["sandbox"]
        if options["as_json"]:
            self.stdout.write(json.dumps(summary, indent=2))
        else:
            self._summary_print(summary)
        if options["track"]:
            try:
                run_track(run=run, session=options.get("session"), commit=options.get("commit"), stdout=self.stdout)
            except Exception as exc:  # reported below and turned into the exit code
                raise CommandError(f"run {run.pk} {run.status}, but tracking failed: {exc}",
                                   returncode=EXIT_FAILED) from exc
        if run.status != RunStatus.COMPLETED:
            raise CommandError(f"run {run.pk} {run.status}: {run.error or 'no reason recorded'}",
                               returncode=EXIT_FAILED)

    def _bundle_read(self, name: str) -> str:
        try:
            if name == "-":
                data = sys.stdin.buffer.read(BUNDLE_MAX_READ)
            else:
                with open(name, "rb") as f:
                    data = f.read(BUNDLE_MAX_READ)
        except OSError as exc:
            raise self._usage_error(f"--bundle {name}: {exc.strerror}") from None
        # An oversized bundle is the place's to refuse by size; the cut may fall inside a character.
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            if len(data) >= BUNDLE_MAX_READ:
                return data.decode("utf-8", "replace")
            raise self._usage_error(f"--bundle {name}: not UTF-8 text (byte {exc.start})") from None

    def _signals_catch(self, flag: threading.Event) -> dict:
        """SIGINT/SIGTERM only set ``flag`` while the command works; returns the handlers to put back."""
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                previous[signum] = signal.signal(signum, lambda signum, frame: flag.set())
        return previous

    def _execute(self, *, run_id: int, quiet: bool) -> LoadTestRun:
        # Ctrl-C only sets the flag: the orchestrator stops the runner, clears
        # faults and records the run as cancelled at its next check (within a second).
        cancel = threading.Event()
        previous = self._signals_catch(cancel)
        line = ProgressLine(self.stderr._out)

        def progress(update: dict) -> None:
            if not quiet:
                line.show(progress_text(update))

        try:
            with line.logging_around():
                run = services.run_execute(run_id=run_id, progress=progress, cancel_check=cancel.is_set)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            line.end()
        return run

    def _follow(self, *, run_id: int, options: dict) -> None:
        given = [f"--{name.replace('_', '-')}" for name in (*NEW_RUN_OPTIONS, *PROFILE_FLAGS)
                 if options.get(name) is not None and options.get(name) is not False]
        if given:
            flags = ", ".join("--async" if flag == "--run-async" else flag for flag in given)
            raise self._usage_error(f"--follow watches an existing run; drop {flags}")
        progress = run_progress(run_id=run_id, with_health=True)
        if progress is None:
            raise self._usage_error(f"--follow: there is no run {run_id}")
        quiet = options["as_json"]
        stop = threading.Event()
        previous = self._signals_catch(stop)
        line = ProgressLine(self.stderr._out)
        shown: tuple | None = None
        try:
            with line.logging_around():
                while progress.status not in FINISHED_STATUSES:
                    if not quiet:
                        shown = self._follow_show(line=line, run_id=run_id, progress=progress, shown=shown)
                    if stop.wait(FOLLOW_POLL_S):
                        raise CommandError(f"stopped watching run {run_id} before it ended ({progress.status}); "
                                           f"it goes on: --follow {run_id} watches it again", returncode=EXIT_FAILED)
                    progress = run_progress(run_id=run_id, with_health=True)
                    if progress is None:
                        raise CommandError(f"run {run_id} was deleted while being watched", returncode=EXIT_FAILED)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            line.end()
        self._result_report(run=LoadTestRun.objects.get(pk=run_id), options=options)

    def _follow_show(self, *, line: ProgressLine, run_id: int, progress: RunProgress,
                     shown: tuple | None) -> tuple | None:
        """Draw what changed since the last poll: the wait for a worker, then each new second."""
        if progress.status == RunStatus.QUEUED:
            if shown != ("queued",):
                line.show(f"run {run_id} queued: waiting for a load-test worker")
            return ("queued",)
        if not progress.seconds_recorded:
            if shown != ("starting",):
                line.show(f"run {run_id} running: starting the load")
            return ("starting",)
        key = (progress.seconds_recorded, progress.target_up, progress.active_faults)
        if key != shown:
            line.show(progress_text({
                "elapsed_s": min(progress.seconds_recorded, progress.duration_s), "duration_s": progress.duration_s,
                "rps": progress.current_rps or 0.0, "p95_ms": progress.current_p95_ms,
                "failures": progress.current_failures or 0, "active_users": progress.current_users or 0,
                "up": progress.target_up, "active_faults": progress.active_faults,
            }))
        return key

    def _summary_print(self, summary: dict) -> None:
        totals = summary["totals"]
        profile = summary["profile"]

        def ms(value) -> str:
            return "-" if value is None else f"{value:.1f}"

        kinds = ", ".join(f"{kind}: {count}" for kind, count in totals["failures_by_kind"].items())
        probes = summary["probes"]
        down = probes["down_seconds"]
        lines = [
            f"run {summary['id']}  {summary['status']}  {summary['target_url']}  "
            f"({profile['duration_s']}s, {profile['shape']}, {profile['users']} users, "
            f"{summary['processes']} process{'es' if summary['processes'] != 1 else ''})",
            f"  requests   {totals['requests']:>10}   successes {totals['successes']:>10}   "
            f"failures {totals['failures']:>8}{f'  ({kinds})' if kinds else ''}",
            f"  rps        {totals['rps'] or 0:>10.1f}",
            f"  latency ms avg {ms(totals['latency_avg_ms'])}  p50 {ms(totals['latency_p50_ms'])}  "
            f"p95 {ms(totals['latency_p95_ms'])}  p99 {ms(totals['latency_p99_ms'])}  "
            f"max {ms(totals['latency_max_ms'])}",
            f"  health     {probes['probed_seconds']} s probed, {len(down)} down"
            f"{' (s ' + ', '.join(map(str, down[:20])) + (' …' if len(down) > 20 else '') + ')' if down else ''}"
            f"; instances seen {len(probes['instances'])}",
        ]
        for event in summary["chaos_events"]:
            applied = "-" if event["applied_second"] is None else f"{event['applied_second']:.2f}s"
            cleared = "-" if event["cleared_second"] is None else f"{event['cleared_second']:.2f}s"
            lines.append(f"  chaos #{event['index']} {event['kind']:<9} at {event['at_s']:g}s for "
                         f"{event['duration_s']:g}s: applied {applied}, cleared {cleared}"
                         f"{'  ' + event['error'] if event['error'] else ''}")
        sandbox = summary.get("sandbox")
        if sandbox:
            kinds = sorted({c["pod"] for c in sandbox["containers"] if c["role"] == "app"})
            ready = "-" if sandbox.get("ready_s") is None else f"{sandbox['ready_s']:.1f}s"
            lines.append(f"  sandbox    {sandbox['id']} ({sandbox['backend']}): ready in {ready}, {len(kinds)} pods, "
                         f"{sandbox['restarts']} restarts, {'torn down' if sandbox['torn_down'] else 'NOT torn down'}")
        if summary["error"]:
            lines.append(f"  error      {summary['error']}")
        self.stdout.write("\n".join(lines))


def progress_text(update: dict) -> str:
    """One second of a run as the live line shows it, whether the run is here or watched with --follow."""
    up = {True: "up", False: "DOWN", None: "?"}[update["up"]]
    p95 = f"{update['p95_ms']:.1f}ms" if update["p95_ms"] is not None else "-"
    return (f"[{update['elapsed_s']:>4}/{update['duration_s']}s] rps {update['rps']:>7.1f}  p95 {p95:>9}  "
            f"failures {update['failures']:>5}  users {update['active_users']:>4}  {up:<4}  "
            f"faults {update['active_faults']}")
