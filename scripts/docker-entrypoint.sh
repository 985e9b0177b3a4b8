#!/usr/bin/env bash
# Entry point of the container image: the first argument is the role.
#
#   platform | anvil      gunicorn with chaoschallenge/gunicorn_conf.py
#   worker                Celery worker for load tests (concurrency 1: two load
#                         tests must never share a machine and distort each other)
#   scheduler             Celery beat (the periodic stuck-run check)
#   migrate               migrate both databases, then exit
#   manage ARGS…          python manage.py ARGS…
#   anything else         run as given (e.g. bash)
set -euo pipefail
cd /app

role="${1:-platform}"
# The image's HEALTHCHECK reads this to know what to probe.
echo "$role" > /tmp/chaos-role 2>/dev/null || true
mkdir -p "$VAR_DIR"

case "$role" in
    platform)
        exec gunicorn -c chaoschallenge/gunicorn_conf.py \
            --bind "0.0.0.0:${PLATFORM_PORT:-8000}" chaoschallenge.wsgi
        ;;
    anvil)
        exec gunicorn -c chaoschallenge/gunicorn_conf.py \
            --bind "0.0.0.0:${ANVIL_PORT:-8080}" chaoschallenge.wsgi_anvil
        ;;
    worker)
        exec celery -A chaoschallenge worker \
            --queues "${WORKER_QUEUES:-${LOADTEST_QUEUE:-loadtest},celery}" \
            --concurrency 1 --prefetch-multiplier 1 --without-mingle --without-gossip \
            --hostname "worker@%h" --loglevel "${LOG_LEVEL:-INFO}"
        ;;
    scheduler)
        exec celery -A chaoschallenge beat \
            --schedule "$VAR_DIR/celerybeat-schedule" --pidfile /tmp/celerybeat.pid \
            --loglevel "${LOG_LEVEL:-INFO}"
        ;;
    migrate)
        python manage.py migrate --noinput
        # The tracker keeps its own database; its tables are created there
        # whether or not ENABLE_LOCAL_TRACKER is on, so turning it on later
        # needs no extra step.
        exec python manage.py migrate --noinput --database tracker
        ;;
    manage)
        shift
        exec python manage.py "$@"
        ;;
    *)
        exec "$@"
        ;;
esac
