"""A stand-in for a Kubernetes API server (and, barely, its kubelet), recording every call at the HTTP layer.

No API server can run where the suite runs, so the backend's calls go
through the official client, with its real serialisation, to this server on
loopback. It keeps the objects it is sent, answers in the API's shapes, and
records each request (method, path, query, content type, body) for the tests
to read the backend's sequence of calls from.

As a kubelet it does only what the tests need: a Deployment's pods appear
(and are replaced when deleted), and, when given ``start_anvil`` and
``start_job``, a pod of url-anvil is a real url-anvil process and a load
Job's pod is the real runner process, whose output is the pod's log.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from common.net import free_port  # noqa: F401  (re-exported for the tests' anvil ports)

_names = itertools.count(1)


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    content_type: str
    body: Any

    @property
    def route(self) -> str:
        """The path with namespaces and names generalised: ``PATCH /apis/apps/v1/namespaces/{ns}/deployments/{name}``."""
        path = re.sub(r"/namespaces/[^/]+", "/namespaces/{ns}", self.path)
        path = re.sub(r"(/(?:configmaps|services|deployments|pods|jobs|rolebindings)/)[^/]+", r"\1{name}", path)
        path = re.sub(r"^/api/v1/namespaces/\{ns\}$", "/api/v1/namespaces/{name}", path)
        return f"{self.method} {path}"


@dataclass
class Pod:
    name: str
    namespace: str
    labels: dict[str, str]
    spec: dict[str, Any]
    uid: str = field(default_factory=lambda: uuid.uuid4().hex)
    created: float = field(default_factory=time.time)
    phase: str = "Running"
    waiting: str = ""  # a container waiting reason (ImagePullBackOff…)
    restarts: int = 0
    exit_code: int | None = None
    process: subprocess.Popen | None = None

    def as_json(self) -> dict[str, Any]:
        statuses = []
        for container in self.spec["containers"]:
            if self.waiting:
                state = {"waiting": {"reason": self.waiting, "message": f"{container['image']}: not found"}}
            elif self.exit_code is not None:
                state = {"terminated": {"exitCode": self.exit_code, "reason": "Completed" if not self.exit_code else "Error"}}
            else:
                state = {"running": {"startedAt": "2026-12-02T00:00:00Z"}}
            statuses.append({"name": container["name"], "image": container["image"], "imageID": "", "ready": not self.waiting,
                             "restartCount": self.restarts, "state": state})
        return {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": self.name, "namespace": self.namespace, "uid": self.uid, "labels": self.labels,
                         "creationTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.created))},
            "spec": self.spec,
            "status": {"phase": self.phase, "podIP": "127.0.0.1", "containerStatuses": statuses},
        }


class KubeStandIn:
    def __init__(self, *, ready_after: int = 1, waiting: str = "", warnings: list[str] | None = None,
                 start_anvil: Callable[[dict[str, str]], tuple[int, Callable[[], None]]] | None = None,
                 start_job: Callable[[dict[str, Any]], subprocess.Popen] | None = None) -> None:
        self.calls: list[Call] = []
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}  # (kind, namespace, name) → object
        self.pods: dict[tuple[str, str], Pod] = {}
        self.ready_after = ready_after
        self.waiting = waiting
        self.warnings = warnings or []
        self.start_anvil = start_anvil
        self.start_job = start_job
        self._reads: dict[str, int] = {}
        self._stops: dict[str, list[Callable[[], None]]] = {}
        self.anvil_ports: dict[str, int] = {}  # namespace → the port its url-anvil listens on
        self.lock = threading.RLock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    # --- what the tests read --------------------------------------------------------

    def routes(self) -> list[str]:
        return [call.route for call in self.calls]

    def namespaces(self) -> list[dict[str, Any]]:
        return [obj for (kind, _, _), obj in self.objects.items() if kind == "Namespace"]

    # --- running ----------------------------------------------------------------------

    @contextlib.contextmanager
    def running(self) -> Iterator[KubeStandIn]:
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            for stops in self._stops.values():
                for stop in stops:
                    stop()
            for pod in self.pods.values():
                if pod.process is not None and pod.process.poll() is None:
                    pod.process.kill()
                    pod.process.wait()

    def _handler(self):
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _any(self) -> None:
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                call = Call(method=self.command, path=split.path,
                            query={key: values[-1] for key, values in parse_qs(split.query).items()},
                            content_type=self.headers.get("Content-Type", ""),
                            body=json.loads(raw) if raw else None)
                with standin.lock:
                    standin.calls.append(call)
                status, answer = standin.answer(call)
                if isinstance(answer, Iterator):
                    self.send_response(status)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for chunk in answer:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                    return
                body = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _any

        return Handler

    # --- the API ----------------------------------------------------------------------

    def answer(self, call: Call) -> tuple[int, Any]:
        with self.lock:
            parts = call.path.strip("/").split("/")
            # /api/v1/... or /apis/<group>/<version>/...
            rest = parts[2:] if parts[0] == "api" else parts[3:]
            if rest == ["namespaces"]:
                if call.method == "POST":
                    return self._store("Namespace", "", call.body)
                return 200, self._list("Namespace", "", call.query.get("labelSelector"))
            if len(rest) == 2 and rest[0] == "namespaces":
                return self._namespace(rest[1], call)
            namespace, resource = rest[1], rest[2]
            name = rest[3] if len(rest) > 3 else None
            kind = {"rolebindings": "RoleBinding", "resourcequotas": "ResourceQuota", "limitranges": "LimitRange",
                    "networkpolicies": "NetworkPolicy", "configmaps": "ConfigMap", "services": "Service",
                    "deployments": "Deployment", "jobs": "Job", "pods": "Pod", "events": "Event"}[resource]
            if kind == "Pod":
                return self._pods(namespace, name, call, log=len(rest) > 4 and rest[4] == "log")
            if kind == "Event":
                return 200, {"apiVersion": "v1", "kind": "EventList", "metadata": {}, "items": [
                    {"metadata": {"name": f"e{i}", "namespace": namespace}, "involvedObject": {"kind": "Pod"},
                     "type": "Warning", "reason": "FailedCreate", "message": message}
                    for i, message in enumerate(self.warnings)]}
            if call.method == "POST":
                return self._store(kind, namespace, call.body)
            if call.method == "PATCH":
                return self._apply(kind, namespace, name, call)
            if call.method == "DELETE":
                found = self.objects.pop((kind, namespace, name), None)
                if found is None:
                    return 404, _status(404, f"{resource} {name!r} not found")
                if kind == "Job":
                    for key, pod in list(self.pods.items()):
                        if pod.labels.get("job-name") == name:
                            if pod.process is not None and pod.process.poll() is None:
                                pod.process.terminate()
                            del self.pods[key]
                return 200, _status(200, "deleted")
            if name is None:
                return 200, self._list(kind, namespace, call.query.get("labelSelector"))
            found = self.objects.get((kind, namespace, name))
            if found is None:
                return 404, _status(404, f"{resource} {name!r} not found")
            if kind == "Deployment":
                return 200, self._deployment_status(found)
            return 200, found

    def _store(self, kind: str, namespace: str, body: dict) -> tuple[int, Any]:
        meta = body["metadata"]
        key = (kind, meta.get("namespace", namespace), meta["name"])
        if key in self.objects:
            return 409, _status(409, f"{kind} {meta['name']!r} already exists")
        stored = json.loads(json.dumps(body))
        stored["metadata"].update(uid=uuid.uuid4().hex, creationTimestamp="2026-12-02T00:00:00Z", generation=1)
        self.objects[key] = stored
        if kind == "Job":
            self._job_pod(stored)
        return 201, stored

    def _apply(self, kind: str, namespace: str, name: str, call: Call) -> tuple[int, Any]:
        if kind == "Pod":
            raise AssertionError("pods are patched in _pods")
        existing = self.objects.get((kind, namespace, name))
        stored = json.loads(json.dumps(call.body))
        stored["metadata"].update(uid=uuid.uuid4().hex, generation=1 if existing is None else 2)
        self.objects[(kind, namespace, name)] = stored
        if kind == "Deployment" and existing is None:
            for _ in range(stored["spec"].get("replicas", 1)):
                self._deployment_pod(stored)
        return 200, stored

    def _deployment_pod(self, deployment: dict) -> Pod:
        meta, template = deployment["metadata"], deployment["spec"]["template"]
        spec = json.loads(json.dumps(template["spec"]))
        for container in spec["containers"]:
            if "url-anvil" in container["image"] and self.start_anvil is not None:
                env = {var["name"]: var.get("value", "") for var in container.get("env") or []}
                if meta["namespace"] not in self.anvil_ports:
                    port, stop = self.start_anvil(env)
                    self.anvil_ports[meta["namespace"]] = port
                    self._stops.setdefault(meta["namespace"], []).append(stop)
                # The pod's url-anvil is the one process started for the namespace.
                container["env"] = [var for var in container.get("env") or [] if var["name"] != "ANVIL_PORT"] + [
                    {"name": "ANVIL_PORT", "value": str(self.anvil_ports[meta["namespace"]])}]
        pod = Pod(name=f"{meta['name']}-{next(_names):05d}", namespace=meta["namespace"],
                  labels=dict(template["metadata"]["labels"]), spec=spec, waiting=self.waiting)
        self.pods[(pod.namespace, pod.name)] = pod
        return pod

    def _deployment_status(self, deployment: dict) -> dict:
        name = deployment["metadata"]["name"]
        self._reads[name] = self._reads.get(name, 0) + 1
        want = deployment["spec"].get("replicas", 1)
        ready = want if (self._reads[name] >= self.ready_after and not self.waiting) else 0
        return {**deployment, "status": {"observedGeneration": deployment["metadata"]["generation"],
                                         "replicas": want, "updatedReplicas": want, "availableReplicas": ready,
                                         "conditions": [{"type": "Available", "status": "True" if ready else "False",
                                                         "reason": "MinimumReplicasUnavailable",
                                                         "message": "Deployment does not have minimum availability."}]}}

    def _job_pod(self, job: dict) -> None:
        meta = job["metadata"]
        spec = job["spec"]["template"]["spec"]
        pod = Pod(name=f"{meta['name']}-{next(_names):05d}", namespace=meta["namespace"],
                  labels={**job["spec"]["template"]["metadata"]["labels"], "job-name": meta["name"]}, spec=spec)
        if self.start_job is not None:
            pod.process = self.start_job(job)
        self.pods[(pod.namespace, pod.name)] = pod

    def _pods(self, namespace: str, name: str | None, call: Call, *, log: bool) -> tuple[int, Any]:
        if name is None:
            selector = call.query.get("labelSelector")
            items = [pod for pod in self.pods.values() if pod.namespace == namespace and _matches(pod.labels, selector)]
            for pod in items:
                if pod.process is not None and pod.process.poll() is not None:
                    pod.exit_code, pod.phase = pod.process.returncode, "Succeeded" if not pod.process.returncode else "Failed"
            return 200, {"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": [p.as_json() for p in items]}
        pod = self.pods.get((namespace, name))
        if pod is None:
            return 404, _status(404, f"pods {name!r} not found")
        if log:
            return 200, _log_of(pod)
        if call.method == "DELETE":
            del self.pods[(namespace, name)]
            owner = pod.labels.get("sandbox.sre-chaos.org/deployment")
            deployment = next((obj for (kind, ns, _), obj in self.objects.items()
                               if kind == "Deployment" and ns == namespace and obj["metadata"]["name"] == owner), None)
            if deployment is not None:
                self._deployment_pod(deployment)  # the ReplicaSet's replacement
            return 200, pod.as_json()
        if call.method == "PATCH":
            for key, value in ((call.body or {}).get("metadata", {}).get("labels") or {}).items():
                if value is None:
                    pod.labels.pop(key, None)
                else:
                    pod.labels[key] = value
            return 200, pod.as_json()
        return 200, pod.as_json()

    def _namespace(self, name: str, call: Call) -> tuple[int, Any]:
        found = self.objects.get(("Namespace", "", name))
        if found is None:
            return 404, _status(404, f"namespaces {name!r} not found")
        if call.method == "DELETE":
            # Foreground: everything in it goes, then the namespace.
            for key in [key for key in self.objects if key[1] == name]:
                del self.objects[key]
            for key in [key for key in self.pods if key[0] == name]:
                del self.pods[key]
            for stop in self._stops.pop(name, []):
                stop()
            del self.objects[("Namespace", "", name)]
            return 200, {**found, "status": {"phase": "Terminating"}}
        return 200, found

    def _list(self, kind: str, namespace: str, selector: str | None) -> dict:
        items = [obj for (k, ns, _), obj in self.objects.items()
                 if k == kind and (ns == namespace or kind == "Namespace")
                 and _matches(obj["metadata"].get("labels") or {}, selector)]
        return {"apiVersion": "v1", "kind": f"{kind}List", "metadata": {}, "items": items}


def _matches(labels: dict[str, str], selector: str | None) -> bool:
    for term in filter(None, (selector or "").split(",")):
        key, _, value = term.partition("=")
        if labels.get(key) != value:
            return False
    return True


def _status(code: int, message: str) -> dict:
    return {"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure" if code >= 400 else "Success",
            "message": message, "code": code}


def _log_of(pod: Pod) -> Iterator[bytes]:
    if pod.process is None or pod.process.stdout is None:
        yield b""
        return
    yield from pod.process.stdout
    pod.process.wait()
    pod.exit_code = pod.process.returncode
