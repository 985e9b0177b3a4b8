#!/usr/bin/env python
"""Run url-anvil the resilient way: N replicas behind HAProxy, restarted when they die.

    python examples/resilient-anvil/supervisor.py --listen 127.0.0.1:8081 \\
        --replica-ports 18081,18082,18083 --run-dir var/run/resilient-anvil

Each replica is its own gunicorn master (anvil role) on its own port, started
in its own process group so that a crash takes down exactly one replica. All
replicas use the same settings (VAR_DIR / REDIS_URL), so they share the fault
store and the platform's chaos reaches every one of them. HAProxy is started
from ``haproxy.cfg.in`` next to this file and supervised the same way.

The supervisor restarts whatever exits, with a back-off that grows while a
process keeps dying at once (so a broken configuration does not spin) and
resets once it has stayed up. SIGTERM / SIGINT stop everything it started.
It writes ``<name>.pid`` files into the run folder (``replica-<port>.pid``,
``haproxy.pid``) so that tests and scripts can find the processes.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
VENV_BIN = Path(sys.executable).parent

STABLE_AFTER_S = 10.0
MAX_BACKOFF_S = 10.0


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    pid_path: Path
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    failures_in_a_row: int = 0
    next_start_at: float = 0.0
    restarts: int = field(default=0)

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            # A new session: the replica's gunicorn master and its workers form
            # one process group, killed (and restarted) together.
            self.process = subprocess.Popen(
                self.argv,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.started_at = time.monotonic()
        self.pid_path.write_text(f"{self.process.pid}\n")

    def exited(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def stop(self, *, timeout_s: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)
        # Workers orphaned by a master that died first must not keep the port.
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def haproxy_config_render(*, listen: str, replica_ports: list[int], stats: str, server_timeout: str) -> str:
    template = (HERE / "haproxy.cfg.in").read_text()
    servers = "\n".join(f"    server replica{i} 127.0.0.1:{port} check" for i, port in enumerate(replica_ports, 1))
    # The same replicas again, unchecked, as backups: HAProxy uses them only
    # when every checked server is down, e.g. while an "unhealthy" fault makes
    # every /healthz answer 503 although the replicas still serve requests.
    backups = "\n".join(f"    server fallback{i} 127.0.0.1:{port} backup" for i, port in enumerate(replica_ports, 1))
    return (
        template.replace("@LISTEN@", listen)
        .replace("@STATS@", stats)
        .replace("@SERVER_TIMEOUT@", server_timeout)
        .replace("@SERVERS@", servers)
        .replace("@BACKUPS@", backups)
    )


def _replica_env(*, corpus_base_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    env["DJANGO_SETTINGS_MODULE"] = "chaoschallenge.settings"
    # One corpus address for every replica: a client may fetch sample URLs from
    # one replica and post them to another, whose allow-list (the corpus host by
    # default) must accept them.
    env.setdefault("ANVIL_CORPUS_BASE_URL", corpus_base_url)
    # gunicorn_conf.py gives every master its own metrics folder (keyed by its
    # bind address); an inherited one would make the replicas' counts collide.
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env


class Supervisor:
    def __init__(self, children: list[Child]) -> None:
        self.children = children
        self.stopping = False

    def request_stop(self, signum: int, _frame: object) -> None:
        self.stopping = True

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        for child in self.children:
            child.start()
            print(f"started {child.name} (pid {child.process.pid})", flush=True)
        while not self.stopping:
            now = time.monotonic()
            for child in self.children:
                self._tend(child, now=now)
            time.sleep(0.2)
        for child in reversed(self.children):
            child.stop()
            child.pid_path.unlink(missing_ok=True)
        print("stopped", flush=True)
        return 0

    def _tend(self, child: Child, *, now: float) -> None:
        code = child.exited()
        if code is None:
            if child.failures_in_a_row and now - child.started_at > STABLE_AFTER_S:
                child.failures_in_a_row = 0
            return
        if child.next_start_at == 0.0:
            child.failures_in_a_row += 1
            backoff = 0.0 if child.failures_in_a_row == 1 else min(MAX_BACKOFF_S, 0.5 * 2**child.failures_in_a_row)
            child.next_start_at = now + backoff
            print(f"{child.name} exited with {code}; restarting in {backoff:.1f}s", flush=True)
            # Make sure no orphaned worker of the dead master keeps the port.
            try:
                os.killpg(child.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if now >= child.next_start_at:
            child.next_start_at = 0.0
            child.restarts += 1
            child.start()
            print(f"restarted {child.name} (pid {child.process.pid}, restart #{child.restarts})", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", default="127.0.0.1:8081", help="HAProxy's front address (HOST:PORT)")
    parser.add_argument("--replica-ports", default="18081,18082,18083", help="comma-separated ports of the replicas")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per replica")
    parser.add_argument("--stats", default="127.0.0.1:8404", help="HAProxy stats page and /metrics (HOST:PORT)")
    parser.add_argument("--server-timeout", default=os.environ.get("HAPROXY_SERVER_TIMEOUT", "3s"))
    parser.add_argument("--run-dir", type=Path, default=ROOT / "var" / "run" / "resilient-anvil")
    parser.add_argument("--haproxy", default=os.environ.get("HAPROXY", "haproxy"))
    args = parser.parse_args(argv)

    try:
        ports = [int(p) for p in args.replica_ports.split(",") if p.strip()]
    except ValueError:
        parser.error(f"--replica-ports must be comma-separated numbers, not {args.replica_ports!r}")
    if not ports or len(set(ports)) != len(ports):
        parser.error("--replica-ports needs at least one port, each once")

    run_dir: Path = args.run_dir.resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    config_path = run_dir / "haproxy.cfg"
    config_path.write_text(
        haproxy_config_render(
            listen=args.listen, replica_ports=ports, stats=args.stats, server_timeout=args.server_timeout
        )
    )
    check = subprocess.run([args.haproxy, "-c", "-q", "-f", str(config_path)], capture_output=True, text=True)
    if check.returncode != 0:
        print(f"haproxy refused {config_path}:\n{check.stdout}{check.stderr}", file=sys.stderr)
        return 2

    front_host, _, front_port = args.listen.rpartition(":")
    env = _replica_env(corpus_base_url=f"http://{front_host or '127.0.0.1'}:{front_port}")
    children = [
        Child(
            name=f"replica-{port}",
            argv=[
                str(VENV_BIN / "gunicorn"),
                "-c",
                str(ROOT / "chaoschallenge" / "gunicorn_conf.py"),
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(args.workers),
                "chaoschallenge.wsgi_anvil",
            ],
            env=env,
            log_path=run_dir / f"replica-{port}.log",
            pid_path=run_dir / f"replica-{port}.pid",
        )
        for port in ports
    ]
    # -db: stay in the foreground so the supervisor sees it die.
    children.append(
        Child(
            name="haproxy",
            argv=[args.haproxy, "-db", "-f", str(config_path)],
            env=dict(os.environ),
            log_path=run_dir / "haproxy.log",
            pid_path=run_dir / "haproxy.pid",
        )
    )
    return Supervisor(children).run()


if __name__ == "__main__":
    sys.exit(main())
