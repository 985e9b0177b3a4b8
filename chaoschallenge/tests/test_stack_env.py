"""Every environment variable the project reads is documented in .env.example."""

from __future__ import annotations

import ast
from pathlib import Path

from chaoschallenge.tests.stack import env_example_names
from common.testing import BASE_DIR

ENV_READERS = {"env_str", "env_bool", "env_int", "env_float", "env_list", "env_secret", "getenv"}
# Read by the code, but by design not something a deployment sets.
NOT_SETTINGS = {"DJANGO_SETTINGS_MODULE"}


def _env_names_read(path: Path) -> set[str]:
    """String literals passed to the env_* helpers, os.getenv, os.environ.get/[]/setdefault."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            on_environ = (
                isinstance(func, ast.Attribute)
                and isinstance(func.value, ast.Attribute)
                and (func.value.attr == "environ")
            )
            if called in ENV_READERS or (on_environ and called in {"get", "setdefault", "pop"}):
                names.add(node.args[0].value)
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Attribute)
            and node.value.attr == "environ"
            and isinstance(node.slice, ast.Constant)
        ):
            names.add(node.slice.value)
    return {name for name in names if isinstance(name, str)} - NOT_SETTINGS


def test_the_parser_finds_env_reads_of_every_kind(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os\n"
        "A = env_str('A_VAR', 'x')\nB = env_bool('B_VAR')\nC = os.environ.get('C_VAR')\n"
        "D = os.environ['D_VAR']\nE = os.getenv('E_VAR')\nF = env_secret('F_VAR')\nG = other('NOT_ENV')\n"
    )
    assert _env_names_read(sample) == {"A_VAR", "B_VAR", "C_VAR", "D_VAR", "E_VAR", "F_VAR"}


def test_every_variable_settings_and_gunicorn_read_is_in_env_example():
    read = _env_names_read(BASE_DIR / "chaoschallenge" / "settings.py") | _env_names_read(
        BASE_DIR / "chaoschallenge" / "gunicorn_conf.py"
    )
    assert {"DEBUG", "DATABASE_URL", "REDIS_URL", "ENABLE_LOCAL_TRACKER", "PROMETHEUS_FILE_SD_DIR"} <= read
    missing = read - env_example_names()
    assert not missing, f"document these in .env.example: {sorted(missing)}"
