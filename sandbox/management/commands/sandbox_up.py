"""Start a bundle in a sandbox, with no run, and say how to reach it from this host.

    python manage.py sandbox_up examples/bundles/resilient-anvil.yaml
    python manage.py sandbox_up --json - < my-bundle.yaml

Prints the sandbox id and the entry point's address on the sandbox bridge
(this host reaches it; nothing is published on a host port). The sandbox
stays until ``manage.py sandbox_down ID``, or until the reaper removes it
after ``--ttl`` seconds (SANDBOX_UP_TTL_S). Its url-anvil replicas have no
chaos token. Exit codes: 0 ready, 1 it did not get ready (the reason on
stderr; nothing is left behind), 2 a refused bundle (the field on stderr) or
bad arguments.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from common.validation import FieldError
from sandbox.bundle import MAX_BYTES
from sandbox.engine import ENGINE_ERRORS
from sandbox.management.commands.bundle_check import bundle_file_read
from sandbox.runtime import SandboxNotReady
from sandbox.services import sandbox_up


class Command(BaseCommand):
    help = "Start a bundle in a sandbox (no load) and print how to reach its entry point from this host."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the bundle: YAML or JSON; '-' reads standard input")
        parser.add_argument("--ttl", type=int, help="seconds before the reaper removes it (default SANDBOX_UP_TTL_S)")
        parser.add_argument("--json", action="store_true", help="print the sandbox as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["ttl"] is not None and options["ttl"] < 60:
            raise CommandError("--ttl must be at least 60 seconds", returncode=2)
        text = bundle_file_read(options["file"])
        try:
            found = sandbox_up(bundle_text=text[: MAX_BYTES * 4 + 1], ttl_s=options["ttl"])
        except FieldError as exc:
            where = f"{exc.field}: " if exc.field else ""
            raise CommandError(f"refused: {where}{exc.message}", returncode=2) from None
        except SandboxNotReady as exc:
            raise CommandError(f"not ready: {exc}", returncode=1) from None
        except ENGINE_ERRORS as exc:
            raise CommandError(f"the sandbox could not be started: {exc}", returncode=1) from None
        if options["json"]:
            self.stdout.write(json.dumps(found, indent=2))
            return
        self.stdout.write(f"sandbox {found['id']} ready in {found['ready_s']:.1f} s (network {found['network']})")
        for container in found["containers"]:
            self.stdout.write(f"  {container['name']:<48} {container['role']:<6} {container['state']}")
        self.stdout.write(f"entrypoint: {found['url']}  (from this host; e.g. curl {found['url']}healthz)")
        self.stdout.write(f"remove it: python manage.py sandbox_down {found['id']}")
