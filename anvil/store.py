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
import functools
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

from django.conf import settings

logger = logging.getLogger(__name__)

try:
    from redis import RedisError
except ImportError:  # pragma: no cover - redis is in requirements.txt
    RedisError = OSError  # type: ignore[misc,assignment]

_BACKEND_ERRORS = (RedisError, OSError)


class StoreError(RuntimeError):
    """The shared store cannot be reached or used; every backend raises this, whatever failed beneath."""


def _store_errors(cls: type) -> type:
    """Turn the backends' own failures (redis errors, OS errors) into ``StoreError`` on every public method."""

    def wrap(method: Callable) -> Callable:
        @functools.wraps(method)
        def wrapper(*args, **kwargs):
            try:
                return method(*args, **kwargs)
            except _BACKEND_ERRORS as exc:
                raise StoreError(f"{type(exc).__name__}: {exc}") from exc

        return wrapper

    for name, member in list(vars(cls).items()):
        if callable(member) and not name.startswith("_"):
            setattr(cls, name, wrap(member))
    return cls


class AnvilStore(Protocol):
    def faults_read(self) -> list[dict]: ...
    def fault_put(self, *, fault: dict) -> None: ...
    def faults_delete(self, *, fault_ids: list[str] | None) -> int: ...
    def history_push(self, *, entry: dict, keep: int) -> None: ...
    def history_read(self, *, limit: int) -> list[dict]: ...
    def heartbeat_put(self, *, instance: dict) -> None: ...
    def heartbeats_delete(self, *, boot_ids: list[str]) -> None: ...
    def heartbeats_read(self) -> list[dict]: ...


@_store_errors
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


@_store_errors
class FileStore:
    """JSON documents in one folder; every change is a read-modify-write under an exclusive ``flock``.

    Each process keeps its documents open and rewrites them in place (write
    from offset 0, then truncate to the new length); readers take a shared
    lock. Replacing files by rename would be simpler, but on ext4 every rename
    over an existing file forces a data flush (~0.8 ms measured), which at
    hundreds of URL tests a second made the history the bottleneck.
    """

    def __init__(self, *, folder: Path) -> None:
        self.folder = folder
        self._thread_lock = threading.Lock()
        self._files: dict[str, int] = {}

    def _fd(self, name: str) -> int:
        fd = self._files.get(name)
        if fd is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = self._files[name] = os.open(self.folder / name, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        return fd

    @contextlib.contextmanager
    def _locked(self, name: str, mode: int) -> Iterator[int]:
        # flock belongs to the open file, which the threads of one process
        # share, so they serialize on a plain lock first.
        with self._thread_lock:
            fd = self._fd(name)
            fcntl.flock(fd, mode)
            try:
                yield fd
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def _load(self, fd: int, name: str, empty: object) -> object:
        size = os.fstat(fd).st_size
        raw = os.pread(fd, size, 0) if size else b""
        if not raw:
            return empty
        try:
            return json.loads(raw)
        except ValueError:
            # Only a process killed in the middle of a write leaves this; the
            # document is advisory state that the next write replaces.
            logger.warning("%s held invalid JSON; starting it afresh", self.folder / name)
            return empty

    def _dump(self, fd: int, value: object) -> None:
        raw = json.dumps(value).encode()
        os.pwrite(fd, raw, 0)
        os.ftruncate(fd, len(raw))

    def _read(self, name: str, empty: object) -> object:
        with self._locked(name, fcntl.LOCK_SH) as fd:
            return self._load(fd, name, empty)

    def _update(self, name: str, empty: object, change: Callable[[object], object]) -> object:
        with self._locked(name, fcntl.LOCK_EX) as fd:
            current = self._load(fd, name, empty)
            updated, result = change(current)
            if updated is not None:
                self._dump(fd, updated)
            return result

    def faults_read(self) -> list[dict]:
        return list(self._read("faults.json", {}).values())

    def fault_put(self, *, fault: dict) -> None:
        self._update("faults.json", {}, lambda faults: ({**faults, fault["id"]: fault}, None))

    def faults_delete(self, *, fault_ids: list[str] | None) -> int:
        def change(faults: dict) -> tuple[dict | None, int]:
            doomed = set(faults) if fault_ids is None else {fid for fid in fault_ids if fid in faults}
            if not doomed:
                return None, 0
            return {fid: f for fid, f in faults.items() if fid not in doomed}, len(doomed)

        return self._update("faults.json", {}, change)

    def history_push(self, *, entry: dict, keep: int) -> None:
        self._update("history.json", [], lambda history: ([entry, *history][:keep], None))

    def history_read(self, *, limit: int) -> list[dict]:
        return self._read("history.json", [])[:limit]

    def heartbeat_put(self, *, instance: dict) -> None:
        self._update("instances.json", {}, lambda instances: ({**instances, instance["boot_id"]: instance}, None))

    def heartbeats_delete(self, *, boot_ids: list[str]) -> None:
        def change(instances: dict) -> tuple[dict | None, None]:
            if not any(boot_id in instances for boot_id in boot_ids):
                return None, None
            return {k: v for k, v in instances.items() if k not in boot_ids}, None

        self._update("instances.json", {}, change)

    def heartbeats_read(self) -> list[dict]:
        return list(self._read("instances.json", {}).values())


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
