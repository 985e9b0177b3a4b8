#!/usr/bin/env bash
# The whole test suite and lint.
#
#   ./scripts/test.sh            lint, then pytest on the embedded defaults
#                                (SQLite, file cache, filesystem broker); when
#                                DATABASE_URL / REDIS_URL are set, pytest runs a
#                                second time against those real servers.
#   ./scripts/test.sh -k anvil   extra arguments go to pytest (both passes)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/venv.sh
ensure_venv

echo "==> lint (ruff)"
.venv/bin/ruff check .

echo "==> migrations are up to date"
env -u DATABASE_URL -u TRACKER_DATABASE_URL -u REDIS_URL \
    .venv/bin/python manage.py makemigrations --check --dry-run >/dev/null

# Tests write their own SQLite files, broker folders and metrics under a
# throw-away VAR_DIR, so they never touch a running dev instance's data.
export VAR_DIR="${TEST_VAR_DIR:-$(mktemp -d -t chaos-test-XXXXXX)}"
trap 'rm -rf "$VAR_DIR"' EXIT

echo "==> pytest: embedded defaults (SQLite, file cache, filesystem broker)"
env -u DATABASE_URL -u TRACKER_DATABASE_URL -u REDIS_URL -u CELERY_BROKER_URL \
    .venv/bin/pytest "$@"

if [[ -n "${DATABASE_URL:-}" || -n "${REDIS_URL:-}" ]]; then
    echo "==> pytest: real servers (DATABASE_URL=${DATABASE_URL:-unset} REDIS_URL=${REDIS_URL:-unset})"
    VAR_DIR="$VAR_DIR/real" .venv/bin/pytest "$@"
fi
