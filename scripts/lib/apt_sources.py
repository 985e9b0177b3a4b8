#!/usr/bin/env python3
"""The Debian archive this machine's apt uses, read from /etc/apt/sources.list*.

    python3 scripts/lib/apt_sources.py mirror bookworm     # → http://deb.debian.org/debian
    python3 scripts/lib/apt_sources.py sources bookworm    # → one-line "deb …" entries for an image

The image builds must use the same mirror as the host (it may be a local
mirror or a caching proxy; nothing else may be reachable), so no host is
written into the repository: it is read here, at build time. Both formats apt
knows are read: one-line ``deb URI SUITE COMPONENT…`` lists and deb822
``*.sources`` stanzas. Only entries for the given suite and its ``-updates`` /
``-security`` companions are kept, which leaves out third-party repositories
(they name their own suites) and anything disabled.

Standard library only: it runs with the host's python3 before any venv exists.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

COMPANIONS = ("", "-updates", "-security")


@dataclass(frozen=True)
class Entry:
    uri: str
    suite: str
    components: tuple[str, ...]


def _one_line_entries(text: str) -> list[Entry]:
    entries = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        # Options such as [signed-by=…] sit between "deb" and the URI.
        line = re.sub(r"\[[^]]*\]", " ", line)
        words = line.split()
        if len(words) < 3 or words[0] != "deb":
            continue
        entries.append(Entry(uri=words[1], suite=words[2], components=tuple(words[3:])))
    return entries


def _deb822_entries(text: str) -> list[Entry]:
    entries = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = None
        for raw in stanza.splitlines():
            if raw.startswith("#"):
                continue
            if raw[:1] in (" ", "\t") and key:
                fields[key] += " " + raw.strip()
                continue
            name, sep, value = raw.partition(":")
            if not sep:
                continue
            key = name.strip().lower()
            fields[key] = value.strip()
        if "deb" not in fields.get("types", "").split():
            continue
        if fields.get("enabled", "yes").lower() == "no":
            continue
        components = tuple(fields.get("components", "").split())
        for uri in fields.get("uris", "").split():
            for suite in fields.get("suites", "").split():
                entries.append(Entry(uri=uri, suite=suite, components=components))
    return entries


def entries_read(*, root: Path = Path("/")) -> list[Entry]:
    entries: list[Entry] = []
    apt = root / "etc/apt"
    main_list = apt / "sources.list"
    if main_list.is_file():
        entries += _one_line_entries(main_list.read_text(errors="replace"))
    parts = apt / "sources.list.d"
    if parts.is_dir():
        for path in sorted(parts.iterdir()):
            # apt itself reads only these two suffixes (".disabled" files are ignored).
            if path.suffix == ".list":
                entries += _one_line_entries(path.read_text(errors="replace"))
            elif path.suffix == ".sources":
                entries += _deb822_entries(path.read_text(errors="replace"))
    return entries


def suite_entries(entries: list[Entry], *, suite: str) -> list[Entry]:
    wanted = {suite + companion for companion in COMPANIONS}
    return [entry for entry in entries if entry.suite in wanted and "main" in entry.components]


def mirror(entries: list[Entry], *, suite: str) -> str:
    """The archive that serves the suite itself (debootstrap's MIRROR argument)."""
    for entry in suite_entries(entries, suite=suite):
        if entry.suite == suite:
            return entry.uri.rstrip("/")
    raise LookupError(f"no apt source serves the suite {suite!r} with component 'main'")


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] not in {"mirror", "sources"}:
        print(f"usage: {argv[0]} mirror|sources SUITE", file=sys.stderr)
        return 2
    suite = argv[2]
    entries = entries_read()
    try:
        if argv[1] == "mirror":
            print(mirror(entries, suite=suite))
        else:
            mirror(entries, suite=suite)  # the suite itself must be there
            for entry in suite_entries(entries, suite=suite):
                # Only "main": the images are built from Debian's own packages.
                print(f"deb {entry.uri} {entry.suite} main")
    except LookupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
