"""The ``restricted`` Pod Security Standard, checked on a pod spec before the API server does.

The namespace enforces ``restricted``, so a pod that breaks it is refused by
the cluster — but only when its ReplicaSet tries to create it, as an event
nobody reads. Checking the rewritten pod templates here turns that into a
refusal of the bundle, naming the field. The rules are those of the
Kubernetes Pod Security Standards (baseline, then restricted), for the
fields a pod spec can carry.
"""

from __future__ import annotations

from typing import Any

RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                      "projected", "secret"}
SAFE_SYSCTLS = {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
                "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
                "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
                "net.ipv4.tcp_keepalive_probes"}
SECCOMP_TYPES = {"RuntimeDefault", "Localhost"}
SELINUX_TYPES = {None, "", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}

Problem = tuple[str, str]  # (dotted path under the pod spec, what is wrong)


def restricted_problems(pod: dict[str, Any], *, at: str = "spec") -> list[Problem]:
    """Every way ``pod`` (a pod spec) breaks ``restricted``; [] when it meets it."""
    problems: list[Problem] = []
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(field):
            problems.append((f"{at}.{field}", "must be false"))
    security = pod.get("securityContext") or {}
    for index, volume in enumerate(pod.get("volumes") or []):
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            problems.append((f"{at}.volumes[{index}]", f"{', '.join(sorted(kinds - RESTRICTED_VOLUMES))} volumes are not allowed"))
    for index, sysctl in enumerate(security.get("sysctls") or []):
        if sysctl.get("name") not in SAFE_SYSCTLS:
            problems.append((f"{at}.securityContext.sysctls[{index}]", "is not a safe sysctl"))
    problems += _identity_problems(security, at=f"{at}.securityContext")
    containers = [("initContainers", c) for c in pod.get("initContainers") or []] + \
                 [("containers", c) for c in pod.get("containers") or []] + \
                 [("ephemeralContainers", c) for c in pod.get("ephemeralContainers") or []]
    counters: dict[str, int] = {}
    for group, container in containers:
        index = counters.get(group, 0)
        counters[group] = index + 1
        problems += _container_problems(container, pod_security=security, at=f"{at}.{group}[{index}]")
    return problems


def _identity_problems(security: dict[str, Any], *, at: str) -> list[Problem]:
    problems = []
    if security.get("runAsUser") == 0:
        problems.append((f"{at}.runAsUser", "must not be 0 (root)"))
    if (security.get("seLinuxOptions") or {}).get("type") not in SELINUX_TYPES:
        problems.append((f"{at}.seLinuxOptions.type", "is not an allowed SELinux type"))
    if (security.get("appArmorProfile") or {}).get("type") == "Unconfined":
        problems.append((f"{at}.appArmorProfile.type", "must not be Unconfined"))
    if (security.get("windowsOptions") or {}).get("hostProcess"):
        problems.append((f"{at}.windowsOptions.hostProcess", "must not be true"))
    return problems


def _container_problems(container: dict[str, Any], *, pod_security: dict[str, Any], at: str) -> list[Problem]:
    security = container.get("securityContext") or {}
    where = f"{at}.securityContext"
    problems = _identity_problems(security, at=where)
    if security.get("privileged"):
        problems.append((f"{where}.privileged", "must be false"))
    if security.get("allowPrivilegeEscalation") is not False:
        problems.append((f"{where}.allowPrivilegeEscalation", "must be false"))
    capabilities = security.get("capabilities") or {}
    if "ALL" not in (capabilities.get("drop") or []):
        problems.append((f"{where}.capabilities.drop", "must include ALL"))
    added = set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}
    if added:
        problems.append((f"{where}.capabilities.add", f"may add only NET_BIND_SERVICE, not {', '.join(sorted(added))}"))
    if security.get("procMount") not in (None, "Default"):
        problems.append((f"{where}.procMount", "must be Default"))
    non_root = security.get("runAsNonRoot", pod_security.get("runAsNonRoot"))
    if non_root is not True:
        problems.append((f"{where}.runAsNonRoot", "must be true (here or on the pod)"))
    seccomp = (security.get("seccompProfile") or pod_security.get("seccompProfile") or {}).get("type")
    if seccomp not in SECCOMP_TYPES:
        problems.append((f"{where}.seccompProfile.type", "must be RuntimeDefault or Localhost (here or on the pod)"))
    for index, port in enumerate(container.get("ports") or []):
        if port.get("hostPort"):
            problems.append((f"{at}.ports[{index}].hostPort", "must not be set"))
    return problems
