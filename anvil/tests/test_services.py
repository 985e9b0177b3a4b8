"""The shared-state services other areas call in process (interface in /work/notes: fault_add & co.)."""

from __future__ import annotations

import multiprocessing
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from anvil import services
from anvil.instance import instance_current
from anvil.store import FileStore, store_get
from common.validation import FieldError


def test_fault_add_validates_and_stores_with_an_expiry():
    now = datetime(2030, 1, 1, tzinfo=UTC)
    fault = services.fault_add(spec={"kind": "error", "ttl_s": 30}, now=now)
    assert fault["expires_at"] == (now + timedelta(seconds=30)).isoformat()
    assert fault["params"] == {"status": 500, "probability": 1.0}
    assert services.fault_list(now=now) == [fault]
    assert services.fault_list(now=now + timedelta(seconds=31)) == []


def test_fault_add_refuses_a_bad_spec_and_stores_nothing():
    with pytest.raises(FieldError) as caught:
        services.fault_add(spec={"kind": "latency", "params": {"ms": -1}})
    assert caught.value.field == "params.ms"
    assert services.fault_list() == []


def test_fault_add_forgets_faults_that_have_expired():
    old = services.fault_add(spec={"kind": "error", "ttl_s": 1}, now=datetime.now(tz=UTC) - timedelta(seconds=5))
    services.fault_add(spec={"kind": "unhealthy"})
    assert old["id"] not in {fault["id"] for fault in store_get().faults_read()}


def test_fault_clear_removes_one_or_all_and_counts_them():
    first = services.fault_add(spec={"kind": "error"})
    services.fault_add(spec={"kind": "latency"})
    services.fault_add(spec={"kind": "hang"})
    assert services.fault_clear(fault_id=first["id"]) == 1
    assert services.fault_clear(fault_id=first["id"]) == 0
    assert services.fault_clear() == 2
    assert services.fault_clear() == 0
    assert services.fault_list() == []


def test_instance_list_shows_live_heartbeats_and_forgets_stale_ones(settings):
    settings.ANVIL_HEARTBEAT_STALE_S = 10
    me = instance_current()
    services.heartbeat_send(instance=me, now=time.time())
    store_get().heartbeat_put(instance={**me.as_dict(), "boot_id": "gone", "last_seen": time.time() - 60})
    instances = services.instance_list()
    assert [record["boot_id"] for record in instances] == [me.boot_id]
    assert instances[0]["pid"] == me.pid
    assert {record["boot_id"] for record in store_get().heartbeats_read()} == {me.boot_id}
    services.heartbeat_remove(instance=me)
    assert services.instance_list() == []


def test_history_keeps_the_newest_ten():
    for n in range(13):
        services.history_record(result={"n": n})
    assert [entry["n"] for entry in store_get().history_read(limit=10)] == list(range(12, 2, -1))


def _put_faults(folder: str, worker: int) -> None:
    store = FileStore(folder=Path(folder))
    for n in range(25):
        store.fault_put(fault={"id": f"{worker}-{n}", "expires_at": "2100-01-01T00:00:00+00:00"})
        store.history_push(entry={"worker": worker, "n": n}, keep=10)


def test_the_file_store_loses_no_update_when_processes_write_at_once(tmp_path):
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_put_faults, args=(str(tmp_path), worker)) for worker in range(4)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=30)
        assert process.exitcode == 0
    store = FileStore(folder=tmp_path)
    assert len(store.faults_read()) == 100
    assert len(store.history_read(limit=50)) == 10


def test_a_corrupt_file_store_document_starts_afresh(tmp_path):
    (tmp_path / "history.json").write_text('[{"half": ')
    store = FileStore(folder=tmp_path)
    assert store.history_read(limit=10) == []
    store.history_push(entry={"ok": True}, keep=10)
    assert store.history_read(limit=10) == [{"ok": True}]


def test_the_store_follows_the_settings(settings):
    store = store_get()
    if settings.REDIS_URL:
        assert type(store).__name__ == "RedisStore"
        assert store.history_key == f"{settings.ANVIL_STORE_PREFIX}history"
    else:
        assert isinstance(store, FileStore)
        assert store.folder == settings.ANVIL_STATE_DIR
