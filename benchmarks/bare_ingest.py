"""The floor of the tracker's single-run ingest: one plain WSGI callable, no Django, one prepared INSERT.

Served under the same gunicorn command and settings as the platform
(``gunicorn -c chaoschallenge/gunicorn_conf.py benchmarks.bare_ingest:application``)
with ``BARE_INGEST_DATABASE_URL`` pointing at a migrated tracker database.
It parses the JSON body, INSERTs the run with the statement the tracker uses
(server-side binding, prepared once per connection) and answers like the
tracker does. It checks nothing and is not a server to use: it measures what
gunicorn, psycopg and PostgreSQL alone cost per request on this machine.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime

import psycopg
from psycopg.types.json import Jsonb

COLUMNS = (
    "client_run_id", "schema_version", "user_id", "challenge_type", "metric_name", "value", "timestamp", "labels",
    "target_url", "target_key", "request_count", "method", "payload_urls", "total_requests", "successful_requests",
    "failed_requests", "avg_latency_ms", "error_rate", "rps", "duration_s", "test_type", "commit_hash", "session_id",
    "p50_latency_ms", "p95_latency_ms", "p99_latency_ms", "extra", "run_details_extra", "received_at",
)
SQL = (f"INSERT INTO tracker_trackedrun ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))})"
       " RETURNING id")
_local = threading.local()


def _connection() -> psycopg.Connection:
    connection = getattr(_local, "connection", None)
    if connection is None:
        connection = _local.connection = psycopg.connect(os.environ["BARE_INGEST_DATABASE_URL"], autocommit=True)
    return connection


def _values(payload: dict) -> list:
    details = payload["runDetails"]
    return [
        None, payload["schema_version"], payload["userId"], payload["challengeType"], payload["metricName"],
        payload["value"], datetime.fromisoformat(payload["timestamp"]).replace(tzinfo=UTC), Jsonb(payload["labels"]),
        details["target_url"], "0" * 16, details["request_count"], details["method"], Jsonb(details["payload_urls"]),
        details["total_requests"], details["successful_requests"], details["failed_requests"],
        details["avg_latency_ms"], details["error_rate"], details["rps"], details["duration_s"], details["test_type"],
        details["commit_hash"], details["session_id"], details.get("p50_latency_ms"), details.get("p95_latency_ms"),
        details.get("p99_latency_ms"), Jsonb({}), Jsonb({}), datetime.now(UTC),
    ]


def application(environ, start_response):
    if environ["PATH_INFO"] == "/healthz":
        body = b'{"status": "ok"}'
    else:
        payload = json.loads(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))
        with _connection().cursor() as cursor:
            cursor.execute(SQL, _values(payload), prepare=True)
            run_id = cursor.fetchone()[0]
        body = json.dumps({"status": "ok", "message": "run stored", "id": run_id}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
