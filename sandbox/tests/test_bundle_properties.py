"""Whatever a participant sends, bundle_parse answers with a Bundle or a FieldError — nothing else."""

from __future__ import annotations

import json
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.validation import FieldError
from sandbox.bundle import Bundle, bundle_parse
from sandbox.tests.bundles import as_yaml, base, example

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Values that mean something somewhere in a bundle, next to arbitrary ones.
MEANINGFUL = st.sampled_from(
    ["", "0", "80", "http", "TCP", "UDP", "Always", "Never", "None", "ClusterIP", "NodePort", "nginx", "url-anvil",
     "250m", "128Mi", "1e3", "-1", "/", "..", "../x", "web", "web-config", "entrypoint", "app", "=", "*", "null"]
)
FIELD_NAMES = st.sampled_from(
    ["name", "image", "kind", "apiVersion", "metadata", "spec", "selector", "matchLabels", "ports", "port",
     "targetPort", "containerPort", "hostPort", "resources", "limits", "requests", "cpu", "memory", "volumes",
     "configMap", "emptyDir", "hostPath", "items", "key", "path", "securityContext", "privileged", "capabilities",
     "add", "replicas", "template", "containers", "labels", "data", "env", "valueFrom", "httpGet", "host"]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | MEANINGFUL
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(FIELD_NAMES | st.text(max_size=8), children, max_size=4),
    max_leaves=16,
)


def outcome(text: str) -> Bundle | FieldError:
    try:
        bundle = bundle_parse(text)
    except FieldError as error:
        # "" names the bundle as a whole; anything else is a path into it.
        assert error.field == "" or error.field.startswith("[")
        assert isinstance(error.message, str)
        assert error.message
        return error
    assert isinstance(bundle, Bundle)
    json.dumps(bundle.summary())  # the summary is always plain data
    return bundle


def paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*prefix, index))
    return found


def replaced(tree: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    head, *rest = path
    if isinstance(tree, dict):
        return {**tree, head: replaced(tree[head], tuple(rest), value)}
    copy = list(tree)
    copy[head] = replaced(tree[head], tuple(rest), value)
    return copy


@SETTINGS
@given(st.text(max_size=400))
def test_any_text_gives_a_bundle_or_a_field_error(text):
    outcome(text)


@SETTINGS
@given(st.text(alphabet="abk:-[]{}&*!|>'\"%@`#,?=. \n\t0123456789", max_size=200))
def test_yaml_punctuation_gives_a_bundle_or_a_field_error(text):
    outcome(text)


@SETTINGS
@given(JSON_VALUES)
def test_any_json_gives_a_bundle_or_a_field_error(value):
    outcome(json.dumps(value))
    outcome(json.dumps([value]))


@SETTINGS
@given(st.data())
def test_a_valid_bundle_with_any_one_field_replaced_gives_a_bundle_or_a_field_error(data):
    objects = base()
    path = data.draw(st.sampled_from(paths(objects)[1:]))
    value = data.draw(JSON_VALUES)
    mutated = replaced(objects, path, value)
    text = data.draw(st.sampled_from(["yaml", "json"]))
    outcome(yaml.safe_dump_all(mutated) if text == "yaml" else json.dumps(mutated))


@SETTINGS
@given(st.data())
def test_the_resilient_bundle_with_any_one_field_replaced_gives_a_bundle_or_a_field_error(data):
    objects = list(yaml.safe_load_all(example("resilient-anvil.yaml")))
    path = data.draw(st.sampled_from(paths(objects)[1:]))
    outcome(as_yaml(replaced(objects, path, data.draw(JSON_VALUES))))


@SETTINGS
@given(st.data())
def test_a_valid_bundle_with_any_one_field_removed_gives_a_bundle_or_a_field_error(data):
    objects = base()
    path = data.draw(st.sampled_from([p for p in paths(objects) if len(p) > 1 and isinstance(p[-1], str)]))
    parent = objects
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    outcome(as_yaml(objects))
