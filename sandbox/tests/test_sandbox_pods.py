"""Pods of several containers: one network namespace (localhost between them), shared emptyDirs, init containers."""

from __future__ import annotations

import urllib.request

import pytest

from common.testing import wait_until
from sandbox.services import sandbox_down, sandbox_up

pytestmark = pytest.mark.integration

# web: nginx on :8080 serves /made (a file an init container wrote into the
# pod's emptyDir) and passes / to haproxy, a second container of the same
# pod listening on localhost:8081.
POD_BUNDLE = r"""
apiVersion: v1
kind: ConfigMap
metadata: {name: web-config}
data:
  default.conf: |
    server {
        listen 8080;
        location = /made { alias /shared/made.txt; }
        location / { proxy_pass http://127.0.0.1:8081; }
    }
  haproxy.cfg: |
    defaults
        mode http
        timeout connect 1s
        timeout client 5s
        timeout server 5s
    frontend side
        bind 127.0.0.1:8081
        http-request return status 200 content-type text/plain string "answered by the sidecar\n"
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      initContainers:
        - name: prepare
          image: nginx
          command: ["sh", "-c", "echo made by the init container > /shared/made.txt"]
          volumeMounts: [{name: shared, mountPath: /shared}]
          resources: {limits: {cpu: 100m, memory: 32Mi}}
      containers:
        - name: nginx
          image: nginx
          ports: [{name: http, containerPort: 8080}]
          volumeMounts:
            - {name: config, mountPath: /etc/nginx/conf.d/default.conf, subPath: default.conf}
            - {name: shared, mountPath: /shared}
          resources: {limits: {cpu: 200m, memory: 64Mi}}
        - name: sidecar
          image: haproxy
          volumeMounts: [{name: config, mountPath: /usr/local/etc/haproxy/haproxy.cfg, subPath: haproxy.cfg}]
          resources: {limits: {cpu: 100m, memory: 64Mi}}
      volumes:
        - {name: config, configMap: {name: web-config}}
        - {name: shared, emptyDir: {sizeLimit: 1Mi}}
---
apiVersion: v1
kind: Service
metadata: {name: entrypoint}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
"""


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return answer.read().decode()


def _answer(url: str) -> str:
    # The sidecar listens on localhost only, which no readiness check from
    # outside the pod sees: it may still be starting when the pod is ready.
    def answered() -> str:
        try:
            return _get(url)
        except OSError:
            return ""

    return wait_until(answered, timeout_s=20, message=f"{url} answered")


def test_the_containers_of_a_pod_share_localhost_and_its_empty_dir_and_init_containers_run_first(sandbox_ready):
    found = sandbox_up(bundle_text=POD_BUNDLE, ttl_s=600)
    try:
        assert _answer(found["url"]) == "answered by the sidecar\n"
        assert _get(f"{found['url']}made") == "made by the init container\n"
        roles = sorted((c["pod"], c["role"]) for c in found["containers"])
        assert roles == [("svc-entrypoint", "proxy"), ("web-0", "app"), ("web-0", "app"), ("web-0", "pause")]
    finally:
        sandbox_down(sandbox_id=found["id"])
