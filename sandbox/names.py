"""The name syntaxes of Kubernetes that the sandbox relies on (k8s.io/apimachinery validation).

The JSON schemas do not check them; the API server does, and the sandbox's
runtime uses these names as host names, file names and match keys.
"""

from __future__ import annotations

import re

_DNS1123_LABEL = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?")
_DNS1035_LABEL = re.compile(r"[a-z](?:[-a-z0-9]*[a-z0-9])?")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*")
_QUALIFIED_NAME = re.compile(r"[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?")
_CONFIG_MAP_KEY = re.compile(r"[-._a-zA-Z0-9]+")
_PORT_NAME = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?")


def dns_label_problem(name: str) -> str | None:
    """DNS-1123 label: a Deployment, ConfigMap, container or volume name."""
    if len(name) > 63 or not _DNS1123_LABEL.fullmatch(name):
        return "must be a DNS label: at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit"
    return None


def service_name_problem(name: str) -> str | None:
    """DNS-1035 label: a Service's name (it becomes a host name, so it starts with a letter)."""
    if len(name) > 63 or not _DNS1035_LABEL.fullmatch(name):
        return "must be a DNS-1035 label: at most 63 lower-case letters, digits and '-', starting with a letter"
    return None


def label_key_problem(key: str) -> str | None:
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _DNS1123_SUBDOMAIN.fullmatch(prefix)):
        return "must have a DNS subdomain as its prefix (before '/')"
    if not name or len(name) > 63 or not _QUALIFIED_NAME.fullmatch(name):
        return "must be at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
    return None


def label_value_problem(value: str) -> str | None:
    if value and (len(value) > 63 or not _QUALIFIED_NAME.fullmatch(value)):
        return "must be empty or at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
    return None


def config_map_key_problem(key: str) -> str | None:
    # The key becomes a file name when the ConfigMap is mounted: "." and ".."
    # (and a leading "..", which the kubelet uses for its own files) would not be one.
    if len(key) > 253 or not _CONFIG_MAP_KEY.fullmatch(key) or key in {".", ".."} or key.startswith(".."):
        return "must be a file name: letters, digits, '-', '_' and '.', not '.' or '..' or starting with '..'"
    return None


def port_name_problem(name: str) -> str | None:
    """IANA service name, the syntax of a named port."""
    if len(name) > 15 or not _PORT_NAME.fullmatch(name) or "--" in name or not any(c.isalpha() for c in name):
        return "must be at most 15 lower-case letters, digits and '-', with at least one letter and no '--'"
    return None


def relative_path_problem(path: str) -> str | None:
    """A path that must stay inside the folder it is joined to (subPath, items[].path)."""
    if not path or path.startswith("/") or ".." in path.split("/"):
        return "must be a relative path without '..'"
    return None


def mount_path_problem(path: str) -> str | None:
    if not path.startswith("/") or ".." in path.split("/") or ":" in path:
        return "must be an absolute path without '..' or ':'"
    return None
