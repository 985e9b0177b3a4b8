"""The control API at /chaos/…: exists only with ANVIL_CHAOS_TOKEN, and only for that bearer token."""

from __future__ import annotations

import json

import pytest

from anvil import services


def auth(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/chaos/faults"), ("post", "/chaos/faults"), ("delete", "/chaos/faults"), ("delete", "/chaos/faults/abc"), ("get", "/chaos/instances")],
)
def test_without_a_configured_token_the_api_does_not_exist(anvil_client, method, path):
    response = getattr(anvil_client, method)(path, **auth("anything"))
    assert response.status_code == 404


def test_it_refuses_a_missing_token(anvil_client, chaos_token):
    response = anvil_client.get("/chaos/faults")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert "Missing bearer token" in response.json()["error"]


@pytest.mark.parametrize("header", ["Bearer wrong", "Bearer s3cret-token-and-more", "Basic czNjcmV0LXRva2Vu", "s3cret-token"])
def test_it_refuses_a_wrong_token(anvil_client, chaos_token, header):
    response = anvil_client.post(
        "/chaos/faults", json.dumps({"kind": "crash"}), content_type="application/json", HTTP_AUTHORIZATION=header
    )
    assert response.status_code == 401
    assert services.fault_list() == []


def test_it_adds_lists_and_clears_faults(anvil_client, chaos_token):
    created = anvil_client.post(
        "/chaos/faults",
        json.dumps({"kind": "latency", "params": {"ms": 250}, "scope": {"fraction": 0.5}, "ttl_s": 30}),
        content_type="application/json",
        **auth(chaos_token),
    )
    assert created.status_code == 201
    fault = created.json()
    assert fault["params"] == {"ms": 250.0, "jitter_ms": 0.0, "probability": 1.0}
    assert fault["id"] and fault["expires_at"] > fault["created_at"]
    assert anvil_client.get("/chaos/faults", **auth(chaos_token)).json() == {"faults": [fault]}

    second = anvil_client.post("/chaos/faults", json.dumps({"kind": "unhealthy"}), content_type="application/json", **auth(chaos_token)).json()
    assert anvil_client.delete(f"/chaos/faults/{fault['id']}", **auth(chaos_token)).json() == {"cleared": 1}
    assert anvil_client.get("/chaos/faults", **auth(chaos_token)).json() == {"faults": [second]}
    assert anvil_client.delete("/chaos/faults", **auth(chaos_token)).json() == {"cleared": 1}
    assert anvil_client.get("/chaos/faults", **auth(chaos_token)).json() == {"faults": []}


def test_deleting_an_unknown_fault_is_a_404(anvil_client, chaos_token):
    assert anvil_client.delete("/chaos/faults/deadbeef", **auth(chaos_token)).status_code == 404
    assert anvil_client.delete("/chaos/faults/../../etc", **auth(chaos_token)).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "latency", "params": {"ms": "slow"}}, "params.ms"),
        ({"kind": "explode"}, "kind"),
        ({"kind": "error", "scope": {"fraction": 3}}, "scope.fraction"),
        ([1, 2], "spec"),
    ],
)
def test_a_bad_fault_spec_is_a_400_naming_the_field(anvil_client, chaos_token, body, field):
    response = anvil_client.post("/chaos/faults", json.dumps(body), content_type="application/json", **auth(chaos_token))
    assert response.status_code == 400
    assert response.json()["field"] == field
    assert field in response.json()["error"]
    assert services.fault_list() == []


def test_a_malformed_fault_body_is_a_400(anvil_client, chaos_token):
    response = anvil_client.post("/chaos/faults", "{oops", content_type="application/json", **auth(chaos_token))
    assert response.status_code == 400
    assert response.json()["error"].startswith("Malformed JSON body")


def test_it_lists_live_instances_from_heartbeats(anvil_client, chaos_token):
    anvil_client.get("/api/history")  # the first request registers this process
    instances = anvil_client.get("/chaos/instances", **auth(chaos_token)).json()["instances"]
    assert len(instances) == 1
    me = instances[0]
    assert set(me) == {"boot_id", "pid", "host", "started_at", "last_seen"}
    assert me["boot_id"] == anvil_client.get("/healthz")["X-Anvil-Instance"]


def test_wrong_methods_on_the_control_api_get_a_405(anvil_client, chaos_token):
    assert anvil_client.put("/chaos/faults", **auth(chaos_token)).status_code == 405
    assert anvil_client.post("/chaos/instances", **auth(chaos_token)).status_code == 405
