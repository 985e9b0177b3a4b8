#!/usr/bin/env bash
# Bring the platform up on embedded defaults, in the background.
#
#   ./scripts/dev-setup.sh          create/update .venv, migrate, start (or keep) everything
#   ./scripts/dev-setup.sh status   show what runs
#   ./scripts/dev-setup.sh stop     stop what this script started
#
# Ports: PLATFORM_PORT (8000), ANVIL_PORT (8080). Running it again is harmless:
# a process that is already running is left alone.
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
LOADTEST_METRICS_PORT="${LOADTEST_METRICS_PORT:-9109}"
RUN_DIR="$VAR_DIR/run"
LOG_DIR="$VAR_DIR/log"

# name | command (run from the repo root with .venv/bin on PATH) | URL that answers once it is up (or -)
services() {
    cat <<LIST
anvil|gunicorn -c chaoschallenge/gunicorn_conf.py --bind 127.0.0.1:$ANVIL_PORT chaoschallenge.wsgi_anvil|http://127.0.0.1:$ANVIL_PORT/healthz
platform|gunicorn -c chaoschallenge/gunicorn_conf.py --bind 127.0.0.1:$PLATFORM_PORT chaoschallenge.wsgi|http://127.0.0.1:$PLATFORM_PORT/healthz
worker-loadtest|env LOADTEST_METRICS_PORT=$LOADTEST_METRICS_PORT celery -A chaoschallenge worker -Q $LOADTEST_QUEUE -c 1 -n loadtest@%h --without-gossip --without-mingle --loglevel INFO|-
worker|celery -A chaoschallenge worker -Q celery -c 2 -n default@%h --without-gossip --without-mingle --loglevel INFO|-
beat|celery -A chaoschallenge beat --loglevel INFO|-
LIST
}

is_running() {
    local pidfile="$RUN_DIR/$1.pid"
    [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

start_one() {
    local name="$1" cmd="$2"
    if is_running "$name"; then
        echo "    $name already running (pid $(cat "$RUN_DIR/$name.pid"))"
        return
    fi
    # setsid: the service outlives this shell and can be stopped as a group.
    PATH="$ROOT/.venv/bin:$PATH" setsid bash -c "exec $cmd" >>"$LOG_DIR/$name.log" 2>&1 < /dev/null &
    echo $! > "$RUN_DIR/$name.pid"
    echo "    started $name (pid $!, log $LOG_DIR/$name.log)"
}

wait_for() {
    local name="$1" url="$2"
    [[ "$url" == "-" ]] && return 0
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

stop_all() {
    local name
    for name in $(services | cut -d'|' -f1 | tac); do
        if is_running "$name"; then
            local pid; pid="$(cat "$RUN_DIR/$name.pid")"
            kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
            kill -KILL -- "-$pid" 2>/dev/null || true
            echo "    stopped $name"
        fi
        rm -f "$RUN_DIR/$name.pid"
    done
}

status_all() {
    local name
    while IFS='|' read -r name _ url; do
        if is_running "$name"; then echo "    $name: running (pid $(cat "$RUN_DIR/$name.pid")) $url"
        else echo "    $name: stopped"; fi
    done < <(services)
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

echo "==> starting services"
while IFS='|' read -r name cmd url; do start_one "$name" "$cmd"; done < <(services)
while IFS='|' read -r name cmd url; do wait_for "$name" "$url"; done < <(services)

# A demo participant (key printed once, kept in $VAR_DIR/demo-api-key) and, on
# the first start only, one Robust Service run against the local url-anvil so
# that the leaderboard is not empty. Idempotent: reruns create nothing new.
echo "==> seeding the demo participant"
.venv/bin/python manage.py seed_demo --submit-url "http://127.0.0.1:$ANVIL_PORT"

cat <<DONE

SRE Chaos Challenge is up:
    platform   http://127.0.0.1:$PLATFORM_PORT/
    admin      http://127.0.0.1:$PLATFORM_PORT/admin/
    url-anvil  http://127.0.0.1:$ANVIL_PORT/
Stop with ./scripts/dev-setup.sh stop; logs are in $LOG_DIR.
DONE
