"""Hot statements run as prepared statements on PostgreSQL: parsed and planned once per connection."""

from __future__ import annotations

import psycopg
from django.db import connections


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
