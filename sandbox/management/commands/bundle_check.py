"""Check a bundle as the platform would, and show what it would run.

    python manage.py bundle_check examples/bundles/resilient-anvil.yaml
    python manage.py bundle_check - < my-bundle.yaml       # from standard input
    python manage.py bundle_check --json FILE              # the summary as JSON

Exit codes: 0 accepted, 2 refused (the offending field on stderr) or bad arguments.
Images are shown pinned as in $VAR_DIR/sandbox/catalogue.json when
scripts/build-images.sh has written it (or --catalogue FILE), else as the
tags the build will give them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from common.validation import FieldError
from sandbox.bundle import MAX_BYTES, bundle_parse
from sandbox.catalogue import DEFAULT_CATALOGUE, Catalogue, catalogue_load


class Command(BaseCommand):
    help = "Check a sandbox bundle (Kubernetes manifests) and print what it would run."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the bundle: YAML or JSON; '-' reads standard input")
        parser.add_argument("--catalogue", type=Path, help="catalogue file (default: $VAR_DIR/sandbox/catalogue.json)")
        parser.add_argument("--json", action="store_true", help="print the summary as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        catalogue = self._catalogue(options["catalogue"])
        text = bundle_file_read(options["file"])
        try:
            bundle = bundle_parse(text, catalogue=catalogue)
        except FieldError as exc:
            where = f"{exc.field}: " if exc.field else ""
            raise CommandError(f"refused: {where}{exc.message}", returncode=2) from None
        summary = bundle.summary()
        if options["json"]:
            self.stdout.write(json.dumps(summary, indent=2))
            return
        self._print(summary, pinned=catalogue.pinned)

    def _catalogue(self, path: Path | None) -> Catalogue:
        default = Path(settings.VAR_DIR) / "sandbox" / "catalogue.json"
        if path is None and not default.exists():
            return DEFAULT_CATALOGUE
        try:
            return catalogue_load(path=path or default)
        except (OSError, ValueError) as exc:
            raise CommandError(f"catalogue: {exc}", returncode=2) from exc

    def _print(self, summary: dict[str, Any], *, pinned: bool) -> None:
        out = self.stdout
        out.write(f"accepted (Kubernetes {summary['kubernetes_version']} schemas, sandbox policy)")
        out.write("objects:")
        for obj in summary["objects"]:
            replicas = f", replicas {obj['replicas']}" if "replicas" in obj else ""
            out.write(f"  {obj['kind']:<11} {obj['name']}{replicas}")
        note = "" if pinned else " (tags: the images are not built yet; scripts/build-images.sh)"
        out.write(f"images{note}:")
        for name, ref in summary["images"].items():
            out.write(f"  {name:<11} {ref}")
        requests, limits = summary["requests"], summary["limits"]
        out.write(f"requests: cpu {requests['cpu']}, memory {requests['memory']}, pods {requests['pods']}")
        out.write(f"limits:   cpu {limits['cpu']}, memory {limits['memory']}")
        entry = summary["entrypoint"]
        out.write(f"entrypoint: Service {entry['service']}:{entry['port']} → {', '.join(entry['deployments'])}")


def bundle_file_read(name: str) -> str:
    """The bundle in file ``name`` ('-': standard input) as text; CommandError (exit 2) if it cannot be read."""
    # Read one byte past the limit: enough for the parser to refuse an
    # oversized bundle without reading all of it.
    try:
        if name == "-":
            data = sys.stdin.buffer.read(MAX_BYTES + 1)
        else:
            with open(name, "rb") as f:
                data = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise CommandError(f"{name}: {exc.strerror}", returncode=2) from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if len(data) > MAX_BYTES:
            # The cut may fall inside a character; the size is the problem.
            return data.decode("utf-8", "replace")
        raise CommandError(f"{name}: not UTF-8 text (byte {exc.start})", returncode=2) from exc
