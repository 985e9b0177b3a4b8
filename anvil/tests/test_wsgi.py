from __future__ import annotations

import io
import re
import runpy
import sys
from pathlib import Path

from anvil.corpus import corpus_documents
from anvil.wsgi import corpus_fast_path

BASE_DIR = Path(__file__).resolve().parents[2]


def call(app, method: str, path: str) -> tuple[str, dict, bytes]:
    answer = {}

    def start_response(status, headers, exc_info=None):
        answer["status"], answer["headers"] = status, dict(headers)

    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "wsgi.input": io.BytesIO(b"")}
    body = b"".join(app(environ, start_response))
    return answer["status"], answer["headers"], body


def django_stand_in(environ, start_response):
    start_response("418 I'm a teapot", [("X-From", "django")])
    return [b"django"]


def test_corpus_documents_are_answered_before_django_with_the_views_headers():
    app = corpus_fast_path(django_stand_in)
    status, headers, body = call(app, "GET", "/corpus/us-constitution")
    assert status == "200 OK"
    assert body == corpus_documents()["us-constitution"]
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert headers["Content-Length"] == str(len(body))
    assert re.fullmatch(r"[0-9a-f]{16}", headers["X-Anvil-Instance"])
    status, headers, body = call(app, "HEAD", "/corpus/us-constitution")
    assert status == "200 OK" and body == b"" and int(headers["Content-Length"]) > 10_000


def test_everything_else_goes_to_django():
    app = corpus_fast_path(django_stand_in)
    for method, path in [("GET", "/corpus/missing"), ("POST", "/corpus/us-constitution"), ("GET", "/corpus/"), ("GET", "/api/sample-urls")]:
        assert call(app, method, path)[2] == b"django", (method, path)


def load_gunicorn_conf(monkeypatch, *argv: str) -> dict:
    monkeypatch.setattr(sys, "argv", ["gunicorn", *argv])
    monkeypatch.delenv("ANVIL_WORKER_CLASS", raising=False)
    monkeypatch.delenv("WEB_WORKER_CLASS", raising=False)
    return runpy.run_path(str(BASE_DIR / "chaoschallenge" / "gunicorn_conf.py"))


def test_the_anvil_runs_on_gevent_workers_and_the_platform_on_threads(monkeypatch):
    anvil = load_gunicorn_conf(monkeypatch, "-c", "chaoschallenge/gunicorn_conf.py", "chaoschallenge.wsgi_anvil")
    platform = load_gunicorn_conf(monkeypatch, "-c", "chaoschallenge/gunicorn_conf.py", "chaoschallenge.wsgi")
    assert anvil["worker_class"] == "gevent"
    assert platform["worker_class"] == "gthread"
    assert anvil["control_socket_disable"] is True
