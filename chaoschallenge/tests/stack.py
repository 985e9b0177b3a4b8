"""Helpers for the playground-stack tests: files of the stack, system tools, PromQL names."""

from __future__ import annotations

import os
import re
import shutil

import pytest
import yaml

from common.testing import BASE_DIR

COMPOSE_FILE = BASE_DIR / "docker-compose.yml"
PROMETHEUS_DIR = BASE_DIR / "deploy" / "prometheus"
GRAFANA_DIR = BASE_DIR / "deploy" / "grafana"
ENV_EXAMPLE = BASE_DIR / ".env.example"

_INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<default>[^}]*))?\}")


def binary_require(name: str) -> str:
    """The path of a system tool; skipped locally when missing, but CI (CI=true) must have it."""
    path = shutil.which(name)
    if path:
        return path
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{name} is required in CI; .ci/run installs it")
    pytest.skip(f"{name} is not installed (apt-get install it to run this test)")
    raise AssertionError("unreachable")


def compose_load() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def compose_variables() -> set[str]:
    """Every ``${NAME…}`` the compose file takes from the environment / .env."""
    return {match["name"] for match in _INTERPOLATION.finditer(COMPOSE_FILE.read_text())}


def compose_interpolate(value: object, env: dict[str, str] | None = None) -> object:
    """Compose's ``${NAME:-default}`` substitution, with ``env`` standing in for .env (``$$`` escapes ``$``)."""
    env = env or {}
    if isinstance(value, dict):
        return {key: compose_interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [compose_interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match) -> str:
        name, op, default = match["name"], match["op"], match["default"] or ""
        current = env.get(name)
        if op in (":-", ":?") and not current:
            return default
        if op in ("-", "?") and current is None:
            return default
        return current or ""

    return _INTERPOLATION.sub(substitute, value.replace("$$", "\0")).replace("\0", "$")


def env_example_names() -> set[str]:
    """Names documented in .env.example, set (``NAME=``) or shown commented out (``# NAME=``)."""
    names = set()
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = re.match(r"^#?\s*([A-Z][A-Z0-9_]*)=", line.strip())
        if match:
            names.add(match[1])
    return names


# PromQL words that look like names but are not metrics.
_PROMQL_KEYWORDS = {
    "and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right",
    "inf", "nan", "atan2",
}  # fmt: skip


def promql_metric_names(expr: str) -> set[str]:
    """The metric names an expression reads (functions, labels, keywords and Grafana variables left out)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\$\{?\w+\}?", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.])([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?", text):
        name, is_call = match[1], match[2]
        if is_call or name.lower() in _PROMQL_KEYWORDS:
            continue
        names.add(name)
    return names


def grafana_variable_metric(query: str) -> str | None:
    """The metric of a ``label_values(metric{…}, label)`` variable query (None for other kinds)."""
    match = re.match(r"\s*label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)", query)
    return match[1] if match else None


def recording_rules() -> dict[str, str]:
    """``record`` name → expression, for every rule file Prometheus loads."""
    rules = {}
    for path in sorted((PROMETHEUS_DIR / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "record" in rule:
                    rules[rule["record"]] = rule["expr"]
    return rules


def metric_names_resolved(names: set[str]) -> set[str]:
    """Recording-rule names replaced by the raw metrics they are computed from."""
    rules = recording_rules()
    resolved, pending, seen = set(), list(names), set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in rules:
            pending.extend(promql_metric_names(rules[name]))
        else:
            resolved.add(name)
    return resolved


def exposition_names(text: str) -> set[str]:
    """Sample names (``…_bucket``, ``…_total`` …) in a Prometheus text exposition."""
    from prometheus_client.parser import text_string_to_metric_families

    return {sample.name for family in text_string_to_metric_families(text) for sample in family.samples}
