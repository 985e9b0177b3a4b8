"""Participants' metrics endpoints as Prometheus file-based service discovery.

Prometheus watches ``settings.PROMETHEUS_FILE_SD_DIR`` (see
``deploy/prometheus/prometheus.yml``): every ``<name>.json`` there is one
participant application, a list with one target group::

    [{"targets": ["lb:9100", "app-2:9100"], "labels": {"app": "<name>", "__metrics_path__": "/metrics"}}]

Files are replaced atomically (write a temporary file in the same folder, then
rename) because Prometheus re-reads the folder whenever it changes and must
never see half a file.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from common.validation import FieldError, whole_number_from_text

# File names come from it, so: no dots, slashes or spaces, bounded length.
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_HOST_LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$", re.IGNORECASE)
_PATH_RE = re.compile(r"^/[A-Za-z0-9._~/-]{0,200}$")
MAX_ADDRESSES = 50


@dataclass(frozen=True)
class ScrapeTarget:
    name: str
    addresses: list[str]
    metrics_path: str
    path: Path


def scrape_target_dir() -> Path:
    return Path(settings.PROMETHEUS_FILE_SD_DIR)


def scrape_target_name_validate(*, name: object) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise FieldError(
            "name",
            f"{name!r} is not a valid name; use 1-63 lowercase letters, digits, '-' or '_', starting with a letter or digit",
        )
    return name


def _host_validate(host: str, address: str) -> str:
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise FieldError("address", f"{address!r}: {host} is not a valid IPv6 address") from None
        return host
    if re.fullmatch(r"[0-9.]+", host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise FieldError("address", f"{address!r}: {host} is not a valid IPv4 address") from None
        return host
    labels = host.rstrip(".").split(".") if len(host) <= 253 else []
    if not labels or not all(_HOST_LABEL_RE.match(label) for label in labels):
        raise FieldError("address", f"{address!r}: {host!r} is not a valid host name")
    return host.lower()


def scrape_target_address_validate(*, address: object) -> str:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6): no scheme, no path, a port in 1-65535."""
    if not isinstance(address, str) or not address:
        raise FieldError("address", "an address is required, as HOST:PORT")
    if "://" in address or "/" in address or "@" in address or any(c.isspace() for c in address):
        raise FieldError("address", f"{address!r} must be HOST:PORT only (no scheme, path or credentials)")
    host, sep, port_text = address.rpartition(":")
    if not sep or not host:
        raise FieldError("address", f"{address!r} has no port; use HOST:PORT")
    if ":" in host and not (host.startswith("[") and host.endswith("]")):
        raise FieldError("address", f"{address!r}: write an IPv6 host in brackets, e.g. [::1]:9100")
    try:
        port = whole_number_from_text(port_text, field="address", minimum=1, maximum=65535)
    except FieldError:
        raise FieldError("address", f"{address!r}: the port must be a number from 1 to 65535") from None
    return f"{_host_validate(host, address)}:{port}"


def scrape_target_metrics_path_validate(*, metrics_path: object) -> str:
    if not isinstance(metrics_path, str) or not _PATH_RE.match(metrics_path) or "/../" in f"{metrics_path}/":
        raise FieldError("metrics_path", f"{metrics_path!r} must be a plain absolute path such as /metrics")
    return metrics_path


def _target_path(*, directory: Path, name: str) -> Path:
    return directory / f"{name}.json"


def _write_atomically(path: Path, content: str) -> None:
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        # Readable by Prometheus, which runs as another user in the playground.
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def scrape_target_add(
    *,
    name: str,
    addresses: list[str],
    metrics_path: str = "/metrics",
    directory: Path | None = None,
) -> ScrapeTarget:
    """Create or replace the target group ``name``; everything is validated before anything is written."""
    name = scrape_target_name_validate(name=name)
    if not addresses:
        raise FieldError("address", "give at least one HOST:PORT")
    if len(addresses) > MAX_ADDRESSES:
        raise FieldError("address", f"at most {MAX_ADDRESSES} addresses per name")
    clean = [scrape_target_address_validate(address=address) for address in addresses]
    clean = list(dict.fromkeys(clean))
    metrics_path = scrape_target_metrics_path_validate(metrics_path=metrics_path)

    directory = directory or scrape_target_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = _target_path(directory=directory, name=name)
    group = [{"targets": clean, "labels": {"app": name, "__metrics_path__": metrics_path}}]
    _write_atomically(path, json.dumps(group, indent=2) + "\n")
    return ScrapeTarget(name=name, addresses=clean, metrics_path=metrics_path, path=path)


def scrape_target_remove(*, name: str, directory: Path | None = None) -> bool:
    name = scrape_target_name_validate(name=name)
    path = _target_path(directory=directory or scrape_target_dir(), name=name)
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def scrape_target_list(*, directory: Path | None = None) -> list[ScrapeTarget]:
    """The target groups in the folder, by name; files that are not ours are skipped."""
    directory = directory or scrape_target_dir()
    if not directory.is_dir():
        return []
    found = []
    for path in sorted(directory.glob("*.json")):
        if not _NAME_RE.match(path.stem):
            continue
        try:
            groups = json.loads(path.read_text())
            group = groups[0]
            addresses = [str(target) for target in group["targets"]]
            metrics_path = str(group.get("labels", {}).get("__metrics_path__", "/metrics"))
        except (OSError, ValueError, LookupError, TypeError, AttributeError):
            continue
        found.append(ScrapeTarget(name=path.stem, addresses=addresses, metrics_path=metrics_path, path=path))
    return found
