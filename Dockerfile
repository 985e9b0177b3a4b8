# One image for every role of SRE Chaos Challenge:
#   platform  gunicorn, chaoschallenge.wsgi        (:8000)
#   anvil     gunicorn, chaoschallenge.wsgi_anvil  (:8080)
#   worker    Celery worker on the load-test queue, concurrency 1
#   scheduler Celery beat
#   migrate   migrates both databases, then exits
# The role is the container's command (see scripts/docker-entrypoint.sh).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VAR_DIR=/var/lib/chaos \
    STATIC_ROOT=/app/staticfiles \
    PROMETHEUS_FILE_SD_DIR=/var/lib/chaos/scrape-targets

# Dependencies first, in their own layer: editing the code does not reinstall them.
COPY requirements.txt /tmp/requirements.txt
RUN pip install -r /tmp/requirements.txt && rm /tmp/requirements.txt

# A fixed, unprivileged user; its home holds nothing the services need.
RUN groupadd --system --gid 10001 chaos \
    && useradd --system --uid 10001 --gid chaos --home-dir /home/chaos --create-home --shell /usr/sbin/nologin chaos \
    && install -d -o chaos -g chaos /var/lib/chaos /var/lib/chaos/scrape-targets

WORKDIR /app
COPY --chown=root:root . /app
# Whatever the build step left under VAR_DIR must stay writable at run time.
RUN python manage.py collectstatic --noinput -v0 \
    && chmod 0755 scripts/docker-entrypoint.sh scripts/healthcheck.py \
    && chown -R chaos:chaos /var/lib/chaos

USER chaos
EXPOSE 8000 8080
# The entrypoint records its role; the check then probes what that role needs
# (web roles: /healthz; worker: a Celery ping; scheduler: beat alive + broker).
HEALTHCHECK --interval=15s --timeout=10s --start-period=30s --retries=3 \
    CMD ["python", "/app/scripts/healthcheck.py"]
ENTRYPOINT ["/app/scripts/docker-entrypoint.sh"]
CMD ["platform"]
