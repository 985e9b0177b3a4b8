#!/usr/bin/env bash
# Measure what a container on an --internal Docker network can reach, and
# whether a few firewall rules close what it should not — without touching
# this machine's own firewall or networks.
#
#   DOCKER_HOST=… scripts/lib/isolation-probe.sh [--iptables true|false] [IMAGE]
#
# Everything happens in a network namespace made for the run: a second
# dockerd runs there (its own folders and socket), so its bridges, its
# firewall rules and the "host" services probed all live in that namespace
# and vanish with it. IMAGE (default sre-chaos/debian-base:<suite>, built by
# scripts/build-images.sh) must be on the outer engine ($DOCKER_HOST); it is
# copied in and only needs python3.
#
# Inside, two --internal networks with named bridges, sbx-a and sbx-b:
#   a1 (client) and a2 (server :8080) on sbx-a, b1 (server :8080) on sbx-b,
#   and on the namespace's "host": a server on 0.0.0.0:18080 and one on
#   127.0.0.1:18081.
# From a1 it tries: the host via sbx-a's gateway (0.0.0.0 and loopback
# services), a2 (same network), b1 (the other network); and from the host,
# b1 (the platform must still reach a sandbox). Then it adds the sandbox
# rules (printed) and tries again. Output: a section per round, a line per
# attempt: KEY RESULT (what was tried), RESULT one of reached, refused
# (nobody listens, or a REJECT) and timeout (dropped).
set -euo pipefail
cd "$(dirname "$0")/../.."

IPTABLES=true
while (($#)); do
    case "$1" in
        --iptables) IPTABLES="$2"; shift 2 ;;
        *) break ;;
    esac
done
. /etc/os-release
IMAGE="${1:-sre-chaos/debian-base:${VERSION_CODENAME}}"
command -v ip >/dev/null && command -v nsenter >/dev/null && command -v dockerd >/dev/null || { echo "error: needs ip, nsenter and dockerd" >&2; exit 1; }
docker image inspect "$IMAGE" >/dev/null || { echo "error: $IMAGE is not on the engine at ${DOCKER_HOST:-the default socket}" >&2; exit 1; }
OUTER="${DOCKER_HOST:-}"

NS="chaos-iso-$$"
DIR="$(mktemp -d -t chaos-iso-XXXXXX)"
INNER="unix://$DIR/docker.sock"
HOST_PIDS=()

cleanup() {
    for pid in "${HOST_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    if [[ -f "$DIR/dockerd.pid" ]]; then
        local ids
        ids="$(DOCKER_HOST="$INNER" docker ps -aq 2>/dev/null || true)"
        [[ -z "$ids" ]] || DOCKER_HOST="$INNER" docker rm -f $ids >/dev/null 2>&1 || true
        local pid
        pid="$(cat "$DIR/dockerd.pid")"
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    ip netns delete "$NS" 2>/dev/null || true
    grep -o " $DIR[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$DIR"
}
trap cleanup EXIT

# nsenter, not "ip netns exec": that also makes a mount namespace with a
# fresh /sys, which hides the cgroup mounts dockerd needs.
in_ns() { nsenter --net="/run/netns/$NS" "$@"; }
inner() { DOCKER_HOST="$INNER" docker "$@"; }

ip netns add "$NS"
in_ns ip link set lo up
in_ns dockerd --data-root "$DIR/data" --exec-root "$DIR/exec" --pidfile "$DIR/dockerd.pid" \
    -H "$INNER" --iptables="$IPTABLES" >"$DIR/dockerd.log" 2>&1 </dev/null &
DOCKERD=$!
for _ in $(seq 150); do
    inner version >/dev/null 2>&1 && break
    kill -0 "$DOCKERD" 2>/dev/null || break
    sleep 0.2
done
inner version >/dev/null 2>&1 || { echo "error: the namespace's dockerd did not start:" >&2; tail -n 20 "$DIR/dockerd.log" >&2; exit 1; }
echo "# dockerd --iptables=$IPTABLES in network namespace $NS; ip_forward=$(in_ns cat /proc/sys/net/ipv4/ip_forward)"

