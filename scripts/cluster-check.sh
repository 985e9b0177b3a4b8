#!/usr/bin/env bash
# One reference bundle end to end on a real cluster, through the competition:
# a participant is made, the bundle is submitted through the API, the platform
# runs it in a sandbox namespace of the cluster, and the score is printed.
#
#   ./scripts/cluster-check.sh [BUNDLE] [CHALLENGE]
#       BUNDLE     default examples/bundles/bare-anvil.yaml
#       CHALLENGE  default robust-service
#
# Needs: kubectl pointed at a cluster running deploy/kubernetes/overlays/competition
# (SANDBOX_BACKEND=kubernetes, the images pushed), and python3 here.
# PLATFORM_NAMESPACE (default sre-chaos) and CHECK_TIMEOUT_S (default 600) may be set.
# Exit codes: 0 scored and verified; 1 failed, refused or timed out; 2 bad arguments.
set -euo pipefail
cd "$(dirname "$0")/.."

bundle="${1:-examples/bundles/bare-anvil.yaml}"
challenge="${2:-robust-service}"
namespace="${PLATFORM_NAMESPACE:-sre-chaos}"
[[ -r "$bundle" ]] || { echo "error: cannot read $bundle" >&2; exit 2; }
command -v kubectl >/dev/null || { echo "error: kubectl is not installed" >&2; exit 2; }

user="cluster-check-$(date +%s)"
echo "==> participant $user" >&2
key="$(kubectl -n "$namespace" exec deploy/platform -c platform -- python manage.py create_participant "$user" | tail -n 1)"

port="${CHECK_LOCAL_PORT:-18000}"
kubectl -n "$namespace" port-forward svc/platform "$port:8000" >/dev/null 2>&1 &
forward=$!
trap 'kill "$forward" 2>/dev/null || true' EXIT

echo "==> submitting $bundle to $challenge" >&2
python3 - "$bundle" "$challenge" "$key" "$port" "${CHECK_TIMEOUT_S:-600}" <<'EOF'
import json, sys, time, urllib.error, urllib.request

bundle, challenge, key, port, timeout_s = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])
base = f"http://127.0.0.1:{port}/api/v1"
# The platform answers only its allowed hosts; localhost is one (its probes use it).
headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json", "Host": "localhost"}


def call(method, url, body=None):
    request = urllib.request.Request(url, method=method, headers=headers,
                                     data=json.dumps(body).encode() if body is not None else None)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


deadline = time.monotonic() + timeout_s
while True:  # the port-forward takes a moment
    try:
        status, answer = call("POST", f"{base}/submissions", {"challenge": challenge, "bundle": open(bundle).read()})
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit("error: the platform did not answer through the port-forward")
        time.sleep(1)
if status != 202:
    sys.exit(f"refused ({status}): {json.dumps(answer)}")
url = f"{base}/submissions/{answer['id']}"
print(f"submission {answer['id']}: queued", file=sys.stderr)
last = None
while time.monotonic() < deadline:
    status, answer = call("GET", url)
    if answer.get("status") != last:
        last = answer.get("status")
        print(f"submission {answer['id']}: {last}", file=sys.stderr)
    if last in ("scored", "failed", "cancelled"):
        break
    time.sleep(2)
print(json.dumps({key: answer.get(key) for key in ("id", "status", "score", "statistics", "verified", "error")},
                 indent=2))
sys.exit(0 if answer.get("status") == "scored" and answer.get("verified") else 1)
EOF
