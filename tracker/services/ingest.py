"""Storing tracked runs: one payload (the hot path) or a batch, each stored once per ``runId``.

Every write goes to the ``tracker`` database only.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connections, models, transaction
from django.utils import timezone

from common.prepared import prepared_fetchall
from common.validation import FieldError
from tracker.models import TrackedRun
from tracker.payload import payload_validate

logger = logging.getLogger(__name__)

DB = "tracker"

def _existing_id(*, user_id: str, client_run_id: str) -> int | None:
    return (
        TrackedRun.objects.using(DB)
        .filter(user_id=user_id, client_run_id=client_run_id)
        .values_list("id", flat=True)
        .first()
    )


_INSERT_FIELDS = [field for field in TrackedRun._meta.concrete_fields if not field.primary_key]
# payload_validate hands these over as exactly the str/int/float/None the
# driver takes; JSON and datetime values still go through their field.
_PLAIN_FIELDS = (models.CharField, models.IntegerField, models.FloatField)
_INSERT_PREP = [
    (field.attname, None if isinstance(field, _PLAIN_FIELDS) else field.get_db_prep_save) for field in _INSERT_FIELDS
]
_INSERT_SQL: dict[str, str] = {}


def _insert_sql(connection) -> str:
    sql = _INSERT_SQL.get(connection.vendor)
    if sql is None:
        quote = connection.ops.quote_name
        columns = ", ".join(quote(field.column) for field in _INSERT_FIELDS)
        sql = (f"INSERT INTO {quote(TrackedRun._meta.db_table)} ({columns}) "
               f"VALUES ({', '.join(['%s'] * len(_INSERT_FIELDS))})")
        if connection.features.can_return_columns_from_insert:
            sql += f" RETURNING {quote('id')}"
        _INSERT_SQL[connection.vendor] = sql
    return sql


def _run_insert(*, fields: dict[str, Any]) -> int:
    """INSERT one validated run and return its id.

    Equivalent to ``TrackedRun.objects.create(**fields)``, minus the model
    instance and the query compiler: single POSTs are the API's hot path. On
    PostgreSQL the statement is prepared once per connection and its values
    travel apart from it, where Django's cursors would quote them into the SQL
    text and have the server parse and plan every INSERT anew.
    """
    connection = connections[DB]
    values = [fields[name] if prep is None else prep(fields[name], connection) for name, prep in _INSERT_PREP]
    sql = _insert_sql(connection)
    if connection.vendor == "postgresql":
        return prepared_fetchall(alias=DB, sql=sql, params=values)[0][0]
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        if connection.features.can_return_columns_from_insert:
            return cursor.fetchone()[0]
        return cursor.lastrowid


def run_ingest(*, payload: object, now: datetime | None = None) -> tuple[int, bool]:
    """Store one payload; return ``(id, created)``. A repeated ``runId`` returns the first copy's id."""
    fields = payload_validate(payload=payload)
    fields["received_at"] = now or timezone.now()
    client_run_id = fields["client_run_id"]
    if client_run_id is None:
        # The hot path: one INSERT in autocommit, nothing else.
        return _run_insert(fields=fields), True
    existing = _existing_id(user_id=fields["user_id"], client_run_id=client_run_id)
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic(using=DB):
            return _run_insert(fields=fields), True
    except IntegrityError:
        # A concurrent retry won the race for the same runId.
        existing = _existing_id(user_id=fields["user_id"], client_run_id=client_run_id)
        if existing is None:
            raise
        return existing, False


def runs_ingest_batch(*, payloads: object, now: datetime | None = None) -> list[tuple[int, bool]]:
    """Store every payload in one transaction, or none of them; ``(id, created)`` per payload, in order."""
    if not isinstance(payloads, list):
        raise FieldError("body", "must be a JSON array of runs")
    if not payloads:
        raise FieldError("body", "must hold at least one run")
    if len(payloads) > settings.TRACKER_BATCH_MAX:
        raise FieldError("body", f"holds {len(payloads)} runs; at most {settings.TRACKER_BATCH_MAX} per batch")
    received_at = now or timezone.now()
    rows = [payload_validate(payload=item, path=f"[{index}].") for index, item in enumerate(payloads)]
    for fields in rows:
        fields["received_at"] = received_at
    try:
        return _batch_store(rows=rows)
    except IntegrityError:
        # Another request stored one of our runIds between our check and our
        # insert; the second attempt sees it and skips it.
        return _batch_store(rows=rows)


