"""The host firewall rules that seal sandbox networks off: install, check, remove (needs root).

    python manage.py sandbox_firewall install     # idempotent; CI and dev setups run it once
    python manage.py sandbox_firewall status
    python manage.py sandbox_firewall remove

A sandbox checks the rules before it starts (SANDBOX_FIREWALL=check) or
installs them itself when it may (SANDBOX_FIREWALL=install, the default).
Exit codes: 0 in place (or removed), 1 not in place / not possible, 2 bad arguments.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sandbox.engine import sandbox_settings
from sandbox.firewall import CHAIN_RULES, JUMPS, FirewallError, firewall_ensure, firewall_remove, firewall_status


class Command(BaseCommand):
    help = "Install, check or remove the firewall rules that keep sandbox containers from the host."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["install", "status", "remove"])

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["action"] == "install":
                firewall_ensure(lock_dir=sandbox_settings().state_dir, install=True)
            elif options["action"] == "remove":
                firewall_remove()
                self.stdout.write("sandbox firewall rules removed")
                return
        except FirewallError as exc:
            raise CommandError(str(exc), returncode=1) from None
        states = firewall_status()
        for state in states:
            self.stdout.write(f"{state.family}: {'in place' if state.installed else 'NOT in place: ' + state.problem}")
        if options["action"] == "status":
            for parent, rule in JUMPS:
                self.stdout.write(f"  -A {parent} {' '.join(rule)}")
            for chain, rules in CHAIN_RULES.items():
                for rule in rules:
                    self.stdout.write(f"  -A {chain} {' '.join(rule)}")
        if not any(state.installed and state.family == "ipv4" for state in states):
            raise CommandError("the sandbox firewall rules are not in place", returncode=1)
