"""Who this process is: a boot id that is new in every process, including each forked gunicorn worker."""

from __future__ import annotations

import os
import secrets
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class Instance:
    boot_id: str
    pid: int
    host: str
    started_at: float  # epoch seconds
    started_monotonic: float

    def as_dict(self) -> dict:
        return {
            "boot_id": self.boot_id,
            "pid": self.pid,
            "host": self.host,
            "started_at": datetime.fromtimestamp(self.started_at, tz=UTC).isoformat(),
        }

    def uptime_s(self) -> float:
        return time.monotonic() - self.started_monotonic


_current: Instance | None = None


def instance_current() -> Instance:
    """This process's identity, created on first use after start or fork.

    Checking the pid makes a worker forked from a master that already had an
    identity get its own, so the load engine can count restarts by boot id.
    """
    global _current
    current = _current
    pid = os.getpid()
    if current is None or current.pid != pid:
        current = Instance(
            boot_id=secrets.token_hex(8),
            pid=pid,
            host=socket.gethostname(),
            started_at=time.time(),
            started_monotonic=time.monotonic(),
        )
        _current = current
    return current
