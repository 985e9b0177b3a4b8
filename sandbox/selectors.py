"""Reads of the sandbox: the sandboxes on the engine, found by the platform's label."""

from __future__ import annotations

import docker

from sandbox import engine


def sandboxes_list(*, client: docker.DockerClient) -> list[dict]:
    """Every sandbox with an object on the engine: id, deadline (epoch s), run, origin, database, what is left."""
    found: dict[str, dict] = {}
    selector = {"label": engine.LABEL}

    def note(labels: dict, kind: str) -> None:
        sandbox_id = labels.get(engine.LABEL, "")
        if not sandbox_id:
            return
        entry = found.setdefault(sandbox_id, {
            "id": sandbox_id, "deadline": _deadline(labels.get(engine.LABEL_DEADLINE)),
            "run": labels.get(engine.LABEL_RUN, ""), "origin": labels.get(engine.LABEL_ORIGIN, ""),
            "database": labels.get(engine.LABEL_DATABASE, ""), "containers": 0, "networks": 0, "volumes": 0,
        })
        entry[kind] += 1
        # The earliest deadline any of its objects carries.
        entry["deadline"] = min(entry["deadline"], _deadline(labels.get(engine.LABEL_DEADLINE)))

    for container in client.api.containers(all=True, filters=selector):
        note(container.get("Labels") or {}, "containers")
    for network in client.api.networks(filters=selector):
        note(network.get("Labels") or {}, "networks")
    for volume in client.api.volumes(filters=selector).get("Volumes") or []:
        note(volume.get("Labels") or {}, "volumes")
    return sorted(found.values(), key=lambda entry: entry["id"])


def _deadline(value: str | None) -> float:
    # An object without a readable deadline is treated as expired: nothing
    # the platform made lacks one.
    try:
        return float(value or 0)
    except ValueError:
        return 0.0
