"""Let Prometheus scrape a participant's application without editing its configuration.

    python manage.py add_scrape_target NAME HOST:PORT [HOST:PORT ...] [--metrics-path /metrics]
    python manage.py add_scrape_target --remove NAME
    python manage.py add_scrape_target --list

Exit codes: 0 done, 1 nothing to remove, 2 malformed input.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from common.validation import FieldError
from loadtest.scrape_targets import (
    scrape_target_add,
    scrape_target_dir,
    scrape_target_list,
    scrape_target_remove,
)


class Command(BaseCommand):
    help = "Add (or replace, remove, list) a Prometheus scrape target for your own application's /metrics."

    def add_arguments(self, parser) -> None:
        parser.add_argument("name", nargs="?", help="a short name for your application, e.g. my-lb")
        parser.add_argument("addresses", nargs="*", metavar="HOST:PORT", help="where its metrics endpoint listens")
        parser.add_argument(
            "--metrics-path", default="/metrics", help="path of the metrics endpoint (default /metrics)"
        )
        parser.add_argument("--remove", action="store_true", help="remove the target group NAME")
        parser.add_argument("--list", action="store_true", dest="list_targets", help="list the target groups")

    def handle(
        self,
        *args,
        name: str | None,
        addresses: list[str],
        metrics_path: str,
        remove: bool,
        list_targets: bool,
        **options,
    ):
        try:
            if list_targets:
                self._list(name=name, addresses=addresses)
            elif remove:
                self._remove(name=name, addresses=addresses)
            else:
                self._add(name=name, addresses=addresses, metrics_path=metrics_path)
        except FieldError as exc:
            raise CommandError(str(exc), returncode=2) from None

    def _list(self, *, name: str | None, addresses: list[str]) -> None:
        if name or addresses:
            raise CommandError("--list takes no other arguments", returncode=2)
        targets = scrape_target_list()
        for target in targets:
            self.stdout.write(f"{target.name}\t{','.join(target.addresses)}\t{target.metrics_path}")
        self.stderr.write(f"{len(targets)} target group(s) in {scrape_target_dir()}")

    def _remove(self, *, name: str | None, addresses: list[str]) -> None:
        if not name or addresses:
            raise CommandError("--remove takes exactly one NAME", returncode=2)
        if not scrape_target_remove(name=name):
            raise CommandError(f"no target group named {name!r} in {scrape_target_dir()}", returncode=1)
        self.stdout.write(f"removed {name}; Prometheus drops it within its file-SD refresh interval")

    def _add(self, *, name: str | None, addresses: list[str], metrics_path: str) -> None:
        if not name:
            raise CommandError("usage: add_scrape_target NAME HOST:PORT [HOST:PORT ...]", returncode=2)
        target = scrape_target_add(name=name, addresses=addresses, metrics_path=metrics_path)
        self.stdout.write(
            f"{target.name}: scraping {', '.join(target.addresses)} at {target.metrics_path} "
            f"(job=participants, app={target.name}); written to {target.path}"
        )
