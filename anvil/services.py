"""Writes to the anvil's shared state: faults, heartbeats, history, URL tests.

Every function works against the shared store (``anvil.store``), so any process
on the host with the same settings (gunicorn workers, the platform's Celery
worker, a management command) sees and changes the same faults.
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime, timedelta

from django.conf import settings

from anvil.faults import fault_spec_validate
from anvil.fetcher import fetch_many
from anvil.instance import Instance
from anvil.store import store_get
from common.contract import content_hash

HISTORY_SIZE = 10


def _utcnow(now: datetime | None) -> datetime:
    return (now or datetime.now(tz=UTC)).astimezone(UTC)


def fault_add(*, spec: dict, now: datetime | None = None) -> dict:
    """Validate ``spec`` and make it active in every process of the deployment; returns the stored fault."""
    normalized = fault_spec_validate(spec=spec)
    created = _utcnow(now)
    fault = {
        "id": secrets.token_hex(6),
        **normalized,
        "created_at": created.isoformat(),
        "expires_at": (created + timedelta(seconds=normalized["ttl_s"])).isoformat(),
    }
    store = store_get()
    store.fault_put(fault=fault)
    expired = [f["id"] for f in store.faults_read() if datetime.fromisoformat(f["expires_at"]) <= created]
    if expired:
        store.faults_delete(fault_ids=expired)
    return fault


def fault_clear(*, fault_id: str | None = None) -> int:
    """Remove one fault (by id) or all of them (``None``); returns how many were removed."""
    return store_get().faults_delete(fault_ids=None if fault_id is None else [fault_id])


def fault_claim(*, fault_id: str) -> bool:
    """Use up a one-shot fault; True for exactly one caller across all processes."""
    return store_get().faults_delete(fault_ids=[fault_id]) == 1


def fault_list(*, now: datetime | None = None) -> list[dict]:
    """The active (unexpired) faults, oldest first."""
    moment = _utcnow(now)
    faults = [f for f in store_get().faults_read() if datetime.fromisoformat(f["expires_at"]) > moment]
    return sorted(faults, key=lambda f: (f["created_at"], f["id"]))


def heartbeat_send(*, instance: Instance, now: float | None = None) -> None:
    record = instance.as_dict()
    record["last_seen"] = time.time() if now is None else now
    store_get().heartbeat_put(instance=record)


def heartbeat_remove(*, instance: Instance) -> None:
    store_get().heartbeats_delete(boot_ids=[instance.boot_id])


def instance_list(*, now: float | None = None) -> list[dict]:
    """Live anvil processes (a heartbeat within ``ANVIL_HEARTBEAT_STALE_S``), oldest first; forgets dead ones."""
    moment = time.time() if now is None else now
    store = store_get()
    live, dead = [], []
    for record in store.heartbeats_read():
        (live if moment - record["last_seen"] <= settings.ANVIL_HEARTBEAT_STALE_S else dead).append(record)
    if dead:
        store.heartbeats_delete(boot_ids=[record["boot_id"] for record in dead])
    for record in live:
        record["last_seen"] = datetime.fromtimestamp(record["last_seen"], tz=UTC).isoformat()
    return sorted(live, key=lambda r: (r["started_at"], r["boot_id"]))


def history_record(*, result: dict) -> None:
    store_get().history_push(entry=result, keep=HISTORY_SIZE)


def urls_test(*, urls: list[str]) -> dict:
    """Fetch every URL concurrently, hash the bodies in request order, remember the result.

    The URLs must already have passed ``anvil.safety.test_urls_validate``; the
    fetcher checks redirects and resolved addresses again. Raises
    ``anvil.fetcher.FetchError`` when any fetch fails.
    """
    started = time.perf_counter()
    fetched = fetch_many(urls=urls)
    total_ms = (time.perf_counter() - started) * 1000
    digest = content_hash([item.body for item in fetched])
    now = datetime.now(tz=UTC)
    result = {
        "urls_tested": len(urls),
        "total_fetch_time_ms": round(total_ms, 2),
        "average_fetch_time_ms": round(sum(item.elapsed_ms for item in fetched) / len(fetched), 2),
        "content_hash": digest,
        # Millisecond precision with "Z", as JavaScript's toISOString() wrote it
        # for the original service's clients.
        "timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
    }
    history_record(result=result)
    return result
