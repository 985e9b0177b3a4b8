"""One sandbox on the engine: its private network, its pods and Service proxies, their readiness, their end.

``Sandbox(plan=…)`` turns a plan (``sandbox.plan``) into Docker objects:

* a bridge network of its own, ``--internal`` (no route out), whose Linux
  bridge is named ``sbx-<id>`` so that the platform's firewall rules
  (``sandbox.firewall``) cover it;
* per pod, its containers from the pinned images, under a read-only root
  with tmpfs scratch folders, every capability dropped, no new privileges,
  CPU, memory and process limits, and Docker's ``always`` restart policy (a
  Deployment's pod restarts whatever its exit code). A pod of several
  containers shares one network namespace, held by a small "pause" container
  as Kubernetes does, so its containers reach each other on localhost;
* per Service, DNS aliases on its pods, or a TCP proxy (``sandbox.proxy``);
* ConfigMaps as read-only files the platform writes under ``state_dir``.

Readiness is judged from the host (which reaches container addresses on the
bridge; the firewall lets answers back in): a container's readiness and
startup probes if it has them, else running and accepting connections on
every port it declares.
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
import logging
import os
import secrets
import shutil
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import docker
import docker.errors
from docker.types import IPAMConfig, IPAMPool, Mount

from sandbox import engine
from sandbox.engine import ENGINE_ERRORS
from sandbox.plan import config_map_files
from sandbox.proxy import PROXY_CONFIG_PATH, proxy_config

logger = logging.getLogger(__name__)

POLL_S = 0.25
# A container that has exited this many times before it was ever ready is
# crash-looping: say so now rather than when the allowance runs out.
CRASH_LOOP_RESTARTS = 3
LOG_TAIL_LINES = 5
PROXY_NANO_CPUS = 1_000_000_000
PROXY_MEMORY_BYTES = 128 * 2**20
PAUSE_NANO_CPUS = 50_000_000
PAUSE_MEMORY_BYTES = 16 * 2**20
START_WORKERS = 6


def sandbox_id_new() -> str:
    # 10 hex digits: "sbx-" + id is 14 characters, within Linux's 15 for an interface name.
    return secrets.token_hex(5)


def network_name(sandbox_id: str) -> str:
    return f"sbx-{sandbox_id}"


class SandboxNotReady(RuntimeError):
    """The sandbox did not get ready; the message is what its containers said."""


@dataclass
class PodState:
    pod: dict
    net_container: str  # the container that holds the pod's network (itself, or its pause container)
    containers: list[str]  # app containers, in the pod's order
    ready: bool = False
    started_at: float = 0.0
    passes: dict[str, int] = field(default_factory=dict)
    detail: str = ""


class Sandbox:
    errors = ENGINE_ERRORS

    def __init__(self, *, sandbox_id: str, plan: dict, state_dir: Path, deadline: float, run_id: str = "",
                 origin: str = "", anvil_token: str = "", pids_limit: int = 512, subnet_pool: str = "") -> None:
        self.id = sandbox_id
        self.deadline_mono = float("inf")
        self.ready_s = 0.0
        self.cpus = 1
        self.plan = plan
        self.network = network_name(sandbox_id)
        self.files = state_dir / sandbox_id
        self.deadline = deadline
        self.anvil_token = anvil_token
        # Django's, for the url-anvil replicas (DEBUG is off there); it signs nothing they keep.
        self.secret_key = secrets.token_urlsafe(40)
        self.pids_limit = pids_limit
        self.subnet_pool = subnet_pool
        self.labels = {
            engine.LABEL: sandbox_id,
            engine.LABEL_DEADLINE: str(int(deadline)),
            engine.LABEL_RUN: str(run_id),
            engine.LABEL_ORIGIN: origin[:100],
            engine.LABEL_DATABASE: engine.database_label(),
        }
        self.pods = {pod["name"]: pod for pod in plan["pods"]}
        self.states: dict[str, PodState] = {}
        self.proxies: dict[str, str] = {}  # Service name → proxy container name
        self._local = threading.local()
        self._thread_clients: list[docker.DockerClient] = []
        self.client = engine.engine_client()

    # --- engine access -------------------------------------------------------------

    def _client(self) -> docker.DockerClient:
        # One client per thread: pods are started side by side.
        if threading.current_thread() is threading.main_thread():
            return self.client
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = engine.engine_client()
            self._thread_clients.append(client)
        return client

    def _labels(self, **extra: str) -> dict[str, str]:
        return {**self.labels, **{key: value for key, value in extra.items() if value}}

    def container_name(self, pod: str, container: str | None = None) -> str:
        return f"sbx-{self.id}-{pod}" + (f"-{container}" if container else "")

    # --- create ----------------------------------------------------------------------

    def create(self, *, ready_s: float) -> None:
        """Make the network, the files and every container, and start them (readiness is ``wait_ready``'s).

        ``ready_s`` counts from now and covers init containers, which run to
        their end here, before their pod's other containers start.
        """
        self.deadline_mono = time.monotonic() + ready_s
        self.ready_s = ready_s
        self.cpus = int(self.client.info().get("NCPU") or 1)
        self._network_create()
        self._files_write()
        self.proxies = {svc["name"]: self.container_name(f"svc-{svc['name']}") for svc in self.plan["services"]
                        if svc["proxy"]}
        try:
            with concurrent.futures.ThreadPoolExecutor(max_workers=START_WORKERS) as pool:
                jobs = [pool.submit(self._pod_start, pod) for pod in self.plan["pods"]]
                jobs += [pool.submit(self._proxy_start, svc) for svc in self.plan["services"] if svc["proxy"]]
                for job in jobs:
                    job.result()
        finally:
            # The pool's threads are gone; so are the clients they used.
            for client in self._thread_clients:
                client.close()
            self._thread_clients.clear()

    def _network_create(self) -> None:
        options = {
            "name": self.network, "driver": "bridge", "internal": True, "check_duplicate": True,
            "options": {"com.docker.network.bridge.name": self.network,
                        "com.docker.network.bridge.enable_ip_masquerade": "false"},
            "labels": self._labels(**{engine.LABEL_ROLE: "network"}),
        }
        if not self.subnet_pool:
            self.client.networks.create(**options)
            return
        # An engine's default address pools hold some thirty networks; a pool
        # of the platform's holds a sandbox per /24 of it. Two workers may
        # pick the same subnet at once: the engine refuses the second, which
        # takes the next one.
        for subnet in _free_subnets(self.client, pool=self.subnet_pool):
            gateway = str(next(subnet.hosts()))
            ipam = IPAMConfig(pool_configs=[IPAMPool(subnet=str(subnet), gateway=gateway)])
            try:
                self.client.networks.create(**options, ipam=ipam)
                return
            except docker.errors.APIError as exc:
                if "overlap" not in str(exc).lower():
                    raise
        raise SandboxNotReady(f"no free /24 left in SANDBOX_SUBNET_POOL {self.subnet_pool}")

    def _files_write(self) -> None:
        self.files.mkdir(parents=True, exist_ok=True)
        os.chmod(self.files, 0o755)
        for pod in self.plan["pods"]:
            for container in pod["init_containers"] + pod["containers"]:
                for mount in container["config_mounts"]:
                    base = self._volume_dir(pod["name"], mount["volume"])
                    if base.exists():
                        continue
                    config_map = self.plan["config_maps"][mount["config_map"]]
                    _tree_write(base, config_map_files(config_map, items=mount["items"]))
        for svc in self.plan["services"]:
            if svc["proxy"]:
                path = self.files / "proxies" / svc["name"] / "haproxy.cfg"
                _tree_write(path.parent, {"haproxy.cfg": proxy_config(service=svc, pods=self.pods).encode()})

    def _volume_dir(self, pod: str, volume: str) -> Path:
        return self.files / "pods" / pod / volume

    def _aliases(self, pod: dict) -> list[str]:
        aliases = [pod["net_alias"]]
        for svc in self.plan["services"]:
            if not svc["proxy"] and pod["name"] in svc["pods"]:
                aliases += _service_names(svc["name"])
        return aliases

    def _pod_start(self, pod: dict) -> None:
        client = self._client()
        several = len(pod["containers"]) + len(pod["init_containers"]) > 1
        aliases = self._aliases(pod)
        for volume, size in pod["shared_volumes"].items():
            client.volumes.create(
                name=self.container_name(pod["name"], f"vol-{volume}"), driver="local",
                driver_opts={"type": "tmpfs", "device": "tmpfs", "o": f"size={size},mode=1777"},
                labels=self._labels(**{engine.LABEL_POD: pod["name"], engine.LABEL_ROLE: "volume"}),
            )
        if several:
            pause = self._pause_start(pod, aliases=aliases, client=client)
            net_container, network = pause, {"network_mode": f"container:{pause}"}
        else:
            net_container = self.container_name(pod["name"], pod["containers"][0]["name"])
            network = {"network": self.network,
                       "networking_config": {self.network: client.api.create_endpoint_config(aliases=aliases)},
                       "hostname": pod["hostname"][:63]}
        state = PodState(pod=pod, net_container=net_container,
                         containers=[self.container_name(pod["name"], c["name"]) for c in pod["containers"]])
        self.states[pod["name"]] = state
        for container in pod["init_containers"]:
            self._init_run(pod, container, network=network, client=client)
        for container in pod["containers"]:
            created = client.containers.create(**self._container_args(pod, container, network=network, role="app"))
            created.start()
        state.started_at = time.monotonic()

    def _pause_start(self, pod: dict, *, aliases: list[str], client: docker.DockerClient) -> str:
        name = self.container_name(pod["name"])
        image = pod["containers"][0]["image_ref"]
        # The pause container also holds the pod's shared tmpfs volumes: a
        # tmpfs volume lives while some container mounts it, and an init
        # container's files must still be there for the containers after it.
        mounts = [Mount(f"/pod-volumes/{volume}", self.container_name(pod["name"], f"vol-{volume}"), type="volume")
                  for volume in pod["shared_volumes"]]
        created = client.containers.create(
            image, entrypoint=["sleep", "infinity"], name=name, hostname=pod["hostname"][:63], init=True,
            mounts=mounts,
            network=self.network,
            networking_config={self.network: client.api.create_endpoint_config(aliases=aliases)},
            labels=self._labels(**{engine.LABEL_POD: pod["name"], engine.LABEL_ROLE: "pause"}),
            restart_policy={"Name": "always"}, **_locked_down(read_only=True, network_settings=True),
            nano_cpus=PAUSE_NANO_CPUS,
            mem_limit=PAUSE_MEMORY_BYTES, memswap_limit=PAUSE_MEMORY_BYTES, pids_limit=8,
        )
        created.start()
        return name

    def _init_run(self, pod: dict, container: dict, *, network: dict, client: docker.DockerClient) -> None:
        args = self._container_args(pod, container, network=network, role="init")
        args["restart_policy"] = {"Name": "no"}
        created = client.containers.create(**args)
        created.start()
        try:
            result = created.wait(timeout=max(1.0, self.deadline_mono - time.monotonic()))
        except ENGINE_ERRORS as exc:
            raise SandboxNotReady(f"{pod['name']}/{container['name']} (init) did not finish in time: {exc}") from exc
        if result.get("StatusCode") != 0:
            tail = _log_tail(created)
            raise SandboxNotReady(f"{pod['name']}/{container['name']} (init) exited with code {result.get('StatusCode')}"
                                  f"{'; last log lines: ' + tail if tail else ''}")
        created.remove(force=True)

    def _container_args(self, pod: dict, container: dict, *, network: dict, role: str) -> dict:
        env = dict(container["env"])
        if container["anvil"]:
            env["SECRET_KEY"] = self.secret_key
            if self.anvil_token:
                env["ANVIL_CHAOS_TOKEN"] = self.anvil_token
        uid, gid = container["user"]
        tmpfs = {path: f"size={size},uid={uid},gid={gid},mode=1777" for path, size in container["tmpfs"].items()}
        mounts = []
        for mount in container["config_mounts"]:
            source = self._volume_dir(pod["name"], mount["volume"])
            if mount["sub_path"]:
                source = source / mount["sub_path"]
                if not source.exists():
                    raise SandboxNotReady(f"{pod['name']}/{container['name']}: subPath {mount['sub_path']!r} "
                                          f"is not in ConfigMap {mount['config_map']!r}")
            mounts.append(Mount(mount["target"], str(source), type="bind", read_only=True))
        for mount in container["volume_mounts"]:
            mounts.append(Mount(mount["target"], self.container_name(pod["name"], f"vol-{mount['volume']}"),
                                type="volume", read_only=False))
        args = {
            "image": container["image_ref"],
            "name": self.container_name(pod["name"], container["name"]),
            "environment": env,
            "labels": self._labels(**{engine.LABEL_POD: pod["name"], engine.LABEL_CONTAINER: container["name"],
                                      engine.LABEL_ROLE: role, engine.LABEL_IMAGE: container["image"]}),
            "init": True,
            "restart_policy": {"Name": "always"},
            # A limit above the machine is the machine (the engine refuses more).
            "nano_cpus": min(container["nano_cpus"], self.cpus * 1_000_000_000),
            "cpu_shares": container["cpu_shares"],
            "mem_limit": container["mem_limit"],
            # No swap: the memory limit is the limit.
            "memswap_limit": container["mem_limit"],
            "pids_limit": self.pids_limit,
            "tmpfs": tmpfs,
            "mounts": mounts,
            # A container in its pod's network namespace (the pause
            # container's) takes the namespace's settings as they are.
            **_locked_down(read_only=True, network_settings="network" in network),
            **network,
        }
        if container["entrypoint"] is not None:
            args["entrypoint"] = container["entrypoint"]
            # As Kubernetes: a command of its own drops the image's arguments too.
            args["command"] = container["command"] or []
        elif container["command"] is not None:
            args["command"] = container["command"]
        if container["working_dir"]:
            args["working_dir"] = container["working_dir"]
        if container["run_as"]:
            args["user"] = container["run_as"]
        if container["group_add"]:
            args["group_add"] = [str(g) for g in container["group_add"]]
        return args

    def _proxy_start(self, svc: dict) -> None:
        client = self._client()
        config = self.files / "proxies" / svc["name"] / "haproxy.cfg"
        image = self.plan["proxy_image"]
        created = client.containers.create(
            image, name=self.proxies[svc["name"]], network=self.network,
            networking_config={self.network: client.api.create_endpoint_config(aliases=_service_names(svc["name"]))},
            labels=self._labels(**{engine.LABEL_ROLE: "proxy", engine.LABEL_POD: f"svc-{svc['name']}"}),
            init=True, restart_policy={"Name": "always"}, nano_cpus=PROXY_NANO_CPUS, mem_limit=PROXY_MEMORY_BYTES,
            memswap_limit=PROXY_MEMORY_BYTES, pids_limit=64,
            mounts=[Mount(PROXY_CONFIG_PATH, str(config), type="bind", read_only=True)],
            tmpfs={"/tmp": "size=16m,mode=1777"},
            # A Service's port may be below 1024; the proxy has no capability to bind it otherwise.
            **_locked_down(read_only=True, network_settings=True,
                           extra_sysctls={"net.ipv4.ip_unprivileged_port_start": "0"}),
        )
        created.start()

    # --- readiness ---------------------------------------------------------------

    def wait_ready(self) -> float:
        """Wait until every pod is ready and every Service proxy accepts, within ``create``'s allowance.

        Returns the seconds it waited; raises SandboxNotReady with what the
        containers said (state, exit code, readiness, last log lines).
        """
        started = time.monotonic()
        deadline = self.deadline_mono
        ready_s = self.ready_s
        pending_proxies = dict(self.proxies)
        while True:
            for state in self.states.values():
                if not state.ready:
                    self._pod_check(state)
            for svc, name in list(pending_proxies.items()):
                if self._proxy_check(svc, name):
                    del pending_proxies[svc]
            if all(s.ready for s in self.states.values()) and not pending_proxies:
                return time.monotonic() - started
            looping = [s for s in self.states.values() if s.detail.startswith("crash-looping")]
            if looping or time.monotonic() >= deadline:
                raise SandboxNotReady(self._not_ready_reason(ready_s=ready_s, pending_proxies=pending_proxies,
                                                             crash_loop=bool(looping)))
            time.sleep(POLL_S)

    def _pod_check(self, state: PodState) -> None:
        client = self._client()
        ip = self.address(state.net_container)
        for name, container in zip(state.containers, state.pod["containers"], strict=True):
            try:
                attrs = client.api.inspect_container(name)
            except ENGINE_ERRORS as exc:
                state.detail = f"{name}: cannot be inspected: {exc}"
                return
            status = attrs["State"]["Status"]
            restarts = attrs.get("RestartCount", 0)
            if status != "running":
                state.detail = _state_text(attrs)
                if restarts >= CRASH_LOOP_RESTARTS:
                    state.detail = f"crash-looping: {state.detail}"
                return
            if not ip:
                state.detail = f"{name}: running, no address on the sandbox network yet"
                return
            for kind in ("startup", "readiness"):
                probe = container[kind]
                if probe is None or state.passes.get(f"{name}:{kind}", 0) >= probe["success_threshold"]:
                    continue
                if time.monotonic() - state.started_at < probe["initial_delay_s"]:
                    state.detail = f"{name}: waiting {probe['initial_delay_s']} s before its {kind} probe"
                    return
                ok, detail = self._probe_run(probe, ip=ip, container=name)
                key = f"{name}:{kind}"
                state.passes[key] = state.passes.get(key, 0) + 1 if ok else 0
                if state.passes[key] < probe["success_threshold"]:
                    state.detail = f"{name}: {kind} probe: {detail}"
                    return
            if container["readiness"] is None and container["startup"] is None:
                for port in sorted(set(container["ports"].values())):
                    ok, detail = _answers(ip, port, timeout_s=2.0)
                    if not ok:
                        state.detail = f"{name}: running, not answering on port {port}: {detail}"
                        return
        state.ready, state.detail = True, ""

    def _proxy_check(self, svc: str, name: str) -> bool:
        try:
            if self._client().api.inspect_container(name).get("RestartCount", 0) >= CRASH_LOOP_RESTARTS:
                raise SandboxNotReady(self._not_ready_reason(ready_s=self.ready_s, pending_proxies={svc: name},
                                                             crash_loop=True))
        except ENGINE_ERRORS:
            return False
        ip = self.address(name)
        if not ip:
            return False
        service = next(s for s in self.plan["services"] if s["name"] == svc)
        # Through the proxy to a pod: it has found its pods (by name) too.
        return all((_answers if port["targets"] else _tcp_try)(ip, port["port"], timeout_s=2.0)[0]
                   for port in service["ports"])

    def _probe_run(self, probe: dict, *, ip: str, container: str) -> tuple[bool, str]:
        if probe["kind"] == "http":
            return _http_try(f"{probe['scheme']}://{ip}:{probe['port']}{probe['path']}", headers=probe["headers"],
                             timeout_s=float(probe["timeout_s"]))
        if probe["kind"] == "tcp":
            return _tcp_try(ip, probe["port"], timeout_s=float(probe["timeout_s"]))
        return self._exec_try(container, probe["command"], timeout_s=float(probe["timeout_s"]))

    def _exec_try(self, container: str, command: list[str], *, timeout_s: float) -> tuple[bool, str]:
        outcome: list[tuple[bool, str]] = []

        def run() -> None:
            try:
                result = engine.engine_client().containers.get(container).exec_run(command, stdout=True, stderr=True)
                text = result.output.decode(errors="replace").strip()[-200:]
                outcome.append((result.exit_code == 0, f"exit code {result.exit_code}{': ' + text if text else ''}"))
            except ENGINE_ERRORS as exc:
                outcome.append((False, f"exec failed: {exc}"))

        # The SDK's exec has no timeout; a command that hangs is a failed probe.
        worker = threading.Thread(target=run, daemon=True, name="sandbox-exec-probe")
        worker.start()
        worker.join(timeout_s + 1)
        return outcome[0] if outcome else (False, f"no answer within {timeout_s:g} s")

    def _not_ready_reason(self, *, ready_s: float, pending_proxies: dict, crash_loop: bool) -> str:
        head = "a container of the bundle is crash-looping" if crash_loop else f"the bundle was not ready within {ready_s:g} s"
        parts = []
        for state in self.states.values():
            if state.ready:
                continue
            detail = state.detail.removeprefix("crash-looping: ") or "starting"
            tails = []
            for name in state.containers:
                tail = _log_tail_of(self._client(), name)
                if tail:
                    tails.append(f"{name.removeprefix(f'sbx-{self.id}-')}: {tail}")
            parts.append(f"pod {state.pod['name']}: {detail.replace(f'sbx-{self.id}-', '')}"
                         + (f"; last log lines: {' | '.join(tails)}" if tails else ""))
        for svc, name in pending_proxies.items():
            try:
                state = _state_text(self._client().api.inspect_container(name))
            except ENGINE_ERRORS as exc:
                state = f"cannot be inspected: {exc}"
            tail = _log_tail_of(self._client(), name)
            parts.append(f"Service {svc}: its proxy does not accept connections ({state.replace(f'sbx-{self.id}-', '')})"
                         + (f"; last log lines: {tail}" if tail else ""))
        return f"{head}: " + "; ".join(parts)

    # --- while running -------------------------------------------------------------

    def address(self, container: str) -> str:
        """The container's address on the sandbox network ("" when it has none: stopped, cut off)."""
        try:
            attrs = self._client().api.inspect_container(container)
        except ENGINE_ERRORS:
            return ""
        network = (attrs.get("NetworkSettings", {}).get("Networks") or {}).get(self.network) or {}
        return network.get("IPAddress") or ""

    def entrypoint(self, *, service: str = "entrypoint", port: int = 80) -> tuple[str, int]:
        """Where the host reaches a Service: its proxy's address, or its first pod's, and the port there."""
        svc = next(s for s in self.plan["services"] if s["name"] == service)
        if svc["proxy"]:
            return self.address(self.proxies[service]), port
        pod = svc["pods"][0]
        target = next(p for p in svc["ports"] if p["port"] == port)["targets"][pod]
        return self.address(self.states[pod].net_container), target

    def anvil_replicas(self) -> list[dict]:
        """Every url-anvil container of the bundle: pod, container name, address and port (address "" if down)."""
        replicas = []
        for state in self.states.values():
            for name, container in zip(state.containers, state.pod["containers"], strict=True):
                if container["anvil"]:
                    replicas.append({"pod": state.pod["name"], "container": name, "port": container["anvil_port"],
                                     "address": self.address(state.net_container)})
        return replicas

    def restarts(self, container: str) -> int:
        """How often the engine restarted the container (-1 when it cannot tell)."""
        try:
            return int(self._client().api.inspect_container(container).get("RestartCount") or 0)
        except ENGINE_ERRORS:
            return -1

    def pod_kill(self, pod: str) -> None:
        """Kill every process of the pod's containers, as the kernel's OOM killer or a node would.

        From inside the container (``kill -KILL -1``: every process but the
        container's init, which then ends with its child), so that Docker's
        restart policy applies: a ``docker kill`` counts as a deliberate stop.
        """
        client = self._client()
        for name in self.states[pod].containers:
            result = client.containers.get(name).exec_run(["/bin/sh", "-c", "kill -KILL -1"])
            if result.exit_code not in (0, None, 137, -1):
                raise RuntimeError(f"{name}: kill answered {result.exit_code}: {result.output[-200:]!r}")

    def pod_disconnect(self, pod: str) -> None:
        self._client().api.disconnect_container_from_network(self.states[pod].net_container, self.network, force=True)

    def pod_reconnect(self, pod: str) -> None:
        state = self.states[pod]
        self._client().api.connect_container_to_network(state.net_container, self.network,
                                                        aliases=self._aliases(state.pod))

    def containers(self) -> list[dict]:
        """The sandbox's containers as the engine sees them now: name, role, pod, image, state, restarts."""
        try:
            found = self.client.api.containers(all=True, filters={"label": f"{engine.LABEL}={self.id}"})
        except ENGINE_ERRORS as exc:
            logger.warning("sandbox %s: its containers cannot be listed: %s", self.id, exc)
            return []
        rows = []
        for summary in found:
            labels = summary.get("Labels") or {}
            try:
                attrs = self.client.api.inspect_container(summary["Id"])
            except ENGINE_ERRORS as exc:
                logger.warning("sandbox %s: %s cannot be inspected: %s", self.id, summary["Id"][:12], exc)
                continue
            rows.append({
                "name": attrs["Name"].lstrip("/"),
                "role": labels.get(engine.LABEL_ROLE, ""),
                "pod": labels.get(engine.LABEL_POD, ""),
                "image": labels.get(engine.LABEL_IMAGE) or ("haproxy" if labels.get(engine.LABEL_ROLE) == "proxy" else ""),
                "image_id": attrs.get("Image", ""),
                "state": attrs["State"]["Status"],
                "exit_code": attrs["State"].get("ExitCode"),
                "oom_killed": bool(attrs["State"].get("OOMKilled")),
                "restarts": int(attrs.get("RestartCount") or 0),
            })
        return sorted(rows, key=lambda row: row["name"])

    def teardown(self) -> None:
        sandbox_remove(client=self.client, sandbox_id=self.id, state_dir=self.files.parent)


def sandbox_remove(*, client: docker.DockerClient, sandbox_id: str, state_dir: Path) -> int:
    """Remove every container, volume and network labelled with the sandbox, and its files; how many objects."""
    selector = {"label": f"{engine.LABEL}={sandbox_id}"}
    ids = [summary["Id"] for summary in client.api.containers(all=True, filters=selector)]
    local = threading.local()
    clients: list[docker.DockerClient] = []

    def remove(container_id: str) -> int:
        # Side by side, a client per thread: each removal waits for its
        # container's processes to be gone, and a sandbox has several.
        worker = getattr(local, "client", None)
        if worker is None:
            worker = local.client = engine.engine_client()
            clients.append(worker)
        try:
            worker.api.remove_container(container_id, force=True, v=True)
        except docker.errors.NotFound:
            return 0
        return 1

    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=START_WORKERS) as pool:
            removed = sum(pool.map(remove, ids))
    finally:
        for worker in clients:
            worker.close()
    for volume in client.api.volumes(filters=selector).get("Volumes") or []:
        try:
            client.api.remove_volume(volume["Name"], force=True)
            removed += 1
        except docker.errors.NotFound:
            continue
    for network in client.api.networks(filters=selector):
        try:
            client.api.remove_network(network["Id"])
            removed += 1
        except docker.errors.NotFound:
            continue
    files = state_dir / sandbox_id
    if files.is_dir() and files.parent == state_dir:
        shutil.rmtree(files, ignore_errors=True)
    return removed


