#!/usr/bin/env bash
# url-anvil exposed directly: one gunicorn, nothing in front, nobody restarting it.
# The baseline the resilient example (examples/resilient-anvil/) is compared with.
#
#   examples/bare-anvil/run.sh [start|stop|status]
#
#   PORT=8090     where it listens (submit http://127.0.0.1:8090)
#   WORKERS=2     gunicorn workers
#   VAR_DIR       shared with the platform so its chaos plans reach this anvil
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"

PORT="${PORT:-8090}"
WORKERS="${WORKERS:-2}"
export VAR_DIR="${VAR_DIR:-$ROOT/var}"
RUN_DIR="$VAR_DIR/run/bare-anvil"
PIDFILE="$RUN_DIR/gunicorn.pid"

running() { [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

start() {
    if running; then echo "already running (pid $(cat "$PIDFILE"))"; return; fi
    mkdir -p "$RUN_DIR"
    ANVIL_CORPUS_BASE_URL="${ANVIL_CORPUS_BASE_URL:-http://127.0.0.1:$PORT}" \
        setsid "$ROOT/.venv/bin/gunicorn" -c chaoschallenge/gunicorn_conf.py \
        --bind "127.0.0.1:$PORT" --workers "$WORKERS" chaoschallenge.wsgi_anvil \
        >>"$RUN_DIR/gunicorn.log" 2>&1 </dev/null &
    echo $! >"$PIDFILE"
    for _ in $(seq 60); do
        if "$ROOT/.venv/bin/python" -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)" \
            "http://127.0.0.1:$PORT/healthz" 2>/dev/null; then
            echo "bare url-anvil: http://127.0.0.1:$PORT/"
            return
        fi
        running || { echo "error: gunicorn exited; see $RUN_DIR/gunicorn.log" >&2; tail -n 20 "$RUN_DIR/gunicorn.log" >&2; exit 1; }
        sleep 0.5
    done
    echo "error: no answer on :$PORT within 30 s; log in $RUN_DIR/gunicorn.log" >&2
    exit 1
}

stop() {
    if running; then
        local pid; pid="$(cat "$PIDFILE")"
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
        for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        kill -KILL -- "-$pid" 2>/dev/null || true
        echo "stopped"
    fi
    rm -f "$PIDFILE"
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    status) if running; then echo "running (pid $(cat "$PIDFILE")) on :$PORT"; else echo "stopped"; fi ;;
    *) echo "usage: $0 [start|stop|status]" >&2; exit 2 ;;
esac
