"""gunicorn settings shared by both web roles.

Start with ``gunicorn -c chaoschallenge/gunicorn_conf.py chaoschallenge.wsgi``
(platform) or ``... chaoschallenge.wsgi_anvil`` (anvil). Everything here can be
overridden on the command line (``--bind``, ``--workers``).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

_var = Path(os.environ.get("VAR_DIR", Path(__file__).resolve().parent.parent / "var")).resolve()

# The anvil role is recognised by its WSGI module on the command line; the
# config file runs before gunicorn exposes the app name anywhere else.
_anvil = any("wsgi_anvil" in arg for arg in sys.argv[1:])

workers = int(os.environ.get("WEB_WORKERS", "2"))
if _anvil:
    # url-anvil fetches URLs while it serves, usually its own /corpus/. With a
    # fixed pool of threads, 32 clients posting /api/test occupy every thread
    # waiting for corpus fetches that no thread is left to answer (measured: 0
    # answers in 5 s under gthread). gevent serves each connection in its own
    # greenlet, so a fetch, an injected delay or a hang holds no scarce slot.
    worker_class = os.environ.get("ANVIL_WORKER_CLASS", "gevent")
    worker_connections = int(os.environ.get("ANVIL_WORKER_CONNECTIONS", "1000"))
else:
    worker_class = os.environ.get("WEB_WORKER_CLASS", "gthread")
    # One listening socket per worker (SO_REUSEPORT), so the kernel spreads new
    # connections over the workers. On a shared socket the worker that wakes
    # first may accept every connection of a burst, and keep-alive clients stay
    # where they landed: under wrk -c16, in 2 runs of 5 one worker served all
    # 16 on one core while the other idled, at half the requests per second
    # (docs/benchmarks.md). The price: connections still queued at a worker
    # that stops are reset, which only a restart does.
    reuse_port = True
threads = int(os.environ.get("WEB_THREADS", "4"))
timeout = int(os.environ.get("WEB_TIMEOUT", "60"))
graceful_timeout = 10
keepalive = 5
accesslog = os.environ.get("WEB_ACCESS_LOG") or None
errorlog = "-"
# gunicorn >= 25 opens a control socket under $HOME by default. Several
# gunicorn masters run side by side here (platform, anvil replicas, tests) and
# would fight over that one path; nothing of ours uses it, so it stays off.
control_socket_disable = True


def _multiproc_dir(bind: list[str]) -> Path:
    label = "-".join(b.replace(":", "_").replace("/", "_").replace("[", "").replace("]", "") for b in bind)
    return _var / "prometheus" / label


def on_starting(server) -> None:
    # Workers inherit this: a url-anvil "crash" fault with target "server"
    # kills exactly this master, never some other parent process.
    os.environ["ANVIL_SERVER_PID"] = str(os.getpid())
    # prometheus_client's multiprocess mode: every worker writes its samples to
    # files in one folder and /metrics sums them, so counts add up across
    # workers. The folder belongs to this master alone (keyed by its bind
    # address) and is emptied at start so that dead runs do not linger.
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        folder = _multiproc_dir(server.cfg.bind)
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
    else:
        Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)


def child_exit(server, worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def _is_anvil() -> bool:
    # wsgi_anvil sets CHAOS_ROLE while the worker loads the application, which
    # happens before post_worker_init.
    return os.environ.get("CHAOS_ROLE") == "anvil"


def post_worker_init(worker) -> None:
    if _is_anvil():
        import gc

        # Register the worker's heartbeat and keep its copy of the faults fresh
        # from a background thread, so no request waits on the shared store.
        from anvil.fault_injection import ticker

        ticker.start()
        # Everything loaded so far lives as long as the worker: keep it out of
        # the collector's full passes, which otherwise rescan the whole
        # project's module graph over and over under load.
        gc.freeze()


def worker_exit(server, worker) -> None:
    if _is_anvil():
        from anvil.fault_injection import ticker

        ticker.stop()