def _free_subnets(client: docker.DockerClient, *, pool: str) -> list[ipaddress.IPv4Network]:
    network = ipaddress.ip_network(pool)
    taken = []
    for existing in client.api.networks():
        for config in (existing.get("IPAM") or {}).get("Config") or []:
            try:
                taken.append(ipaddress.ip_network(config.get("Subnet", ""), strict=False))
            except ValueError:
                continue
    candidates = network.subnets(new_prefix=max(24, network.prefixlen)) if network.prefixlen <= 24 else [network]
    return [subnet for subnet in candidates if not any(subnet.overlaps(other) for other in taken)]


def _service_names(name: str) -> list[str]:
    # What a pod of a cluster may call a Service by: its name, and the fully
    # qualified forms in the namespace the sandbox stands for ("default").
    return [name, f"{name}.default", f"{name}.default.svc", f"{name}.default.svc.cluster.local"]


def _locked_down(*, read_only: bool, network_settings: bool, extra_sysctls: dict | None = None) -> dict:
    settings = {
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],
        "read_only": read_only,
        "privileged": False,
    }
    if network_settings:
        # IPv6 is off on sandbox networks; no link-local address either.
        settings["sysctls"] = {"net.ipv6.conf.all.disable_ipv6": "1", **(extra_sysctls or {})}
    return settings


