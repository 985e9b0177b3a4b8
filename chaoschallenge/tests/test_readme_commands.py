"""The README's ``manage.py`` commands work as written from a fresh clone (after ``./scripts/dev-setup.sh``)."""

from __future__ import annotations

import re
import shlex

import pytest
from django.core.management import CommandError, get_commands, load_command_class

from common.testing import BASE_DIR

README = BASE_DIR / "README.md"
DOCKER_EXEC = ["docker", "compose", "exec"]


def readme_manage_commands() -> list[list[str]]:
    """Every command of the README's ``sh`` blocks that runs ``manage.py``, as the shell splits it."""
    commands = []
    for block in re.findall(r"^```sh\n(.*?)^```", README.read_text(), flags=re.S | re.M):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if "manage.py" in words:
                commands.append(words)
    return commands


def without_env_assignments(words: list[str]) -> list[str]:
    index = 0
    while index < len(words) and re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", words[index]):
        index += 1
    return words[index:]


def test_the_readme_gives_manage_py_commands_to_check():
    assert len(readme_manage_commands()) >= 5


@pytest.mark.parametrize("words", readme_manage_commands(), ids=" ".join)
def test_a_manage_py_command_outside_docker_runs_with_the_virtualenvs_python(words):
    command = without_env_assignments(words)
    if command[:3] == DOCKER_EXEC:
        return  # the image's own python
    assert command[:2] == [".venv/bin/python", "manage.py"], (
        f"{' '.join(words)!r}: on a fresh clone only .venv has the project's packages")


@pytest.mark.parametrize("words", readme_manage_commands(), ids=" ".join)
def test_a_readme_manage_py_command_names_a_real_command_with_arguments_it_accepts(words):
    command = without_env_assignments(words)
    args = command[command.index("manage.py") + 1:]
    name, rest = args[0], args[1:]
    app = get_commands().get(name)
    assert app is not None, f"no management command {name!r}"
    parser = load_command_class(app, name).create_parser("manage.py", name)
    try:
        parser.parse_args(rest)
    except CommandError as exc:
        pytest.fail(f"{' '.join(words)!r}: {exc}")
