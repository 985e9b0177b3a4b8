"""Writes of the sandbox: a run's place_spec from a bundle, sandboxes started and removed by hand, the reaper.

* ``sandbox_spec_build(given)``: what a requester gives (``{"bundle": text,
  "quota": {...}}``) → the run's ``place_spec`` (the checked objects, the
  pinned images, the plan, ``target_url`` and ``ready_s``), or FieldError.
  Registered with the engine as the sandbox place's ``spec_build``.
* ``sandbox_up`` / ``sandbox_down``: a sandbox without a run, to look at a
  bundle from the host (``manage.py sandbox_up``), removed by id.
* ``sandboxes_reap(now)``: every labelled object whose deadline has passed,
  or whose run has ended, is removed (a worker killed mid-run leaves its
  sandbox behind); on Kubernetes, every labelled namespace and load Job past
  its deadline. Run by beat (``sandbox.tasks``).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Annotated, Any

from pydantic import ConfigDict, Field, TypeAdapter
from typing_extensions import TypedDict

from common.validation import FieldError, WholeNumber, validate
from loadtest import selectors as engine_selectors
from sandbox import engine
from sandbox.bundle import DEFAULT_QUOTA, MAX_BYTES, Quota, bundle_parse
from sandbox.catalogue import catalogue_load
from sandbox.engine import ENGINE_ERRORS, EngineUnavailable, sandbox_settings
from sandbox.firewall import FirewallError, firewall_ensure
from sandbox.kube import cluster as kube_cluster
from sandbox.kube.config import KubeUnavailable, kube_api_client, kube_settings
from sandbox.kube.spec import kube_spec_build
from sandbox.place import ENTRYPOINT_PORT, ENTRYPOINT_SERVICE, TARGET_URL
from sandbox.plan import sandbox_plan
from sandbox.quantity import cpu_millicores, memory_bytes
from sandbox.runtime import Sandbox, SandboxNotReady, sandbox_id_new, sandbox_remove

logger = logging.getLogger(__name__)

FINISHED = {"completed", "failed", "cancelled"}


class _Quota(TypedDict, total=False):
    """Kubernetes quantities (``cpu: "2"``, ``memory: "2Gi"``), or whole numbers as a challenge stores them."""

    __pydantic_config__ = ConfigDict(strict=True, extra="forbid")  # type: ignore[misc]
    cpu: str | int | float
    memory: str | int
    cpu_millicores: Annotated[int, WholeNumber(ge=0, le=10**9)]
    memory_bytes: Annotated[int, WholeNumber(ge=0, le=2**60)]
    pods: Annotated[int, WholeNumber(ge=0, le=1000)]


class _Given(TypedDict, total=False):
    __pydantic_config__ = ConfigDict(strict=True, extra="forbid")  # type: ignore[misc]
    bundle: Annotated[str, Field(min_length=1, max_length=MAX_BYTES * 4)]
    quota: _Quota


_GIVEN = TypeAdapter(_Given)


def _quota(given: dict | None) -> Quota:
    if not given:
        return DEFAULT_QUOTA
    for quantity, number in (("cpu", "cpu_millicores"), ("memory", "memory_bytes")):
        if quantity in given and number in given:
            raise FieldError(f"quota.{number}", f"give {quantity} or {number}, not both")
    cpu = given.get("cpu_millicores", DEFAULT_QUOTA.cpu_millicores)
    if "cpu" in given:
        cpu = cpu_millicores(given["cpu"], field="quota.cpu")
    memory = given.get("memory_bytes", DEFAULT_QUOTA.memory_bytes)
    if "memory" in given:
        memory = memory_bytes(given["memory"], field="quota.memory")
    return Quota(cpu_millicores=cpu, memory_bytes=memory, pods=given.get("pods", DEFAULT_QUOTA.pods))


def _bundle_field(exc: FieldError) -> FieldError:
    # The bundle's own paths ("[1].spec…", "" for the whole) inside the requester's input.
    return FieldError(f"bundle{exc.field}" if exc.field.startswith("[") or not exc.field else f"bundle.{exc.field}",
                      exc.message)


def sandbox_spec_build(given: dict) -> dict:
    """The ``place_spec`` of a sandbox run, from ``{"bundle": text, "quota"?: {...}}``.

    FieldError fields are relative to that input: ``bundle[1].spec…`` (the
    bundle's own path), ``bundle`` (the bundle as a whole), ``quota.cpu``,
    ``place`` (what the platform lacks).
    """
    data = validate(_GIVEN, given, root="place_spec", messages={"extra_forbidden": "is not a field (use bundle, quota)"})
    if "bundle" not in data:
        raise FieldError("bundle", "is required")
    config = sandbox_settings()
    if config.backend not in ("docker", "kubernetes"):
        raise FieldError("place", f"runs in a sandbox are switched off on this platform (SANDBOX_BACKEND={config.backend!r})")
    quota = _quota(data.get("quota"))
    if config.backend == "kubernetes":
        try:
            return kube_spec_build(bundle_text=data["bundle"], quota=quota, ready_s=config.ready_s)
        except FieldError as exc:
            raise (exc if exc.field == "place" else _bundle_field(exc)) from None
    try:
        catalogue = catalogue_load(path=config.catalogue_file)
    except (OSError, ValueError) as exc:
        raise FieldError("place", f"runs in a sandbox are not available: no image catalogue ({exc}); "
                                  "build it with scripts/build-images.sh") from None
    try:
        bundle = bundle_parse(data["bundle"], quota=quota, catalogue=catalogue)
        plan = sandbox_plan(bundle, catalogue=catalogue)
    except FieldError as exc:
        raise _bundle_field(exc) from None
    plan["proxy_image"] = catalogue.pin("haproxy")
    plan["runner_image"] = catalogue.pin("url-anvil")
    _engine_has(images=sorted(set(bundle.images.values()) | {plan["proxy_image"], plan["runner_image"]}))
    return {
        "backend": "docker",
        "target_url": TARGET_URL,
        "ready_s": config.ready_s,
        "entrypoint": {"service": ENTRYPOINT_SERVICE, "port": ENTRYPOINT_PORT},
        "objects": list(bundle.objects),
        "images": dict(bundle.images),
        "summary": bundle.summary(),
        "plan": plan,
    }


def _engine_has(*, images: list[str]) -> None:
    """FieldError("place") unless the engine answers and holds every pinned image."""
    try:
        client = engine.engine_check()
    except EngineUnavailable as exc:
        raise FieldError("place", f"runs in a sandbox are not available: {exc}") from None
    try:
        for image in images:
            try:
                client.images.get(image)
            except ENGINE_ERRORS:
                raise FieldError("place", f"the engine does not hold the catalogue's image {image[:19]}…; "
                                          "run scripts/build-images.sh") from None
    finally:
        client.close()


def sandbox_up(*, bundle_text: str, ttl_s: int | None = None) -> dict:
    """Start a bundle with no run (its url-anvil replicas get no chaos token); raises FieldError or SandboxNotReady."""
    spec = sandbox_spec_build({"bundle": bundle_text})
    config = sandbox_settings()
    if config.firewall != "off":
        try:
            firewall_ensure(lock_dir=config.state_dir, install=config.firewall == "install")
        except FirewallError as exc:
            raise FieldError("place", f"the sandbox is not available: {exc}") from None
    sandbox = Sandbox(sandbox_id=sandbox_id_new(), plan=spec["plan"], state_dir=config.state_dir,
                      deadline=time.time() + (ttl_s or config.up_ttl_s), origin="sandbox_up",
                      pids_limit=config.pids_limit, subnet_pool=config.subnet_pool)
    try:
        sandbox.create(ready_s=float(spec["ready_s"]))
        ready_in = sandbox.wait_ready()
    except (SandboxNotReady, *ENGINE_ERRORS):
        sandbox.teardown()
        raise
    host, port = sandbox.entrypoint()
    return {"id": sandbox.id, "network": sandbox.network, "entrypoint": {"address": host, "port": port},
            "url": f"http://{host}:{port}/", "ready_s": round(ready_in, 2), "deadline": int(sandbox.deadline),
            "containers": sandbox.containers()}


def sandbox_down(*, sandbox_id: str) -> int:
    """Remove a sandbox by id; how many objects were removed (0: there was none)."""
    client = engine.engine_check()
    try:
        return sandbox_remove(client=client, sandbox_id=sandbox_id, state_dir=sandbox_settings().state_dir)
    finally:
        client.close()


def sandboxes_reap(*, now: datetime | None = None) -> list[str]:
    """Remove every sandbox past its deadline or whose run has ended; the ids removed."""
    from sandbox.selectors import sandboxes_list

    moment = (now.timestamp() if now is not None else time.time())
    if sandbox_settings().backend == "kubernetes":
        return _kube_sandboxes_reap(moment=moment)
    reaped = []
    client = engine.engine_check()
    try:
        for found in sandboxes_list(client=client):
            if not _expired(found, moment=moment):
                continue
            sandbox_remove(client=client, sandbox_id=found["id"], state_dir=sandbox_settings().state_dir)
            reaped.append(found["id"])
            logger.warning("sandbox %s (run %s) reaped: %s", found["id"], found["run"] or "-",
                           "past its deadline" if found["deadline"] <= moment else "its run has ended")
    finally:
        client.close()
    return reaped


def _kube_sandboxes_reap(*, moment: float) -> list[str]:
    config = kube_settings()
    try:
        api = kube_api_client(config)
    except KubeUnavailable as exc:
        raise EngineUnavailable(str(exc)) from exc
    try:
        return kube_cluster.sandboxes_reap(api=api, load_namespace=config.load_namespace, now=moment)
    finally:
        api.close()


def _expired(found: dict[str, Any], *, moment: float) -> bool:
    if found["deadline"] <= moment:
        return True
    # A run id means something only in the database that made the sandbox
    # (tests, and other platforms on one engine, have their own).
    if not found["run"].isdigit() or found["database"] != engine.database_label():
        return False
    progress = engine_selectors.run_progress(run_id=int(found["run"]))
    return progress is None or progress.status in FINISHED

