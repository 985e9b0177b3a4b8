#!/usr/bin/env bash
# url-anvil behind HAProxy: 3 replicas, active health checks, retries on
# another replica, and a supervisor that restarts a replica that dies.
#
#   examples/resilient-anvil/run.sh [start|stop|status]
#
#   LB_PORT=8081            where HAProxy listens (submit http://127.0.0.1:8081)
#   REPLICA_PORTS=18081,18082,18083
#   STATS_PORT=8404         HAProxy stats page (/stats) and Prometheus metrics (/metrics)
#   WORKERS=2               gunicorn workers per replica
#   VAR_DIR                 shared with the platform so its chaos plans reach the replicas
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"

LB_PORT="${LB_PORT:-8081}"
REPLICA_PORTS="${REPLICA_PORTS:-18081,18082,18083}"
STATS_PORT="${STATS_PORT:-8404}"
WORKERS="${WORKERS:-2}"
export VAR_DIR="${VAR_DIR:-$ROOT/var}"
RUN_DIR="$VAR_DIR/run/resilient-anvil"
PIDFILE="$RUN_DIR/supervisor.pid"

running() { [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

start() {
    command -v haproxy >/dev/null || { echo "error: haproxy is not installed (apt-get install haproxy)" >&2; exit 1; }
    if running; then echo "already running (supervisor pid $(cat "$PIDFILE"))"; return; fi
    mkdir -p "$RUN_DIR"
    setsid "$ROOT/.venv/bin/python" examples/resilient-anvil/supervisor.py \
        --listen "127.0.0.1:$LB_PORT" --replica-ports "$REPLICA_PORTS" --workers "$WORKERS" \
        --stats "127.0.0.1:$STATS_PORT" --run-dir "$RUN_DIR" \
        >>"$RUN_DIR/supervisor.log" 2>&1 </dev/null &
    echo $! >"$PIDFILE"
    # Ready once HAProxy counts every replica as up (each has passed two health checks).
    local replicas; replicas="$(tr ',' '\n' <<<"$REPLICA_PORTS" | grep -c .)"
    for _ in $(seq 60); do
        if "$ROOT/.venv/bin/python" - "http://127.0.0.1:$STATS_PORT/metrics" "$replicas" <<'PY' 2>/dev/null
import re, sys, urllib.request
text = urllib.request.urlopen(sys.argv[1], timeout=2).read().decode()
up = re.search(r'^haproxy_backend_active_servers\{proxy="anvil_replicas"\} (\d+)', text, re.M)
sys.exit(0 if up and int(up[1]) >= int(sys.argv[2]) else 1)
PY
        then
            echo "resilient url-anvil: http://127.0.0.1:$LB_PORT/ (replicas $REPLICA_PORTS, stats http://127.0.0.1:$STATS_PORT/stats)"
            return
        fi
        running || { echo "error: supervisor exited; see $RUN_DIR/supervisor.log" >&2; tail -n 20 "$RUN_DIR/supervisor.log" >&2; exit 1; }
        sleep 0.5
    done
    echo "error: the replicas were not all up behind :$LB_PORT within 30 s; logs in $RUN_DIR" >&2
    exit 1
}

stop() {
    if running; then
        local pid; pid="$(cat "$PIDFILE")"
        kill -TERM "$pid"
        for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        kill -KILL "$pid" 2>/dev/null || true
        echo "stopped"
    fi
    rm -f "$PIDFILE"
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    status) if running; then echo "running (supervisor pid $(cat "$PIDFILE")) on :$LB_PORT"; else echo "stopped"; fi ;;
    *) echo "usage: $0 [start|stop|status]" >&2; exit 2 ;;
esac
