"""The load runner as a Job in the platform's load namespace: started, read, stopped like a local one.

Its records come back through the pod's log, which the worker follows
through the API server. Why the log and not a call back to the platform:
nothing in the load namespace then needs a way into the platform (no
endpoint, no credentials to hand it), the worker already talks to the API
server, and a log survives the worker's reconnects. The pod's log holds
stdout and stderr together; records are the lines that are JSON objects, and
the rest is kept as the runner's stderr.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time

import kubernetes.client
from kubernetes.client.exceptions import ApiException

from loadtest import hooks
from sandbox.kube.config import API_TIMEOUT_S, KUBE_ERRORS

logger = logging.getLogger(__name__)

POLL_S = 0.5
STDERR_LINES = 30


class KubeRunner:
    def __init__(self, *, api: kubernetes.client.ApiClient, job: dict) -> None:
        self.records: queue.SimpleQueue = queue.SimpleQueue()
        self.api = api
        self.core = kubernetes.client.CoreV1Api(api)
        self.batch = kubernetes.client.BatchV1Api(api)
        self.name = job["metadata"]["name"]
        self.namespace = job["metadata"]["namespace"]
        self._returncode: int | None = None
        self._stderr: collections.deque[str] = collections.deque(maxlen=STDERR_LINES)
        self._stopping = threading.Event()
        self.batch.create_namespaced_job(namespace=self.namespace, body=job, _request_timeout=API_TIMEOUT_S)
        self.spawned_at = time.monotonic()
        self._reader = threading.Thread(target=self._read, name="kube-runner-reader", daemon=True)
        self._reader.start()

    def _pod(self):
        found = self.core.list_namespaced_pod(namespace=self.namespace, label_selector=f"job-name={self.name}",
                                              _request_timeout=API_TIMEOUT_S)
        return (found.items or [None])[0]

    def _read(self) -> None:
        try:
            pod = None
            while not self._stopping.is_set():
                pod = self._pod()
                if pod is not None and pod.status.phase in ("Running", "Succeeded", "Failed"):
                    break
                time.sleep(POLL_S)
            if pod is None or self._stopping.is_set():
                return
            stream = self.core.read_namespaced_pod_log(name=pod.metadata.name, namespace=self.namespace,
                                                       container="runner", follow=True, _preload_content=False)
            buffer = b""
            for chunk in stream.stream(4096):
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    self._line(line.strip())
            self._line(buffer.strip())
        except KUBE_ERRORS as exc:
            logger.warning("load Job %s: log stream ended: %s", self.name, exc)
        finally:
            self.records.put(hooks.RUNNER_END)

    def _line(self, line: bytes) -> None:
        if not line:
            return
        if line.startswith(b"{"):
            self.records.put(hooks.runner_record_parse(line))
        else:
            self._stderr.append(line.decode(errors="replace")[:500])

    @property
    def returncode(self) -> int | None:
        if self._returncode is None:
            try:
                pod = self._pod()
            except KUBE_ERRORS:
                return None
            for status in (pod.status.container_statuses or []) if pod is not None else []:
                if status.name == "runner" and status.state is not None and status.state.terminated is not None:
                    self._returncode = int(status.state.terminated.exit_code or 0)
        return self._returncode

    def wait(self, *, timeout_s: float) -> int | None:
        deadline = time.monotonic() + timeout_s
        while self.returncode is None and time.monotonic() < deadline:
            time.sleep(POLL_S)
        return self.returncode

    def stop(self) -> None:
        """Delete the Job: its pod gets SIGTERM, then SIGKILL after its grace; safe to call twice."""
        self._stopping.set()
        try:
            self.batch.delete_namespaced_job(name=self.name, namespace=self.namespace, propagation_policy="Background",
                                             _request_timeout=API_TIMEOUT_S)
        except ApiException as exc:
            if exc.status != 404:
                logger.warning("load Job %s: delete: %s", self.name, exc)
        except KUBE_ERRORS as exc:
            logger.warning("load Job %s: delete: %s", self.name, exc)
        self._reader.join(timeout=5)

    def stderr_tail(self) -> str:
        return self._stderr[-1] if self._stderr else ""

    def close(self) -> None:
        if self.returncode is None:
            self.stop()