DOCKER_HOST="$OUTER" docker save "$IMAGE" | inner load -q >/dev/null
for net in a b; do
    inner network create --internal -o "com.docker.network.bridge.name=sbx-$net" "sbx-$net" >/dev/null
done
SERVE='import http.server, sys; http.server.ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), http.server.SimpleHTTPRequestHandler).serve_forever()'
inner run -d --name a1 --network sbx-a "$IMAGE" sleep infinity >/dev/null
inner run -d --name a2 --network sbx-a "$IMAGE" python3 -c "$SERVE" 0.0.0.0 8080 >/dev/null
inner run -d --name b1 --network sbx-b "$IMAGE" python3 -c "$SERVE" 0.0.0.0 8080 >/dev/null
in_ns python3 -c "$SERVE" 0.0.0.0 18080 >/dev/null 2>&1 &
HOST_PIDS+=($!)
in_ns python3 -c "$SERVE" 127.0.0.1 18081 >/dev/null 2>&1 &
HOST_PIDS+=($!)

ip_of() { inner inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$1"; }
GW_A="$(inner network inspect -f '{{(index .IPAM.Config 0).Gateway}}' sbx-a)"
A2="$(ip_of a2)"
B1="$(ip_of b1)"

# Connect and read: "reached", "refused" (a REJECT or nobody listening) or
# "timeout" (dropped). Servers may still be starting: refused is retried for
# a few seconds, a timeout is final.
TRY='
import socket, sys, time
host, port = sys.argv[1], int(sys.argv[2])
deadline = time.monotonic() + 5
while True:
    try:
        with socket.create_connection((host, port), timeout=2) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            print("reached" if s.recv(12).startswith(b"HTTP/") else "no answer")
    except socket.timeout:
        print("timeout")
    except ConnectionRefusedError:
        if time.monotonic() < deadline:
            time.sleep(0.2)
            continue
        print("refused")
    except OSError as exc:
        print(type(exc).__name__)
    break
'
from_a1() { inner exec a1 python3 -c "$TRY" "$1" "$2"; }
from_host() { in_ns python3 -c "$TRY" "$1" "$2"; }

# One line per attempt: "  KEY RESULT  (what was tried)".
report() {
    echo "[$1]"
    printf '  %-16s %-8s (a1 -> %s, a service of the host on 0.0.0.0, via the gateway)\n' host-any "$(from_a1 "$GW_A" 18080)" "$GW_A:18080"
    printf '  %-16s %-8s (a1 -> %s, a service of the host on 127.0.0.1 only)\n' host-loopback "$(from_a1 "$GW_A" 18081)" "$GW_A:18081"
    printf '  %-16s %-8s (a1 -> a2 %s, the same network)\n' same-network "$(from_a1 "$A2" 8080)" "$A2:8080"
    printf '  %-16s %-8s (a1 -> b1 %s, another internal network)\n' other-network "$(from_a1 "$B1" 8080)" "$B1:8080"
    printf '  %-16s %-8s (host -> b1 %s)\n' host-to-sandbox "$(from_host "$B1" 8080)" "$B1:8080"
}

report "as the engine leaves it"

# The sandbox rules. INPUT: nothing from a sandbox bridge reaches the host,
# except answers to connections the host opened (the platform's load).
# FORWARD: traffic stays on its own bridge; nothing is routed between
# bridges or out of the namespace.
RULES=(
    "-N SANDBOX-INPUT"
    "-A SANDBOX-INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN"
    "-A SANDBOX-INPUT -j DROP"
    "-I INPUT 1 -i sbx+ -j SANDBOX-INPUT"
    "-N SANDBOX-FORWARD"
    "-A SANDBOX-FORWARD -i sbx-a -o sbx-a -j RETURN"
    "-A SANDBOX-FORWARD -i sbx-b -o sbx-b -j RETURN"
    "-A SANDBOX-FORWARD -i sbx+ -j DROP"
    "-A SANDBOX-FORWARD -o sbx+ -j DROP"
    "-I FORWARD 1 -j SANDBOX-FORWARD"
)
echo "# rules (iptables $(in_ns iptables --version | awk '{print $2, $3}')):"
for rule in "${RULES[@]}"; do
    echo "  iptables $rule"
    # shellcheck disable=SC2086
    in_ns iptables $rule
done

report "with the sandbox rules"
