"""Hot statements run as prepared statements on PostgreSQL: parsed and planned once per connection."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
from django.db import connections
from django.db.models import Model, QuerySet
from django.db.models.sql.compiler import SQLCompiler


def prepared_fetchall(*, alias: str, sql: str, params: list) -> list[tuple]:
    """``cursor.execute(sql, params)`` then ``fetchall()``, prepared on PostgreSQL and plain elsewhere.

    Django's cursors quote the values into the SQL text (client-side binding),
    so PostgreSQL parses and plans every execution anew; for a statement run
    on every request, planning costs more than running it. Here the values
    travel apart from the statement, which psycopg prepares on its first
    execution on a connection (the database's OPTIONS must set
    ``prepare_threshold``: Django leaves it off, for transaction-mode
    poolers). The statement still goes through Django's cursor wrapper, so
    execute wrappers, query logging and error translation see it like any
    other. Rows come back as the driver gives them, without the backend's
    converters (none on PostgreSQL).
    """
    connection = connections[alias]
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    raw = _PreparingCursor(connection.connection)
    wrapped = connection.make_debug_cursor(raw) if connection.queries_logged else connection.make_cursor(raw)
    with wrapped as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description is not None else []


class _PreparingCursor(psycopg.Cursor):
    """psycopg's plain cursor (server-side binding) whose executions ask to be prepared."""

    def execute(self, query, params=None, *, prepare=None, binary=None):
        return super().execute(query, params, prepare=True if prepare is None else prepare, binary=binary)


class PreparedQuery:
    """A constant read — a queryset whose values never vary — compiled once per database, run prepared each time.

    Building and compiling a queryset costs more CPU than running a small
    query (half a millisecond for the three rows of the open challenges, read
    by every page). Rows pass through the ORM's converters and become
    instances through ``Model.from_db``, as iterating the queryset would give
    them. Only querysets of a model's own rows (no ``values()``,
    ``select_related()`` or annotations) qualify.
    """

    def __init__(self, queryset_make: Callable[[], QuerySet]) -> None:
        self._queryset_make = queryset_make
        self._compiled: dict[str, tuple[SQLCompiler, str, list, list[str]]] = {}

    def fetch(self, *, alias: str) -> list[Model]:
        compiled = self._compiled.get(alias)
        if compiled is None:
            # A race compiles twice, to the same statement: harmless.
            compiled = self._compiled[alias] = self._compile(alias)
        compiler, sql, params, names = compiled
        rows = prepared_fetchall(alias=alias, sql=sql, params=params)
        model = compiler.query.model
        return [model.from_db(alias, names, row) for row in compiler.results_iter(results=[rows])]

    def _compile(self, alias: str) -> tuple[SQLCompiler, str, list, list[str]]:
        query = self._queryset_make().using(alias).query
        if query.select_related or query.annotations or query.values_select or query.deferred_loading[0]:
            raise ValueError("a PreparedQuery reads whole rows of its model only")
        compiler = query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        names = [column.target.attname for column, _, _ in compiler.select[: compiler.col_count]]
        return compiler, sql, list(params), names
