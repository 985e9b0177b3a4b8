#!/usr/bin/env bash
# Bring the platform up on embedded defaults, in the background.
#
#   ./scripts/dev-setup.sh          create/update .venv, migrate, start (or keep) everything
#   ./scripts/dev-setup.sh status   show what runs
#   ./scripts/dev-setup.sh stop     stop what this script started
#
# Ports: PLATFORM_PORT (8000), ANVIL_PORT (8080), LOADTEST_METRICS_PORT (9109,
# the load-test worker's metrics; another free port when that one is taken).
# Running it again is harmless: a service already running with the same
# settings is left alone, and one whose settings changed (a port, a variable
# of .env.example such as ENABLE_LOCAL_TRACKER) is restarted, and says so.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

export PLATFORM_PORT="${PLATFORM_PORT:-8000}"
export ANVIL_PORT="${ANVIL_PORT:-8080}"
export VAR_DIR="${VAR_DIR:-$ROOT/var}"
# Debug pages are fine here: every service below listens on 127.0.0.1 only,
# so nobody but this machine sees them. Anything other machines can reach
# runs with DEBUG=false (the compose stack does by default).
export DEBUG="${DEBUG:-true}"
# Load tests: their own queue and worker (concurrency 1: two tests never share
# this machine). The worker reaches the local anvil's faults through the fault
# store both share under $VAR_DIR (or Redis), so chaos plans work as they are.
export LOADTEST_QUEUE="${LOADTEST_QUEUE:-loadtest}"
metrics_port_given="${LOADTEST_METRICS_PORT:+yes}"
LOADTEST_METRICS_PORT="${LOADTEST_METRICS_PORT:-9109}"
RUN_DIR="$VAR_DIR/run"
LOG_DIR="$VAR_DIR/log"

port_free() {
    .venv/bin/python - "$1" <<'PY' 2>/dev/null
import socket, sys
with socket.socket() as s:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", int(sys.argv[1])))
PY
}

free_port() {
    .venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# name | command (run from the repo root with .venv/bin on PATH) | URL that answers once it is up (or -)
services() {
    cat <<LIST
anvil|gunicorn -c chaoschallenge/gunicorn_conf.py --bind 127.0.0.1:$ANVIL_PORT chaoschallenge.wsgi_anvil|http://127.0.0.1:$ANVIL_PORT/healthz
platform|gunicorn -c chaoschallenge/gunicorn_conf.py --bind 127.0.0.1:$PLATFORM_PORT chaoschallenge.wsgi|http://127.0.0.1:$PLATFORM_PORT/healthz
worker-loadtest|env LOADTEST_METRICS_PORT=$LOADTEST_METRICS_PORT celery -A chaoschallenge worker -Q $LOADTEST_QUEUE -c 1 -n loadtest@%h --without-gossip --without-mingle --loglevel INFO|- metrics http://127.0.0.1:$LOADTEST_METRICS_PORT/metrics
worker|celery -A chaoschallenge worker -Q celery -c 2 -n default@%h --without-gossip --without-mingle --loglevel INFO|-
beat|celery -A chaoschallenge beat --loglevel INFO|-
LIST
}

is_running() {
    local pidfile="$RUN_DIR/$1.pid"
    [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

# What a service runs with: its command, where it answers, and every variable
# of .env.example set here (as a digest: the file holds no secret). Kept
# beside its pid, so that a rerun sees what changed and status tells the truth.
service_config() {
    local cmd="$1" url="$2" name
    echo "cmd=$cmd"
    echo "url=$url"
    for name in $(grep -oE '^# ?[A-Z][A-Z0-9_]*=|^[A-Z][A-Z0-9_]*=' .env.example | tr -d '# =' | sort -u); do
        # Exported variables only: what the service's environment holds.
        if printenv "$name" >/dev/null; then echo "$name=$(printenv "$name" | sha256sum | cut -c1-12)"; fi
    done
}

start_one() {
    local name="$1" cmd="$2" url="$3"
    local conf="$RUN_DIR/$name.conf" wanted
    wanted="$(service_config "$cmd" "$url")"
    if is_running "$name"; then
        if [[ "$(cat "$conf" 2>/dev/null)" == "$wanted" ]]; then
            echo "    $name already running (pid $(cat "$RUN_DIR/$name.pid"))"
            return
        fi
        local changed
        changed="$( (diff <(cat "$conf" 2>/dev/null) <(echo "$wanted") || true) | sed -nE 's/^[<>] ([A-Za-z_][A-Za-z0-9_]*)=.*/\1/p' \
                   | sort -u | paste -sd, - | sed 's/cmd/command/; s/url/address/')"
        echo "    restarting $name: its settings changed (${changed:-unknown})"
        stop_one "$name"
    fi
    # setsid: the service outlives this shell and can be stopped as a group.
    PATH="$ROOT/.venv/bin:$PATH" setsid bash -c "exec $cmd" >>"$LOG_DIR/$name.log" 2>&1 < /dev/null &
    echo $! > "$RUN_DIR/$name.pid"
    echo "$wanted" > "$conf"
    echo "    started $name (pid $!, log $LOG_DIR/$name.log)"
}

# A port another program holds: say which variable moves it, before anything starts.
port_check() {
    local name="$1" variable="$2" port="$3"
    if [[ "$(sed -n 's/^url=//p' "$RUN_DIR/$name.conf" 2>/dev/null || true)" == *":$port/"* ]] && is_running "$name"; then
        return 0  # ours
    fi
    if ! port_free "$port"; then
        echo "error: port $port is taken by another program; set $variable to another port" >&2
        exit 1
    fi
}

wait_for() {
    local name="$1" url="$2"
    [[ "$url" == -* ]] && return 0
    for _ in $(seq 60); do
        if curl -fsS -o /dev/null "$url" 2>/dev/null || .venv/bin/python - "$url" <<'PY' 2>/dev/null
import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=2)
PY
        then return 0; fi
        if ! is_running "$name"; then
            echo "error: $name exited; last lines of $LOG_DIR/$name.log:" >&2
            tail -n 30 "$LOG_DIR/$name.log" >&2
            return 1
        fi
        sleep 0.5
    done
    echo "error: $name did not answer at $url within 30s (log: $LOG_DIR/$name.log)" >&2
    return 1
}

stop_one() {
    local name="$1"
    if is_running "$name"; then
        local pid; pid="$(cat "$RUN_DIR/$name.pid")"
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        kill -KILL -- "-$pid" 2>/dev/null || true
        echo "    stopped $name"
    fi
    rm -f "$RUN_DIR/$name.pid" "$RUN_DIR/$name.conf"
}

stop_all() {
    local name
    for name in $(services | cut -d'|' -f1 | tac); do stop_one "$name"; done
}

# What runs, as it was started (not this shell's defaults).
status_all() {
    local name url
    for name in $(services | cut -d'|' -f1); do
        if is_running "$name"; then
            url="$(sed -n 's/^url=//p' "$RUN_DIR/$name.conf" 2>/dev/null || true)"
            url="${url#-}"
            url="${url# }"
            echo "    $name: running (pid $(cat "$RUN_DIR/$name.pid"))${url:+ $url}"
        else
            echo "    $name: stopped"
        fi
    done
}

case "${1:-start}" in
    stop) stop_all; exit 0 ;;
    status) status_all; exit 0 ;;
    start) ;;
    *) echo "usage: $0 [start|stop|status]" >&2; exit 2 ;;
