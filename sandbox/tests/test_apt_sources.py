"""scripts/lib/apt_sources.py: the mirror the image builds use, read from apt's own files."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "lib" / "apt_sources.py"


@pytest.fixture(scope="module")
def apt_sources():
    spec = importlib.util.spec_from_file_location("apt_sources", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up by name while the class is made.
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


def write(root: Path, name: str, text: str) -> None:
    path = root / "etc/apt" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_it_reads_deb822_sources_and_keeps_the_suite_and_its_companions(tmp_path, apt_sources):
    write(
        tmp_path,
        "sources.list.d/debian.sources",
        "Types: deb\n# a comment\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n"
        "Components: main contrib\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\nComponents: main\n",
    )
    write(tmp_path, "sources.list.d/vendor.list", "deb [signed-by=/k.gpg] https://vendor.example/apt vendor-bookworm main\n")

    entries = apt_sources.entries_read(root=tmp_path)

    assert apt_sources.mirror(entries, suite="bookworm") == "http://mirror.example/debian"
    assert [(e.uri, e.suite) for e in apt_sources.suite_entries(entries, suite="bookworm")] == [
        ("http://mirror.example/debian", "bookworm"),
        ("http://mirror.example/debian", "bookworm-updates"),
        ("http://mirror.example/debian-security", "bookworm-security"),
    ]


def test_it_reads_one_line_sources_with_options(tmp_path, apt_sources):
    write(tmp_path, "sources.list", "# deb http://old.example/debian bookworm main\ndeb [arch=amd64] http://m.example/debian/ bookworm main\n")

    assert apt_sources.mirror(apt_sources.entries_read(root=tmp_path), suite="bookworm") == "http://m.example/debian"


def test_it_ignores_disabled_files_and_stanzas(tmp_path, apt_sources):
    write(tmp_path, "sources.list.d/a.sources", "Types: deb\nEnabled: no\nURIs: http://off.example/debian\nSuites: bookworm\nComponents: main\n")
    write(tmp_path, "sources.list.d/b.list.disabled", "deb http://off2.example/debian bookworm main\n")
    write(tmp_path, "sources.list.d/c.sources", "Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\nComponents: main\n")

    with pytest.raises(LookupError):
        apt_sources.mirror(apt_sources.entries_read(root=tmp_path), suite="bookworm")


def test_it_finds_this_machines_mirror(apt_sources):
    entries = apt_sources.entries_read()
    if not entries:
        pytest.skip("this machine has no apt sources")
    suites = {entry.suite for entry in entries}
    suite = next(s for s in sorted(suites) if "-" not in s)
    assert apt_sources.mirror(entries, suite=suite).startswith(("http://", "https://", "file:"))