def _tree_write(base: Path, files: dict[str, bytes]) -> None:
    """Write files under ``base`` (a folder of the platform's), readable by any user, never outside it."""
    base.mkdir(parents=True, exist_ok=True)
    os.chmod(base, 0o755)
    root = base.resolve()
    for relative, content in files.items():
        path = (base / relative).resolve()
        if root not in path.parents:
            raise ValueError(f"{relative!r} leaves its folder")
        path.parent.mkdir(parents=True, exist_ok=True)
        for parent in path.relative_to(root).parents:
            os.chmod(root / parent, 0o755)
        path.write_bytes(content)
        os.chmod(path, 0o644)


def _state_text(attrs: dict) -> str:
    state = attrs["State"]
    name = attrs["Name"].lstrip("/")
    text = f"{name}: {state['Status']}"
    if state["Status"] in ("exited", "restarting", "dead"):
        text += f" (exit code {state.get('ExitCode')}{', killed for exceeding its memory limit' if state.get('OOMKilled') else ''})"
    restarts = attrs.get("RestartCount") or 0
    if restarts:
        text += f" after {restarts} restart{'s' if restarts != 1 else ''}"
    if state.get("Error"):
        text += f": {state['Error'][:200]}"
    return text


def _log_tail(container) -> str:
    try:
        raw = container.logs(stdout=True, stderr=True, tail=LOG_TAIL_LINES)
    except ENGINE_ERRORS:
        return ""
    lines = [line.strip() for line in raw.decode(errors="replace").splitlines() if line.strip()]
    return " / ".join(line[:200] for line in lines[-LOG_TAIL_LINES:])


