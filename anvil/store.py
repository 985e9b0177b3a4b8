"""The state every anvil process of one deployment shares: faults, history, heartbeats.

Redis when ``REDIS_URL`` is set (keys under ``ANVIL_STORE_PREFIX``), otherwise
JSON files under ``ANVIL_STATE_DIR`` guarded by ``fcntl`` locks, so gunicorn
workers, management commands and Celery workers on one host see the same state
without any server. The anvil never uses the database: replicas must start with
nothing but this store.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from django.conf import settings


class StoreError(RuntimeError):
    """The shared store cannot be reached or holds something unreadable."""


class AnvilStore(Protocol):
    def faults_read(self) -> list[dict]: ...
    def fault_put(self, *, fault: dict) -> None: ...
    def faults_delete(self, *, fault_ids: list[str] | None) -> int: ...
    def history_push(self, *, entry: dict, keep: int) -> None: ...
    def history_read(self, *, limit: int) -> list[dict]: ...
    def heartbeat_put(self, *, instance: dict) -> None: ...
    def heartbeats_delete(self, *, boot_ids: list[str]) -> None: ...
    def heartbeats_read(self) -> list[dict]: ...


class RedisStore:
    def __init__(self, *, url: str, prefix: str) -> None:
        import redis

        # One client (and so one connection pool) per process and URL; short
        # timeouts so that a dead Redis shows as an error, not a hung worker.
        self.client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2, health_check_interval=30)
        self.faults_key = f"{prefix}faults"
        self.history_key = f"{prefix}history"
        self.instances_key = f"{prefix}instances"

    def faults_read(self) -> list[dict]:
        return [json.loads(raw) for raw in self.client.hvals(self.faults_key)]

    def fault_put(self, *, fault: dict) -> None:
        self.client.hset(self.faults_key, fault["id"], json.dumps(fault))

    def faults_delete(self, *, fault_ids: list[str] | None) -> int:
        if fault_ids is None:
            # GETDEL-like: count and delete in one transaction so two clearers
            # never both report the same faults.
            with self.client.pipeline(transaction=True) as pipe:
                pipe.hlen(self.faults_key)
                pipe.delete(self.faults_key)
                count, _ = pipe.execute()
            return int(count)
        if not fault_ids:
            return 0
        return int(self.client.hdel(self.faults_key, *fault_ids))

    def history_push(self, *, entry: dict, keep: int) -> None:
        with self.client.pipeline(transaction=True) as pipe:
            pipe.lpush(self.history_key, json.dumps(entry))
            pipe.ltrim(self.history_key, 0, keep - 1)
            pipe.execute()

    def history_read(self, *, limit: int) -> list[dict]:
        return [json.loads(raw) for raw in self.client.lrange(self.history_key, 0, limit - 1)]

    def heartbeat_put(self, *, instance: dict) -> None:
        self.client.hset(self.instances_key, instance["boot_id"], json.dumps(instance))

    def heartbeats_delete(self, *, boot_ids: list[str]) -> None:
        if boot_ids:
            self.client.hdel(self.instances_key, *boot_ids)

    def heartbeats_read(self) -> list[dict]:
        return [json.loads(raw) for raw in self.client.hvals(self.instances_key)]


class FileStore:
    """JSON documents in one folder; writers serialize on an exclusive ``flock``.

    Writes go to a temporary file that replaces the document atomically, so
    readers never need the lock and never see half a document.
    """

    def __init__(self, *, folder: Path) -> None:
        self.folder = folder
        self._thread_lock = threading.Lock()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        # flock is per open file description, so threads of one process also
        # take a process-local lock first.
        self.folder.mkdir(parents=True, exist_ok=True)
        with self._thread_lock, open(self.folder / "store.lock", "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _read(self, name: str) -> object:
        try:
            with open(self.folder / name, "rb") as handle:
                return json.loads(handle.read())
        except FileNotFoundError:
            return None
        except ValueError as exc:
            raise StoreError(f"{self.folder / name} is not valid JSON: {exc}") from exc

    def _write(self, name: str, value: object) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=f".{name}.")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(json.dumps(value).encode())
            os.replace(tmp, self.folder / name)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def faults_read(self) -> list[dict]:
        return list((self._read("faults.json") or {}).values())

    def fault_put(self, *, fault: dict) -> None:
        with self._locked():
            faults = self._read("faults.json") or {}
            faults[fault["id"]] = fault
            self._write("faults.json", faults)

    def faults_delete(self, *, fault_ids: list[str] | None) -> int:
        with self._locked():
            faults = self._read("faults.json") or {}
            doomed = list(faults) if fault_ids is None else [fid for fid in fault_ids if fid in faults]
            if doomed:
                self._write("faults.json", {fid: f for fid, f in faults.items() if fid not in doomed})
            return len(doomed)

    def history_push(self, *, entry: dict, keep: int) -> None:
        with self._locked():
            history = self._read("history.json") or []
            self._write("history.json", [entry, *history][:keep])

    def history_read(self, *, limit: int) -> list[dict]:
        return (self._read("history.json") or [])[:limit]

    def heartbeat_put(self, *, instance: dict) -> None:
        with self._locked():
            instances = self._read("instances.json") or {}
            instances[instance["boot_id"]] = instance
            self._write("instances.json", instances)

    def heartbeats_delete(self, *, boot_ids: list[str]) -> None:
        with self._locked():
            instances = self._read("instances.json") or {}
            if any(boot_id in instances for boot_id in boot_ids):
                self._write("instances.json", {k: v for k, v in instances.items() if k not in boot_ids})

    def heartbeats_read(self) -> list[dict]:
        return list((self._read("instances.json") or {}).values())


_stores: dict[tuple, AnvilStore] = {}
_stores_lock = threading.Lock()


def store_get() -> AnvilStore:
    """The store for the current settings; one instance (one Redis pool) per process and configuration."""
    key = (settings.REDIS_URL, settings.ANVIL_STORE_PREFIX, str(settings.ANVIL_STATE_DIR), os.getpid())
    store = _stores.get(key)
    if store is None:
        with _stores_lock:
            store = _stores.get(key)
            if store is None:
                if settings.REDIS_URL:
                    store = RedisStore(url=settings.REDIS_URL, prefix=settings.ANVIL_STORE_PREFIX)
                else:
                    store = FileStore(folder=Path(settings.ANVIL_STATE_DIR))
                _stores[key] = store
    return store
