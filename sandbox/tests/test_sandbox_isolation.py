"""What a container of a sandbox reaches, tried from inside it: its own sandbox, and nothing else.

Two real sandboxes (the bare bundle) on the engine, with the platform's
firewall rules (sandbox.firewall) that every sandbox start makes sure of.
From a container of the first: a listener of this test bound to 0.0.0.0 on
the host, through every address the host has (the sandbox bridge's gateway
among them); the platform's port, PostgreSQL's and Redis's on those
addresses; the second sandbox's containers — all dropped (a timeout, not a
refusal: a refusal would mean the packet reached the host). The other
container of its own sandbox answers. The network's isolation is read from
its own configuration, never shown by sending traffic outside.
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading

import psutil
import pytest
from django.conf import settings

from sandbox.engine import engine_client
from sandbox.firewall import firewall_status
from sandbox.services import sandbox_down, sandbox_up
from sandbox.tests.bundles import example

pytestmark = pytest.mark.integration

# Runs inside a sandbox container: tries every (host, port) at once and
# prints what each gave: reached, refused or timeout.
TRY = r"""
import json, socket, sys, threading
targets, results = json.loads(sys.argv[1]), {}
def attempt(host, port):
    try:
        with socket.create_connection((host, port), timeout=3):
            results[f"{host}:{port}"] = "reached"
    except socket.timeout:
        results[f"{host}:{port}"] = "timeout"
    except ConnectionRefusedError:
        results[f"{host}:{port}"] = "refused"
    except OSError as exc:
        results[f"{host}:{port}"] = type(exc).__name__
threads = [threading.Thread(target=attempt, args=(h, p)) for h, p in targets]
[t.start() for t in threads]
[t.join() for t in threads]
print(json.dumps(results))
"""


class _Hello(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.sendall(b"hello from the host\n")


@pytest.fixture
def host_listener():
    server = socketserver.ThreadingTCPServer(("0.0.0.0", 0), _Hello)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def two_sandboxes(sandbox_module):
    first = sandbox_up(bundle_text=example("bare-anvil.yaml"), ttl_s=600)
    try:
        second = sandbox_up(bundle_text=example("bare-anvil.yaml"), ttl_s=600)
    except BaseException:
        sandbox_down(sandbox_id=first["id"])
        raise
    yield first, second
    sandbox_down(sandbox_id=first["id"])
    sandbox_down(sandbox_id=second["id"])


def _host_addresses() -> list[str]:
    return sorted({a.address for addresses in psutil.net_if_addrs().values() for a in addresses
                   if a.family == socket.AF_INET and not a.address.startswith("127.")})


def _from_inside(sandbox: dict, targets: list[tuple[str, int]]) -> dict[str, str]:
    anvil = next(c["name"] for c in sandbox["containers"] if c["role"] == "app")
    result = engine_client().containers.get(anvil).exec_run(["python3", "-c", TRY, json.dumps(targets)])
    assert result.exit_code == 0, result.output
    return json.loads(result.output.decode().strip().splitlines()[-1])


def _gateway(sandbox: dict) -> str:
    network = engine_client().networks.get(sandbox["network"])
    return network.attrs["IPAM"]["Config"][0]["Gateway"]


def test_a_sandbox_network_is_internal_on_a_bridge_the_firewall_rules_cover(two_sandboxes):
    first, _ = two_sandboxes
    attrs = engine_client().networks.get(first["network"]).attrs

    assert attrs["Internal"] is True
    assert attrs["Options"]["com.docker.network.bridge.name"] == first["network"]
    assert first["network"].startswith("sbx-") and len(first["network"]) <= 15
    assert attrs["Options"]["com.docker.network.bridge.enable_ip_masquerade"] == "false"
    assert attrs["Labels"]["org.sre-chaos.sandbox"] == first["id"]
    assert all(state.installed for state in firewall_status() if state.family == "ipv4")


def test_nothing_of_the_host_and_no_other_sandbox_is_reachable_from_inside(two_sandboxes, host_listener):
    first, second = two_sandboxes
    gateway = _gateway(first)
    addresses = _host_addresses()
    assert gateway in addresses
    # The listener does answer on every host address, the gateway included: from the host.
    for address in addresses:
        with socket.create_connection((address, host_listener), timeout=3) as conn:
            assert conn.recv(5) == b"hello"
    other = [c["name"] for c in second["containers"]]
    other_addresses = [engine_client().containers.get(name).attrs["NetworkSettings"]["Networks"][second["network"]]["IPAddress"]
                       for name in other]
    targets = [(address, port) for address in addresses
               for port in (host_listener, settings.PLATFORM_PORT, 5432, 6379)]
    targets += [(address, port) for address in other_addresses for port in (80, 8080)]

    seen = _from_inside(first, targets)

    assert seen == {f"{host}:{port}": "timeout" for host, port in targets}


def test_the_containers_of_one_sandbox_reach_each_other(two_sandboxes):
    first, _ = two_sandboxes
    proxy = next(c["name"] for c in first["containers"] if c["role"] == "proxy")
    proxy_address = engine_client().containers.get(proxy).attrs["NetworkSettings"]["Networks"][first["network"]]["IPAddress"]

    seen = _from_inside(first, [("entrypoint", 80), (proxy_address, 80), ("p0.pods.sandbox", 8080)])

    assert set(seen.values()) == {"reached"}, seen


def test_ipv6_is_off_inside_a_sandbox(two_sandboxes):
    first, _ = two_sandboxes
    anvil = next(c["name"] for c in first["containers"] if c["role"] == "app")

    result = engine_client().containers.get(anvil).exec_run(["cat", "/proc/sys/net/ipv6/conf/all/disable_ipv6"])

    assert result.output.strip() == b"1"
