"""``manage.py seed_demo [--submit-url URL]``: a demo participant, and its first submission.

Idempotent: the key is created once and kept in ``$VAR_DIR/demo-api-key``
(readable by its owner only), and the first Robust Service submission uses a
fixed idempotency key, so running this again creates nothing new.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from common.validation import FieldError
from leaderboard import services
from leaderboard.models import Participant

DEMO_USERNAME = "demo"
FIRST_RUN_KEY = "seed-demo-first-run"


def _key_write(path: Path, key: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")


class Command(BaseCommand):
    help = "Create the demo participant (printing its key once) and optionally queue its first Robust Service run."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--submit-url", default="", help="Queue one Robust Service submission against this URL (first time only).")
        parser.add_argument("--challenge", default="robust-service")

    def handle(self, *args: object, **options: object) -> None:
        key_path = Path(settings.VAR_DIR) / "demo-api-key"
        participant = Participant.objects.filter(username=DEMO_USERNAME).first()
        if participant is None:
            participant, key = services.participant_create(username=DEMO_USERNAME, display_name="Demo participant")
            _key_write(key_path, key)
            self.stdout.write(f"Created participant {DEMO_USERNAME}; its API key (shown once, kept in {key_path}):\n    {key}")
        elif not key_path.exists():
            key = services.participant_key_rotate(participant=participant)
            _key_write(key_path, key)
            self.stdout.write(f"The demo key file was missing; new API key (kept in {key_path}):\n    {key}")
        else:
            self.stdout.write(f"Participant {DEMO_USERNAME} exists; its API key is in {key_path}")

        url = str(options["submit_url"] or "")
        if not url:
            return
        try:
            submission, created = services.submission_create(
                participant=participant,
                challenge_slug=str(options["challenge"]),
                target_url=url,
                idempotency_key=FIRST_RUN_KEY,
            )
        except services.SubmissionLimitReached as exc:
            # Not an error of the setup: the demo participant is simply busy or done for today.
            self.stderr.write(f"Demo submission not queued: {exc.message}")
            return
        except FieldError as exc:
            raise CommandError(f"could not queue the demo submission: {exc.message}") from None
        verb = "Queued" if created else "Already queued earlier:"
        self.stdout.write(f"{verb} demo submission {submission.id} ({submission.status}) against {url}")