def _batch_store(*, rows: list[dict[str, Any]]) -> list[tuple[int, bool]]:
    keyed = {(r["user_id"], r["client_run_id"]) for r in rows if r["client_run_id"] is not None}
    with transaction.atomic(using=DB):
        known: dict[tuple[str, str], int] = {}
        if keyed:
            for user_id in {user for user, _ in keyed}:
                ids = [cid for user, cid in keyed if user == user_id]
                for chunk_start in range(0, len(ids), 500):
                    chunk = ids[chunk_start:chunk_start + 500]
                    for pk, cid in (
                        TrackedRun.objects.using(DB)
                        .filter(user_id=user_id, client_run_id__in=chunk)
                        .values_list("id", "client_run_id")
                    ):
                        known[(user_id, cid)] = pk
        to_create: list[dict[str, Any]] = []
        # Per payload: ("new", index into to_create) or ("known", id of the
        # copy stored before), and whether it is new in this batch.
        slots: list[tuple[str, int, bool]] = []
        pending: dict[tuple[str, str], int] = {}
        for fields in rows:
            key = (fields["user_id"], fields["client_run_id"]) if fields["client_run_id"] is not None else None
            if key is not None and key in known:
                slots.append(("known", known[key], False))
            elif key is not None and key in pending:
                # The same runId twice in one batch is stored once.
                slots.append(("new", pending[key], False))
            else:
                if key is not None:
                    pending[key] = len(to_create)
                slots.append(("new", len(to_create), True))
                to_create.append(fields)
        ids = _runs_insert_many(rows=to_create)
    return [(ids[value] if kind == "new" else value, created) for kind, value, created in slots]


def _runs_insert_many(*, rows: list[dict[str, Any]]) -> list[int]:
    """INSERT many validated runs in the current transaction; their ids, in order.

    On PostgreSQL through COPY with ids drawn from the table's sequence first
    (COPY returns nothing): several times cheaper per run than a multi-row
    INSERT, which is the whole point of the batch form. Elsewhere through
    multi-row INSERTs of prepared values (what ``bulk_create`` does, without
    building a model instance per run).
    """
    if not rows:
        return []
    connection = connections[DB]
    if connection.vendor != "postgresql":
        return _runs_insert_values(connection=connection, rows=rows)
    ops = connection.ops
    table = TrackedRun._meta.db_table
    columns = ", ".join(ops.quote_name(column) for column in ["id", *(f.column for f in _INSERT_FIELDS)])
    names = [field.attname for field in _INSERT_FIELDS]
    # Positions in a COPY row (the id first) of the JSON columns, which COPY takes as JSON text.
    json_positions = [1 + i for i, field in enumerate(_INSERT_FIELDS) if field.get_internal_type() == "JSONField"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                       [table, len(rows)])
        ids = sorted(row[0] for row in cursor.fetchall())
        with cursor.cursor.copy(f"COPY {ops.quote_name(table)} ({columns}) FROM STDIN") as copy:
            for pk, fields in zip(ids, rows, strict=True):
                row = [pk, *map(fields.__getitem__, names)]
                for position in json_positions:
                    # Most runs carry no extra fields: no encoder for the empty object.
                    row[position] = "{}" if row[position] == {} else json.dumps(row[position])
                copy.write_row(row)
    return ids


def _runs_insert_values(*, connection, rows: list[dict[str, Any]]) -> list[int]:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in _INSERT_FIELDS)
    one_row = f"({', '.join(['%s'] * len(_INSERT_FIELDS))})"
    chunk = max(1, connection.ops.bulk_batch_size(_INSERT_FIELDS, rows))
    returning = connection.features.can_return_rows_from_bulk_insert
    ids: list[int] = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), chunk):
            part = rows[start:start + chunk]
            values = [field.get_db_prep_save(fields[field.attname], connection)
                      for fields in part for field in _INSERT_FIELDS]
            sql = f"INSERT INTO {quote(TrackedRun._meta.db_table)} ({columns}) VALUES {', '.join([one_row] * len(part))}"
            if returning:
                cursor.execute(f"{sql} RETURNING {quote('id')}", values)
                # Ids grow in insertion order; sorting undoes any order RETURNING chose.
                ids += sorted(row[0] for row in cursor.fetchall())
            else:
                cursor.execute(sql, values)
                # The rows just inserted hold the highest ids (the write lock is ours).
                last = cursor.lastrowid
                ids += list(range(last - len(part) + 1, last + 1))
    return ids


def run_track_local(payload: dict) -> dict:
    """In-process ingest for ``run_loadtest --track`` (the engine's tracking sink).

    Answers like the HTTP API does; raises FieldError for a bad payload.
    """
    if not settings.ENABLE_LOCAL_TRACKER:
        raise FieldError("", "the local tracker is disabled (ENABLE_LOCAL_TRACKER is off)")
    run_id, created = run_ingest(payload=payload)
    return {"status": "ok", "message": "run stored" if created else "run already stored", "id": run_id}
