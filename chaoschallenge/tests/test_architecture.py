"""The one-way dependencies between the apps, read from the source: imports *and* dotted strings.

``chaoschallenge`` wires everything; ``common`` imports no app; the engine
(``loadtest``) knows neither of its users; ``leaderboard`` and ``tracker`` use
the engine only through its services, selectors and hooks; nothing but the
tracker itself and the URL wiring imports the tracker.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

from common.testing import BASE_DIR

APPS = ("anvil", "common", "leaderboard", "loadtest", "sandbox", "tracker")
# Which apps each app may import at all (itself aside).
MAY_IMPORT = {
    "common": set(),
    "anvil": {"common"},
    "loadtest": {"common", "anvil"},
    "leaderboard": {"common", "loadtest"},
    "tracker": {"common", "loadtest"},
    "sandbox": {"common", "loadtest"},
}
# The engine's public face for its users.
ENGINE_SURFACE = {"loadtest.services", "loadtest.selectors", "loadtest.hooks"}
# Calls that import by a string the import graph cannot see.
STRING_IMPORTERS = {"import_string", "import_module", "get_model", "__import__", "get_app_config"}


@dataclass(frozen=True)
class Use:
    path: Path
    line: int
    target: str  # a dotted module path, or the string handed to a string importer


def _sources(app: str) -> list[Path]:
    root = BASE_DIR / app
    return sorted(p for p in root.rglob("*.py") if "tests" not in p.parts and "migrations" not in p.parts)


def _uses(path: Path) -> list[Use]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [Use(path, node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [Use(path, node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in STRING_IMPORTERS:
                strings = [arg.value for arg in node.args if isinstance(arg, ast.Constant) and isinstance(arg.value, str)]
                found += [Use(path, node.lineno, ".".join(strings))] if strings else []
    return found


def _app_of(target: str) -> str | None:
    head = target.split(".")[0]
    return head if head in APPS else None


def _violations() -> list[str]:
    problems = []
    for app, allowed in MAY_IMPORT.items():
        for path in _sources(app):
            for use in _uses(path):
                other = _app_of(use.target)
                where = f"{use.path.relative_to(BASE_DIR)}:{use.line} uses {use.target}"
                if other is None or other == app:
                    continue
                if other not in allowed:
                    problems.append(f"{where}: {app} may not depend on {other}")
                elif other == "loadtest" and app != "loadtest" and \
                        not any(use.target == s or use.target.startswith(s + ".") for s in ENGINE_SURFACE):
                    problems.append(f"{where}: {app} uses the engine only through {sorted(ENGINE_SURFACE)}")
    return problems


def test_every_app_depends_only_in_the_allowed_direction():
    assert _violations() == []


def test_settings_hold_no_dotted_path_from_the_engine_to_its_users():
    from django.conf import settings

    for name in dir(settings):
        value = getattr(settings, name)
        if name.isupper() and isinstance(value, str) and name.startswith(("LOADTEST_", "TRACKER_")):
            assert not value.startswith(("leaderboard.", "tracker.")), name


@pytest.mark.parametrize("source, message", [
    ("from tracker.services import run_ingest\n", "loadtest may not depend on tracker"),
    ("import leaderboard.models\n", "loadtest may not depend on leaderboard"),
    ("from django.apps import apps\napps.get_model('leaderboard', 'Challenge')\n", "may not depend on leaderboard"),
    ("from django.utils.module_loading import import_string\nimport_string('tracker.services.x')\n",
     "may not depend on tracker"),
])
def test_the_check_catches_imports_and_string_lookups(tmp_path, monkeypatch, source, message):
    # The check itself can fail: a planted engine module that reaches a user is reported.
    fake = tmp_path / "loadtest"
    fake.mkdir()
    (fake / "planted.py").write_text(source)
    monkeypatch.setattr(f"{__name__}.BASE_DIR", tmp_path)
    assert any(message in problem for problem in _violations())


def test_the_check_catches_a_user_reaching_past_the_engines_surface(tmp_path, monkeypatch):
    fake = tmp_path / "leaderboard"
    fake.mkdir()
    (fake / "planted.py").write_text("from loadtest.models import RunSample\n")
    monkeypatch.setattr(f"{__name__}.BASE_DIR", tmp_path)
    assert any("only through" in problem for problem in _violations())
