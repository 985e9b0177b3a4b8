# One image for every role of SRE Chaos Challenge:
#   platform  gunicorn, chaoschallenge.wsgi        (:8000)
#   anvil     gunicorn, chaoschallenge.wsgi_anvil  (:8080)
#   worker    Celery worker on the load-test queue, concurrency 1
#   scheduler Celery beat
#   migrate   migrates both databases, then exits
# The role is the container's command (see scripts/docker-entrypoint.sh).
#
# BASE_IMAGE: any Debian-like image with python3 and its venv module. Where
# no registry is reachable, scripts/build-images.sh builds one from Debian's
# packages and passes it here. Python packages come from var/wheelhouse/ when
# it holds wheels (the same script fills it on the host, which may be the only
# place that can reach the package index), else from the index.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    VAR_DIR=/var/lib/chaos \
    STATIC_ROOT=/app/staticfiles \
    PROMETHEUS_FILE_SD_DIR=/var/lib/chaos/scrape-targets

# Dependencies in a stage of their own: editing the code does not reinstall
# them, and the wheels never reach the final image. A venv rather than the
# system interpreter: Debian's python3 refuses pip installs into itself.
FROM base AS deps
# The glob matches nothing when there is no wheelhouse; COPY then takes only
# requirements.txt.
COPY requirements.txt var/wheelhous[e] /tmp/deps/
RUN python3 -m venv /opt/venv \
    && if ls /tmp/deps/*.whl >/dev/null 2>&1; then \
           pip install --no-index --find-links /tmp/deps -r /tmp/deps/requirements.txt; \
       else \
           pip install -r /tmp/deps/requirements.txt; \
       fi

# The build context includes the wheelhouse (the stage above needs it);
# this stage leaves it out of the application's copy.
FROM base AS source
COPY . /src
RUN rm -rf /src/var

FROM base
COPY --from=deps /opt/venv /opt/venv

# A fixed, unprivileged user; its home holds nothing the services need.
RUN groupadd --system --gid 10001 chaos \
    && useradd --system --uid 10001 --gid chaos --home-dir /home/chaos --create-home --shell /usr/sbin/nologin chaos \
    && install -d -o chaos -g chaos /var/lib/chaos /var/lib/chaos/scrape-targets

WORKDIR /app
COPY --from=source --chown=root:root /src /app
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
