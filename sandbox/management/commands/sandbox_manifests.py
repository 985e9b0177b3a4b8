"""Print every object the Kubernetes backend would create for a bundle, as YAML.

    python manage.py sandbox_manifests examples/bundles/resilient-anvil.yaml
    python manage.py sandbox_manifests my-bundle.yaml --submission 12 | kubectl apply --dry-run=server -f -

The namespace, its RoleBinding, quota, limit range and network policies, the
participant's objects as rewritten, and the load Job, in the order they are
created. ``--submission N`` takes the owner, quota and profile of the
submission's latest run (and names the namespace after it); without it they
are placeholders and the challenge quota is the platform's default. The
images are the cluster's (SANDBOX_K8S_REGISTRY, SANDBOX_K8S_DIGESTS).

Exit codes: 0 printed, 2 refused (the bundle, the settings or the arguments).
"""

from __future__ import annotations

import time
from typing import Any

import yaml
from django.core.management.base import BaseCommand, CommandError, CommandParser

from common.validation import FieldError
from loadtest import hooks
from loadtest import selectors as engine_selectors
from loadtest import services as engine_services
from sandbox.bundle import DEFAULT_QUOTA
from sandbox.kube.config import KubeUnavailable, kube_settings
from sandbox.kube.objects import Identity, entrypoint_url, sandbox_objects
from sandbox.kube.spec import kube_spec_build, quota_of
from sandbox.management.commands.bundle_check import bundle_file_read

# The competition's name for the runs it asks for (leaderboard.services.RUN_ORIGIN).
SUBMISSION_ORIGIN = "submission"
PREVIEW_LIFETIME_S = 3600


class Command(BaseCommand):
    help = "Print, as YAML, every Kubernetes object the sandbox backend would create for a bundle."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the bundle: YAML or JSON; '-' reads standard input")
        parser.add_argument("--submission", type=int, metavar="N",
                            help="label, size and profile the objects as for submission N's run")

    def handle(self, *args: Any, **options: Any) -> None:
        text = bundle_file_read(options["file"])
        config = kube_settings()
        run = self._run(options["submission"])
        quota = quota_of(run.place_spec) if run is not None and "quota" in run.place_spec else DEFAULT_QUOTA
        try:
            spec = kube_spec_build(bundle_text=text, quota=quota, ready_s=60)
            placement = config.placement()
        except FieldError as exc:
            where = f"{exc.field}: " if exc.field else ""
            raise CommandError(f"refused: {where}{exc.message}", returncode=2) from None
        except KubeUnavailable as exc:
            raise CommandError(f"settings: {exc}", returncode=2) from None
        identity = self._identity(run, submission=options["submission"])
        profile = run.profile if run is not None else engine_services.run_config_validate(profile={}, chaos_plan=[])[0]
        target = entrypoint_url(identity)
        objects = sandbox_objects(
            objects=spec["objects"], images=spec["images"], quota=quota_of(spec), identity=identity,
            placement=placement, processes=run.processes if run is not None else 1,
            runner_arguments=hooks.runner_arguments(target_url=target, profile=profile,
                                                    processes=run.processes if run is not None else 1,
                                                    probe_url=f"{target}/healthz"),
            # Placeholders: the real ones are made per run and never printed.
            anvil_token="<per-run token>", secret_key="<per-run secret key>",
        )
        self.stdout.write(yaml.safe_dump_all(objects.all(), sort_keys=False, explicit_start=True), ending="")

    def _run(self, submission: int | None):
        if submission is None:
            return None
        run = engine_selectors.run_latest_of(origin=SUBMISSION_ORIGIN, origin_ref=str(submission))
        if run is None:
            raise CommandError(f"--submission {submission}: the platform made no run for it", returncode=2)
        return run

    def _identity(self, run, *, submission: int | None) -> Identity:
        if run is None:
            return Identity(sandbox_id="preview", deadline=int(time.time()) + PREVIEW_LIFETIME_S, origin="preview")
        deadline = run.deadline_at.timestamp() if run.deadline_at else time.time() + PREVIEW_LIFETIME_S
        return Identity(sandbox_id=f"s{submission}-r{run.id}", deadline=int(deadline), run=str(run.id),
                        origin=f"{run.origin}-{run.origin_ref}", owner=run.owner)
