"""kube-proxy's part for one Service: a TCP proxy from the Service's ports to its pods' target ports.

The proxy is the catalogue's haproxy in TCP mode, holding the Service's name
on the sandbox network. It is as plain as kube-proxy on purpose: it retries
nothing and holds nothing back, so a bundle is as resilient as what the
bundle itself does, not more. Pods are found by their platform alias through
Docker's resolver, again every second, so a pod that restarts (with another
address) or is cut off the network drops out and comes back as it would from
a Service's endpoints; a pod with a readiness probe is checked the same way
(HTTP or TCP) and left out while it fails, as Kubernetes leaves a pod that is
not ready out of its Services.
"""

from __future__ import annotations

PROXY_CONFIG_PATH = "/usr/local/etc/haproxy/haproxy.cfg"
# Two descriptors per connection within the engine's default open-file limit.
MAX_CONNECTIONS = 8_000


def proxy_config(*, service: dict, pods: dict[str, dict]) -> str:
    """haproxy.cfg for ``service`` (a plan Service); ``pods``: pod name → plan Pod."""
    lines = [
        "global",
        f"    maxconn {MAX_CONNECTIONS}",
        "    nbthread 2",
        "",
        # Docker's resolver, from the container's own resolv.conf; names are
        # looked up again every second and an answer is kept no longer.
        "resolvers sandbox",
        "    parse-resolv-conf",
        "    timeout resolve 1s",
        "    timeout retry 1s",
        "    hold valid 1s",
        "    hold nx 1s",
        "    hold refused 1s",
        "    hold timeout 1s",
        "    hold obsolete 1s",
        "",
        "defaults",
        "    mode tcp",
        "    timeout connect 5s",
        "    timeout client 1h",
        "    timeout server 1h",
        # One attempt per connection, as a connection to a Service's address
        # is: whoever connects sees the refusal and decides what to do.
        "    retries 0",
        "    option redispatch 0",
        "",
    ]
    for port in service["ports"]:
        label = f"p{port['port']}"
        lines += [f"frontend {label}", f"    bind :{port['port']}", f"    default_backend {label}", ""]
        lines += [f"backend {label}", "    balance random"]
        probes = {name: _readiness(pods[name]) for name in port["targets"]}
        checked = [probe for probe in probes.values() if probe and probe["kind"] in ("http", "tcp")]
        http_paths = {probe["path"] for probe in checked if probe["kind"] == "http"}
        # One HTTP check per backend in haproxy: when the pods' probes differ,
        # a TCP check of each pod's probe port stands in for them.
        if len(http_paths) == 1 and all(probe["kind"] == "http" for probe in checked):
            lines += ["    option httpchk", f"    http-check send meth GET uri {http_paths.pop()}",
                      "    http-check expect rstatus ^[23]"]
        for pod_name, target in sorted(port["targets"].items()):
            pod = pods[pod_name]
            server = f"    server {pod_name} {pod['net_alias']}:{target} resolvers sandbox init-addr none resolve-prefer ipv4"
            probe = probes[pod_name]
            if probe and probe["kind"] in ("http", "tcp"):
                server += (f" check port {probe['port']} inter {probe['period_s']}s fall {probe['failure_threshold']}"
                           f" rise {probe['success_threshold']}")
            lines.append(server)
        if not port["targets"]:
            # A Service without endpoints: connections are refused.
            lines.append("    # no pod of the bundle serves this port")
        lines.append("")
    return "\n".join(lines)


def _readiness(pod: dict) -> dict | None:
    """The readiness probe that stands for the pod (its first container that has one)."""
    for container in pod["containers"]:
        if container["readiness"]:
            return container["readiness"]
    return None
