"""What a container on an --internal network reaches, measured (scripts/lib/isolation-probe.sh).

Each case runs a dockerd of its own inside a network namespace made for it,
so the firewall rules it tries never touch this machine's. The facts are the
ones docs/sandbox.md ("Isolation") reports; these tests keep them true.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from sandbox.tests.docker import ROOT, engine_required

pytestmark = pytest.mark.integration


def probe(*, iptables: bool) -> dict[str, dict[str, str]]:
    result = subprocess.run(
        [str(ROOT / "scripts" / "lib" / "isolation-probe.sh"), "--iptables", "true" if iptables else "false"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    if result.returncode != 0:
        pytest.fail(f"isolation-probe.sh failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    rounds: dict[str, dict[str, str]] = {}
    current = None
    for line in result.stdout.splitlines():
        if line.startswith("["):
            current = rounds.setdefault(line.strip("[]"), {})
        elif current is not None and line.startswith("  ") and not line.startswith("  iptables"):
            key, outcome = line.split()[:2]
            current[key] = outcome
    return rounds


@pytest.fixture(scope="module")
def namespaces(built):
    if os.geteuid() != 0:
        if engine_required():
            pytest.fail("the isolation probe makes network namespaces: it needs root")
        pytest.skip("the isolation probe makes network namespaces: it needs root")


# One probe per engine setting (each takes some 20 s), shared by the tests.
@pytest.fixture(scope="module")
def without_iptables(namespaces):
    return probe(iptables=False)


@pytest.fixture(scope="module")
def with_iptables(namespaces):
    return probe(iptables=True)


def test_without_iptables_an_internal_network_reaches_the_host_and_other_networks(without_iptables):
    engine = without_iptables["as the engine leaves it"]

    assert engine["host-any"] == "reached"
    assert engine["other-network"] == "reached"
    # Loopback-only services stay out of reach (route_localnet is off).
    assert engine["host-loopback"] == "refused"


def test_with_iptables_the_engine_separates_networks_but_not_the_host(with_iptables):
    engine = with_iptables["as the engine leaves it"]

    assert engine["other-network"] == "timeout"
    assert engine["host-any"] == "reached"


@pytest.mark.parametrize("engine", ["without_iptables", "with_iptables"])
def test_the_sandbox_rules_seal_a_network_off_and_keep_it_reachable_from_the_host(request, engine):
    sealed = request.getfixturevalue(engine)["with the sandbox rules"]

    assert sealed == {
        "host-any": "timeout",
        "host-loopback": "timeout",
        "same-network": "reached",
        "other-network": "timeout",
        "host-to-sandbox": "reached",
    }
