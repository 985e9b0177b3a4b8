"""POST /chaos/faults with numbers Python's json reads but no fault can use: a 400 naming the field, never a 500."""

from __future__ import annotations

import pytest

from anvil import services


def auth(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


@pytest.mark.parametrize("number", ["Infinity", "-Infinity", "NaN", "1e400", "true", '"500"', "500.5"])
def test_a_status_that_is_no_http_status_is_a_400(anvil_client, chaos_token, number):
    body = '{"kind": "error", "params": {"status": NUMBER}}'.replace("NUMBER", number)
    response = anvil_client.post("/chaos/faults", body, content_type="application/json", **auth(chaos_token))
    assert response.status_code == 400
    assert response.json()["field"] == "params.status"
    assert response.json()["error"].startswith("Invalid fault: params.status: ")
    assert services.fault_list() == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"kind": "latency", "params": {"ms": Infinity}}', "params.ms"),
        ('{"kind": "latency", "params": {"jitter_ms": NaN}}', "params.jitter_ms"),
        ('{"kind": "hang", "params": {"seconds": 1e400}}', "params.seconds"),
        ('{"kind": "error", "ttl_s": NaN}', "ttl_s"),
        ('{"kind": "error", "scope": {"fraction": Infinity}}', "scope.fraction"),
    ],
)
def test_a_non_finite_number_anywhere_is_a_400(anvil_client, chaos_token, body, field):
    response = anvil_client.post("/chaos/faults", body, content_type="application/json", **auth(chaos_token))
    assert response.status_code == 400
    assert response.json()["field"] == field
    assert services.fault_list() == []


def test_a_whole_status_sent_as_a_float_is_stored_as_an_int(anvil_client, chaos_token):
    body = '{"kind": "error", "params": {"status": 503.0}}'
    response = anvil_client.post("/chaos/faults", body, content_type="application/json", **auth(chaos_token))
    assert response.status_code == 201
    assert response.json()["params"]["status"] == 503