esac

source scripts/lib/venv.sh
ensure_venv
mkdir -p "$RUN_DIR" "$LOG_DIR"

echo "==> migrating the database"
.venv/bin/python manage.py migrate --noinput -v0
# The tracker's own database is created only when the tracker is on: while it
# is off that database is never opened.
if .venv/bin/python -c 'import sys; from common.env import env_bool; sys.exit(0 if env_bool("ENABLE_LOCAL_TRACKER") else 1)'; then
    echo "==> migrating the local tracker's database (ENABLE_LOCAL_TRACKER is on)"
    .venv/bin/python manage.py migrate --database tracker --noinput -v0
fi

port_check platform PLATFORM_PORT "$PLATFORM_PORT"
port_check anvil ANVIL_PORT "$ANVIL_PORT"
# The worker's metrics are a convenience: rather than fail, take a free port.
metrics_in_use="$(sed -n 's/.*LOADTEST_METRICS_PORT=\([0-9]*\).*/\1/p' "$RUN_DIR/worker-loadtest.conf" 2>/dev/null || true)"
if [[ -z "$metrics_port_given" && -n "$metrics_in_use" ]] && is_running worker-loadtest; then
    LOADTEST_METRICS_PORT="$metrics_in_use"  # where the running worker already serves them
elif ! { is_running worker-loadtest && [[ "$metrics_in_use" == "$LOADTEST_METRICS_PORT" ]]; } \
        && ! port_free "$LOADTEST_METRICS_PORT"; then
    taken="$LOADTEST_METRICS_PORT"
    LOADTEST_METRICS_PORT="$(free_port)"
    echo "==> port $taken is taken: the load-test worker's metrics are on $LOADTEST_METRICS_PORT (set LOADTEST_METRICS_PORT to choose)"
fi

echo "==> starting services"
while IFS='|' read -r name cmd url; do start_one "$name" "$cmd" "$url"; done < <(services)
while IFS='|' read -r name cmd url; do wait_for "$name" "$url"; done < <(services)

# A demo participant (key printed once, kept in $VAR_DIR/demo-api-key) and, on
# the first start only, one Robust Service run against the local url-anvil so
# that the leaderboard is not empty. Idempotent: reruns create nothing new.
echo "==> seeding the demo participant"
.venv/bin/python manage.py seed_demo --submit-url "http://127.0.0.1:$ANVIL_PORT"

cat <<DONE

SRE Chaos Challenge is up (./scripts/dev-setup.sh status tells what runs where):
    platform   http://127.0.0.1:$PLATFORM_PORT/
    admin      http://127.0.0.1:$PLATFORM_PORT/admin/
    url-anvil  http://127.0.0.1:$ANVIL_PORT/
Stop with ./scripts/dev-setup.sh stop; logs are in $LOG_DIR.
DONE
