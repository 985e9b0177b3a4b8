"""Remove a sandbox (every container, network and volume of it) by its id.

    python manage.py sandbox_down 3f9a0c12de
    python manage.py sandbox_down --list

Exit codes: 0 removed (or ``--list``), 1 no such sandbox or no engine, 2 bad arguments.
"""

from __future__ import annotations

import re
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sandbox.engine import ENGINE_ERRORS, EngineUnavailable, engine_check
from sandbox.selectors import sandboxes_list
from sandbox.services import sandbox_down

_ID = re.compile(r"[0-9a-f]{10}")


class Command(BaseCommand):
    help = "Remove a sandbox by id (see sandbox_up), or list the sandboxes on the engine."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("id", nargs="?", help="the sandbox id (10 hex digits)")
        parser.add_argument("--list", action="store_true", help="list the sandboxes instead")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["list"]:
                self._list()
                return
            if not options["id"] or not _ID.fullmatch(options["id"]):
                raise CommandError("give the sandbox id: 10 hex digits, as sandbox_up printed it", returncode=2)
            removed = sandbox_down(sandbox_id=options["id"])
        except (EngineUnavailable, *ENGINE_ERRORS) as exc:
            raise CommandError(str(exc), returncode=1) from None
        if not removed:
            raise CommandError(f"no sandbox {options['id']} on the engine", returncode=1)
        self.stdout.write(f"sandbox {options['id']} removed ({removed} objects)")

    def _list(self) -> None:
        client = engine_check()
        try:
            found = sandboxes_list(client=client)
        finally:
            client.close()
        now = time.time()
        for entry in found:
            left = int(entry["deadline"] - now)
            self.stdout.write(f"{entry['id']}  run {entry['run'] or '-':<6} {entry['origin'] or '-':<20} "
                              f"{entry['containers']} containers, {entry['networks']} network  "
                              f"{'expired' if left <= 0 else f'{left} s left'}")
