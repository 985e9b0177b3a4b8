"""How a run reaches url-anvil's faults, independently of the URL it loads.

The target is usually a participant's load balancer, so faults cannot go
through it. Two ways, chosen by settings:

* in-process: ``anvil.services`` writes the fault store every anvil process of
  this host (or of the Redis deployment) reads — no network, no token;
* HTTP: ``LOADTEST_ANVIL_CONTROL_URL`` + ``LOADTEST_ANVIL_CHAOS_TOKEN`` call the
  anvil's ``/chaos/faults`` control API, for an anvil on another host.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Protocol

from django.conf import settings

HTTP_TIMEOUT_S = 5.0


class FaultControlError(RuntimeError):
    """The anvil's fault store or control API refused or could not be reached."""


class FaultControl(Protocol):
    def add(self, *, spec: dict) -> dict: ...

    def clear(self, *, fault_id: str) -> bool: ...

    def active(self) -> list[dict]: ...


class LocalFaultControl:
    """Through ``anvil.services`` in this process (the shared fault store)."""

    def add(self, *, spec: dict) -> dict:
        from anvil.services import fault_add
        from anvil.store import StoreError

        try:
            return fault_add(spec=spec)
        except StoreError as exc:
            raise FaultControlError(f"anvil fault store: {exc}") from exc

    def clear(self, *, fault_id: str) -> bool:
        from anvil.services import fault_clear
        from anvil.store import StoreError

        try:
            return fault_clear(fault_id=fault_id) > 0
        except StoreError as exc:
            raise FaultControlError(f"anvil fault store: {exc}") from exc

    def active(self) -> list[dict]:
        from anvil.services import fault_list
        from anvil.store import StoreError

        try:
            return fault_list()
        except StoreError as exc:
            raise FaultControlError(f"anvil fault store: {exc}") from exc


class HttpFaultControl:
    """Through the anvil's token-guarded control API."""

    def __init__(self, *, base_url: str, token: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token

    def _call(self, method: str, path: str, body: dict | None = None) -> tuple[int, object]:
        request = urllib.request.Request(
            self.base_url + path,
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        except OSError as exc:
            raise FaultControlError(f"anvil control API {self.base_url} unreachable: {exc}") from exc
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = raw.decode(errors="replace")[:200]
        return status, payload

    def add(self, *, spec: dict) -> dict:
        status, payload = self._call("POST", "/chaos/faults", spec)
        if status != 201 or not isinstance(payload, dict):
            raise FaultControlError(f"anvil control API refused the fault ({status}): {payload}")
        return payload

    def clear(self, *, fault_id: str) -> bool:
        status, payload = self._call("DELETE", f"/chaos/faults/{fault_id}")
        if status == 404:
            return False
        if status != 200:
            raise FaultControlError(f"anvil control API could not clear fault {fault_id} ({status}): {payload}")
        return True

    def active(self) -> list[dict]:
        status, payload = self._call("GET", "/chaos/faults")
        if status != 200 or not isinstance(payload, dict):
            raise FaultControlError(f"anvil control API could not list faults ({status}): {payload}")
        return list(payload.get("faults", []))


def fault_control_get() -> FaultControl:
    if settings.LOADTEST_ANVIL_CONTROL_URL:
        return HttpFaultControl(base_url=settings.LOADTEST_ANVIL_CONTROL_URL, token=settings.LOADTEST_ANVIL_CHAOS_TOKEN)
    return LocalFaultControl()
