"""The tracker lives in its own database, and nothing of the competition can reach it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.apps import apps
from django.db import connections

from chaoschallenge.routers import TrackerRouter
from tracker.models import TrackedRun
from tracker.tests.conftest import BOTH_DATABASES, client_payload, post_json

BASE_DIR = Path(__file__).resolve().parents[2]


def _tables(alias: str) -> set[str]:
    with connections[alias].cursor() as cursor:
        return set(connections[alias].introspection.table_names(cursor))


def _app_tables(label: str) -> set[str]:
    return {model._meta.db_table for model in apps.get_app_config(label).get_models()}


def _other_tables() -> set[str]:
    return {
        model._meta.db_table for model in apps.get_models() if model._meta.app_label != "tracker"
        and model._meta.managed and not model._meta.proxy
    }


@pytest.mark.django_db(databases=BOTH_DATABASES)
def test_tracker_tables_exist_only_in_the_tracker_database():
    tracker_tables = _app_tables("tracker")
    assert tracker_tables <= _tables("tracker")
    assert not tracker_tables & _tables("default")


@pytest.mark.django_db(databases=BOTH_DATABASES)
def test_every_other_apps_tables_exist_only_in_the_default_database():
    others = _other_tables()
    assert _app_tables("leaderboard") <= others
    assert others <= _tables("default")
    assert not others & _tables("tracker")


@pytest.mark.django_db(databases=BOTH_DATABASES)
def test_it_runs_on_the_configured_engine_for_each_alias():
    # In CI's second pass both aliases are PostgreSQL, in the first both SQLite:
    # the tests above then prove the isolation on each.
    assert connections["tracker"].vendor == connections["default"].vendor
    assert connections["tracker"].settings_dict["NAME"] != connections["default"].settings_dict["NAME"]


def test_the_router_sends_tracker_models_to_the_tracker_alias_only():
    router = TrackerRouter()
    assert router.db_for_write(TrackedRun) == "tracker"
    assert router.db_for_read(TrackedRun) == "tracker"
    for model in apps.get_models():
        if model._meta.app_label != "tracker":
            assert router.db_for_write(model) == "default"
            assert router.allow_migrate("tracker", model._meta.app_label) is False
    assert router.allow_migrate("default", "tracker") is False
    assert router.allow_migrate("tracker", "tracker") is True


def test_no_relation_may_cross_the_databases():
    from django.contrib.auth.models import User

    router = TrackerRouter()
    assert router.allow_relation(TrackedRun(), User()) is False
    for model in apps.get_app_config("tracker").get_models():
        for field in model._meta.get_fields():
            if field.is_relation and field.related_model is not None:
                assert field.related_model._meta.app_label == "tracker", f"{model.__name__}.{field.name}"


@pytest.mark.django_db(databases=BOTH_DATABASES)
def test_writing_tracker_data_leaves_the_leaderboard_unchanged(tracker_on, client):
    def counts():
        return {
            model._meta.label: model.objects.using("default").count()
            for model in apps.get_models() if model._meta.app_label != "tracker" and model._meta.managed
        }

    before = counts()
    assert post_json(client, "/tracker/api/track", client_payload()).status_code == 200
    assert post_json(client, "/tracker/api/runs/batch", [client_payload(runId=f"r{i}") for i in range(5)]
                     ).status_code == 200
    run = TrackedRun.objects.using("tracker").first()
    client.post(f"/tracker/targets/{run.target_key}/baseline", {"run_id": run.pk})
    assert TrackedRun.objects.using("tracker").count() == 6
    assert counts() == before


def _imports_tracker(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in {
            "import_module", "__import__"
        }:
            names = [arg.value for arg in node.args if isinstance(arg, ast.Constant) and isinstance(arg.value, str)]
        found += [f"{path.relative_to(BASE_DIR)}: {name}" for name in names if name.split(".")[0] == "tracker"]
    return found


def test_no_module_of_the_competition_imports_the_tracker():
    offenders = []
    scanned = 0
    for app in ("leaderboard", "loadtest", "anvil"):
        for path in (BASE_DIR / app).rglob("*.py"):
            scanned += 1
            offenders += _imports_tracker(path)
    assert scanned > 10
    assert offenders == []


def test_the_import_scan_would_notice_an_import(tmp_path):
    # The scan above must be able to fail.
    sample = BASE_DIR / "tracker" / "tests" / "test_router.py"
    assert _imports_tracker(sample)


@pytest.mark.django_db(databases=["tracker"])
def test_the_api_never_touches_the_competitions_database(tracker_on, client):
    # Only "tracker" is declared: a query on "default" would fail this test.
    assert post_json(client, "/tracker/api/track", client_payload()).status_code == 200
    assert post_json(client, "/tracker/api/runs/batch", [client_payload(), client_payload()]).status_code == 200
    assert client.get("/tracker/api/track/alice").status_code == 200
