#!/usr/bin/env bash
# A load test without remembering flags:
#
#   ./scripts/run_load_test.sh http://127.0.0.1:8080        30 s, 10 users
#   ./scripts/run_load_test.sh http://127.0.0.1:8080 120    120 s
#   USERS=50 PROCESSES=2 CHAOS_PLAN=plan.json ./scripts/run_load_test.sh http://127.0.0.1:9000 60
#
# Progress goes to stderr, a summary to stdout; Ctrl-C cancels cleanly (faults
# cleared). Exit code: 0 completed, 1 failed or cancelled, 2 bad arguments.
# Anything after SECONDS is passed on to `manage.py run_loadtest` (e.g. --json).
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $# -lt 1 || "$1" == "-h" || "$1" == "--help" ]]; then
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
    [[ $# -lt 1 ]] && exit 2 || exit 0
fi
target="$1"
seconds="${2:-30}"
shift $(( $# >= 2 ? 2 : 1 ))
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || (( seconds < 1 )); then
    echo "error: SECONDS must be a whole number of seconds, got '$seconds'" >&2
    exit 2
fi

source scripts/lib/venv.sh
ensure_venv

args=(--target "$target" --duration "$seconds" --users "${USERS:-10}" --processes "${PROCESSES:-1}")
[[ -n "${CHAOS_PLAN:-}" ]] && args+=(--chaos-plan "$CHAOS_PLAN")
# exec: Ctrl-C goes straight to the command, which cancels the run cleanly.
exec .venv/bin/python manage.py run_loadtest "${args[@]}" "$@"
