"""The platform's firewall rules for sandbox networks, on the machine the engine runs on.

An ``--internal`` Docker network keeps no container from the host: its
bridge's gateway address is the host, and every host service on 0.0.0.0
answers there; with ``dockerd --iptables=false`` the host even routes
between sandboxes (measured: docs/sandbox.md, "Isolation"). Every sandbox
bridge is named ``sbx-…`` so that one set of rules covers them all:

* INPUT from a sandbox bridge: only answers to connections the host opened
  (the platform's readiness checks and fault control); everything else is
  dropped, so nothing of the host is reachable, whatever address is tried.
* FORWARD: a frame that stays on its own bridge (container to container of
  one sandbox; bridge netfilter shows it to FORWARD too) passes; anything
  routed into or out of a sandbox bridge — another sandbox, the outside — is
  dropped.

The same rules for IPv6 (the containers have IPv6 off, the bridge may still
have a link-local address). ``firewall_ensure`` installs them when they are
missing and checks them otherwise; it is idempotent and safe to call from
several processes at once (a file lock).
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

BRIDGE_PREFIX = "sbx-"
INPUT_CHAIN = "SANDBOX-INPUT"
FORWARD_CHAIN = "SANDBOX-FORWARD"
_TIMEOUT_S = 10

# Rules of the two chains, in order, as ``iptables -S`` prints them.
CHAIN_RULES = {
    INPUT_CHAIN: [
        ["-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "RETURN"],
        ["-j", "DROP"],
    ],
    FORWARD_CHAIN: [
        ["-m", "physdev", "--physdev-is-bridged", "-j", "RETURN"],
        ["-i", f"{BRIDGE_PREFIX}+", "-j", "DROP"],
        ["-o", f"{BRIDGE_PREFIX}+", "-j", "DROP"],
    ],
}
# Where the chains are entered, first thing.
JUMPS = [
    ("INPUT", ["-i", f"{BRIDGE_PREFIX}+", "-j", INPUT_CHAIN]),
    ("FORWARD", ["-j", FORWARD_CHAIN]),
]


class FirewallError(RuntimeError):
    """The rules are missing and cannot be installed here (no iptables, no permission)."""


@dataclass(frozen=True)
class FirewallState:
    family: str  # "ipv4" / "ipv6"
    installed: bool
    problem: str = ""


def _tools() -> list[tuple[str, str]]:
    tools = [("ipv4", "iptables"), ("ipv6", "ip6tables")]
    return [(family, path) for family, name in tools if (path := shutil.which(name))]


def _run(tool: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([tool, "-w", "5", *args], capture_output=True, text=True, timeout=_TIMEOUT_S, check=False)


def _chain_rules(tool: str, chain: str) -> list[list[str]] | None:
    """The chain's rules as argument lists, or None if the chain does not exist."""
    result = _run(tool, "-S", chain)
    if result.returncode != 0:
        return None
    rules = []
    for line in result.stdout.splitlines():
        parts = line.split()
        if parts[:2] == ["-A", chain]:
            rules.append(parts[2:])
    return rules


def _state(family: str, tool: str) -> FirewallState:
    for chain, wanted in CHAIN_RULES.items():
        rules = _chain_rules(tool, chain)
        if rules is None:
            probe = _run(tool, "-S", "INPUT")
            if probe.returncode != 0:
                return FirewallState(family, False, f"{tool}: {probe.stderr.strip()[:200]}")
            return FirewallState(family, False, f"chain {chain} is missing")
        if rules != wanted:
            return FirewallState(family, False, f"chain {chain} holds other rules than the platform's")
    for parent, rule in JUMPS:
        first = _run(tool, "-S", parent)
        lines = [line.split() for line in first.stdout.splitlines() if line.startswith("-A ")]
        if not lines or lines[0][2:] != rule:
            return FirewallState(family, False, f"{parent} does not enter {rule[-1]} first")
    return FirewallState(family, True)


def firewall_status() -> list[FirewallState]:
    tools = _tools()
    if not tools:
        return [FirewallState("ipv4", False, "iptables is not installed")]
    return [_state(family, tool) for family, tool in tools]


def _install(tool: str) -> None:
    for chain, rules in CHAIN_RULES.items():
        if _chain_rules(tool, chain) is None:
            _checked(tool, "-N", chain)
        if _chain_rules(tool, chain) != rules:
            _checked(tool, "-F", chain)
            for rule in rules:
                _checked(tool, "-A", chain, *rule)
    for parent, rule in JUMPS:
        # Whatever else is there (another jump of ours further down after a
        # restart), ours must come first.
        while _run(tool, "-C", parent, *rule).returncode == 0:
            _checked(tool, "-D", parent, *rule)
        _checked(tool, "-I", parent, "1", *rule)


def _checked(tool: str, *args: str) -> None:
    result = _run(tool, *args)
    if result.returncode != 0:
        raise FirewallError(f"{tool} {' '.join(args)}: {result.stderr.strip()[:300]}")


def firewall_ensure(*, lock_dir: Path, install: bool = True) -> list[FirewallState]:
    """Make sure the rules are in place (installing them if allowed); FirewallError if they are not and cannot be."""
    tools = _tools()
    if not tools:
        raise FirewallError("iptables is not installed: sandbox networks cannot be sealed off from the host")
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / "firewall.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        states = []
        for family, tool in tools:
            state = _state(family, tool)
            if not state.installed and install:
                try:
                    _install(tool)
                except FirewallError as exc:
                    if family == "ipv6":
                        # Without IPv6 tables (a kernel without them) there is
                        # no IPv6 path to seal: the containers have IPv6 off.
                        states.append(FirewallState(family, False, str(exc)))
                        continue
                    raise
                state = _state(family, tool)
            if not state.installed and family == "ipv4":
                raise FirewallError(f"the sandbox firewall rules are not in place: {state.problem}")
            states.append(state)
        return states


def firewall_remove() -> None:
    """Take the platform's rules out again (``manage.py sandbox_firewall remove``)."""
    for _, tool in _tools():
        for parent, rule in JUMPS:
            while _run(tool, "-C", parent, *rule).returncode == 0:
                _checked(tool, "-D", parent, *rule)
        for chain in CHAIN_RULES:
            if _chain_rules(tool, chain) is not None:
                _checked(tool, "-F", chain)
                _checked(tool, "-X", chain)
