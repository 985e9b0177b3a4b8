"""The load runner as a child process on this host: start it, read its records, stop it.

``python -m loadtest.runner`` writes one JSON record per line (see its
docstring). A reader thread turns them into dicts on ``records``; ``END`` marks
the end of its output. Only this module knows the runner is a local process:
another place (a container) offers the same four members.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent.parent
STOP_WAIT_S = 5.0
# Put on ``records`` after the runner's last line.
END = object()


def runner_arguments(*, target_url: str, profile: dict, processes: int, probe_url: str | None = None) -> list[str]:
    """The arguments of ``python -m loadtest.runner`` for one run, wherever it runs."""
    arguments = ["--target", target_url, "--profile", json.dumps(profile), "--processes", str(processes)]
    return arguments + (["--probe-url", probe_url] if probe_url else [])


def record_parse(line: bytes) -> dict:
    """One line of the runner's output as a record; anything else as a ``garbage`` record."""
    try:
        record = json.loads(line)
    except ValueError:
        return {"type": "garbage", "line": line[:200].decode(errors="replace")}
    return record if isinstance(record, dict) else {"type": "garbage", "line": str(record)[:200]}


class LocalRunnerProcess:
    """One ``python -m loadtest.runner`` in its own session, so it stops as one process group."""

    def __init__(self, *, target_url: str, profile: dict, processes: int, probe_url: str | None = None) -> None:
        self.records: queue.SimpleQueue = queue.SimpleQueue()
        cmd = [sys.executable, "-m", "loadtest.runner",
               *runner_arguments(target_url=target_url, profile=profile, processes=processes, probe_url=probe_url)]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(BASE_DIR), env.get("PYTHONPATH", "")]))
        self._stderr = tempfile.TemporaryFile(prefix="loadtest-runner-")
        # Its own session: Ctrl-C in a terminal reaches only the orchestrator,
        # which then stops the runner (and its workers) as one process group.
        self._process = subprocess.Popen(
            cmd, cwd=BASE_DIR, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=self._stderr, start_new_session=True,
        )
        self.spawned_at = time.monotonic()
        self._reader = threading.Thread(target=self._read, name="loadtest-reader", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.poll()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            line = line.strip()
            if line:
                self.records.put(record_parse(line))
        self.records.put(END)

    def wait(self, *, timeout_s: float) -> int | None:
        try:
            return self._process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        """SIGTERM the group, SIGKILL what is left after a grace; safe to call twice."""
        process = self._process
        if process.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                process.wait(timeout=STOP_WAIT_S)
        else:
            # The runner is gone; its workers (same group) must not outlive it.
            self._signal_group(signal.SIGKILL)
        # The process is gone, so the reader meets end-of-file; closing the
        # pipe under a reader still in readline() would break it instead.
        self._reader.join(timeout=STOP_WAIT_S)
        if process.stdout is not None and not self._reader.is_alive():
            process.stdout.close()

    def _signal_group(self, signum: int) -> None:
        try:
            os.killpg(self._process.pid, signum)
        except ProcessLookupError:
            return

    def stderr_tail(self) -> str:
        """The last line the runner wrote to stderr (its traceback's last line), or ""."""
        if self._stderr.closed:
            return ""
        self._stderr.seek(0, os.SEEK_END)
        size = self._stderr.tell()
        self._stderr.seek(max(0, size - 1500))
        tail = self._stderr.read().decode(errors="replace").strip()
        return tail.splitlines()[-1][:500] if tail else ""

    def close(self) -> None:
        self._stderr.close()
