"""wrk, the load generator every benchmark here measures with, and what it prints."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _latency_ms(output: str, percentile: int) -> float:
    match = re.search(rf"^\s+{percentile}%\s+([\d.]+)(us|ms|s)\b", output, re.M)
    return float(match.group(1)) * _UNIT_MS[match.group(2)]


def wrk(url: str, *, connections: int, duration: int, script: Path | str | None = None, threads: int = 1) -> dict:
    """``wrk -t{threads} -c{connections} -d{duration}s --latency`` against ``url``.

    Returns requests/s (``rps``), ``p50_ms``, ``p99_ms``, the count of non-2xx/3xx
    answers (``non_2xx``) and wrk's socket-errors line, empty when there were none.
    """
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "10s"]
    if script:
        cmd += ["-s", str(script)]
    output = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    socket_errors = re.search(r"Socket errors:.*", output)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50_ms": _latency_ms(output, 50),
        "p99_ms": _latency_ms(output, 99),
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": socket_errors.group(0) if socket_errors else "",
    }


def lua_post(path: Path, *, body: str) -> Path:
    """Write a wrk script that POSTs ``body`` as JSON with every request; returns its path."""
    path.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(body)}\n"
    )
    return path