def _log_tail_of(client: docker.DockerClient, name: str) -> str:
    try:
        return _log_tail(client.containers.get(name))
    except ENGINE_ERRORS:
        return ""


def _tcp_try(host: str, port: int, *, timeout_s: float) -> tuple[bool, str]:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True, "accepted"
    except OSError as exc:
        return False, f"{type(exc).__name__}: {exc}"


def _answers(host: str, port: int, *, timeout_s: float) -> tuple[bool, str]:
    """Whether a server on ``host:port`` answers a request: any bytes back (of any HTTP status) count.

    Accepting a connection is not enough: gunicorn, say, listens long before
    its workers can answer, and a proxy before it has found its pods.
    """
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as conn:
            conn.sendall(b"GET / HTTP/1.0\r\nHost: " + host.encode() + b"\r\n\r\n")
            if conn.recv(1):
                return True, "answered"
            return False, "closed the connection without an answer"
    except OSError as exc:
        return False, f"{type(exc).__name__}: {exc}"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs) -> None:
        return None


def _http_try(url: str, *, headers: dict, timeout_s: float) -> tuple[bool, str]:
    """A kubelet's httpGet probe: 200-399 passes; redirects are not followed (the kubelet would, within the pod)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    opener = urllib.request.build_opener(_NoRedirects, urllib.request.HTTPSHandler(context=context))
    try:
        with opener.open(urllib.request.Request(url, headers=headers), timeout=timeout_s) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (OSError, ValueError) as exc:
        return False, f"{getattr(exc, 'reason', exc)}"
    return 200 <= status < 400, f"answered {status}"
