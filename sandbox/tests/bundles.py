"""A small valid bundle to break one field at a time, and helpers to do it."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "bundles"

_BASE: list[dict[str, Any]] = [
    {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "web-config"},
        "data": {"default.conf": "server { listen 8080; location / { return 200 ok; } }\n", "mode": "fast"},
    },
    {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "nginx",
                            "image": "nginx",
                            "ports": [{"name": "http", "containerPort": 8080}],
                            "env": [{"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "web-config", "key": "mode"}}}],
                            "readinessProbe": {"httpGet": {"path": "/", "port": "http"}},
                            "volumeMounts": [{"name": "config", "mountPath": "/etc/nginx/conf.d"}],
                            "resources": {
                                "requests": {"cpu": "100m", "memory": "64Mi"},
                                "limits": {"cpu": "200m", "memory": "128Mi"},
                            },
                        }
                    ],
                    "volumes": [
                        {"name": "config", "configMap": {"name": "web-config"}},
                        {"name": "scratch", "emptyDir": {}},
                    ],
                },
            },
        },
    },
    {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "entrypoint"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http"}]},
    },
]

POD = (1, "spec", "template", "spec")
CONTAINER = (*POD, "containers", 0)


def base() -> list[dict[str, Any]]:
    return copy.deepcopy(_BASE)


def as_yaml(objects: list[Any]) -> str:
    return yaml.safe_dump_all(objects, sort_keys=False)


def example(name: str) -> str:
    return (EXAMPLES / name).read_text()


Mutation = Callable[[list[dict[str, Any]]], None]


def _walk(objects: Any, keys: tuple) -> Any:
    node = objects
    for key in keys:
        if isinstance(node, dict) and key not in node:
            node[key] = {}
        node = node[key]
    return node


def put(*keys_and_value: Any) -> Mutation:
    """put(1, "spec", "replicas", 3): set a field, making the mappings on the way."""
    *keys, value = keys_and_value

    def mutate(objects: list[dict[str, Any]]) -> None:
        _walk(objects, tuple(keys[:-1]))[keys[-1]] = copy.deepcopy(value)

    return mutate


def drop(*keys: Any) -> Mutation:
    def mutate(objects: list[dict[str, Any]]) -> None:
        del _walk(objects, tuple(keys[:-1]))[keys[-1]]

    return mutate


def append(*keys_and_value: Any) -> Mutation:
    *keys, value = keys_and_value

    def mutate(objects: list[dict[str, Any]]) -> None:
        _walk(objects, tuple(keys)).append(copy.deepcopy(value))

    return mutate


def both(*mutations: Mutation) -> Mutation:
    def mutate(objects: list[dict[str, Any]]) -> None:
        for mutation in mutations:
            mutation(objects)

    return mutate
