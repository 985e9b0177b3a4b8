"""Prepared statements: the same rows as a plain cursor, and seen by Django like any other query."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.db import DatabaseError, connection
from django.db.models import Count
from django.test.utils import CaptureQueriesContext

from common.prepared import PreparedQuery, prepared_fetchall

SQL = "SELECT %s + 1, %s"


def test_a_prepared_statement_returns_the_rows_a_plain_cursor_returns(db):
    with connection.cursor() as cursor:
        cursor.execute(SQL, [41, "x"])
        plain = cursor.fetchall()
    assert [tuple(row) for row in prepared_fetchall(alias="default", sql=SQL, params=[41, "x"])] == plain == [(42, "x")]


def test_a_prepared_statement_is_logged_and_passes_through_execute_wrappers(db):
    seen = []

    def wrapper(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    with CaptureQueriesContext(connection) as queries, connection.execute_wrapper(wrapper):
        prepared_fetchall(alias="default", sql=SQL, params=[1, "y"])
    assert seen == [SQL]
    assert len(queries.captured_queries) == 1


def test_a_failing_prepared_statement_raises_djangos_database_error(db):
    with pytest.raises(DatabaseError):
        prepared_fetchall(alias="default", sql="SELECT * FROM no_such_table WHERE id = %s", params=[1])


def test_on_postgresql_a_statement_is_prepared_on_its_first_execution(db):
    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    sql = "SELECT %s::int * 2 AS prepared_probe"
    assert prepared_fetchall(alias="default", sql=sql, params=[21]) == [(42,)]
    assert prepared_fetchall(alias="default", sql=sql, params=[2]) == [(4,)]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
                       ["%prepared_probe%"])
        assert cursor.fetchone()[0] == 1


OPEN_GROUPS = PreparedQuery(lambda: Group.objects.filter(name__startswith="open").order_by("name"))


def test_a_prepared_query_gives_the_instances_its_queryset_gives_and_sees_new_rows(db):
    Group.objects.create(name="open-b")
    Group.objects.create(name="closed")
    first = OPEN_GROUPS.fetch(alias="default")
    assert [(g.id, g.name) for g in first] == list(
        Group.objects.filter(name__startswith="open").order_by("name").values_list("id", "name"))
    assert first[0]._state.db == "default" and not first[0]._state.adding
    Group.objects.create(name="open-a")
    assert [g.name for g in OPEN_GROUPS.fetch(alias="default")] == ["open-a", "open-b"]


def test_a_prepared_query_refuses_a_queryset_of_anything_but_whole_rows(db):
    for make in (lambda: Group.objects.values("name"), lambda: Group.objects.only("name"),
                 lambda: Group.objects.select_related(), lambda: Group.objects.annotate(n=Count("permissions"))):
        with pytest.raises(ValueError, match="whole rows"):
            PreparedQuery(make).fetch(alias="default")
