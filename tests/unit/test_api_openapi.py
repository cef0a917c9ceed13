"""The OpenAPI document is generated from the schema and agrees with the validator."""

from __future__ import annotations

import re

import pytest

from ingestion_api.canonical import CANONICAL_TRIPLE
from ingestion_api.openapi import build_openapi
from pinterest_common.schema import EVENT_TYPES, validate
from tests.unit.test_api import make_settings


@pytest.fixture(scope="module")
def document() -> dict:
    return build_openapi(make_settings())


def test_it_is_openapi_3_with_every_endpoint(document):
    assert document["openapi"].startswith("3.")
    for name in EVENT_TYPES:
        assert {f"/{name}/", f"/{name}/batch"} <= set(document["paths"])
        operation = document["paths"][f"/{name}/"]["post"]
        assert {"202", "400", "413", "415", "422", "503"} <= set(operation["responses"])
        assert "401" not in operation["responses"]  # no keys configured
    assert "/healthz" in document["paths"]


@pytest.mark.parametrize("name", list(EVENT_TYPES))
def test_each_event_model_is_the_schema(document, name):
    model = document["components"]["schemas"][name.capitalize() + "Event"]
    event_type = EVENT_TYPES[name]
    assert model["required"] == list(event_type.field_names)
    assert list(model["properties"]) == list(event_type.field_names)
    assert model["additionalProperties"] is False
    assert validate(event_type, model["example"]) == []
    assert model["example"] == CANONICAL_TRIPLE[name]


def _accepts(field_schema: dict, value) -> bool:
    """A minimal JSON Schema check for the field shapes the document uses."""
    types = field_schema["type"] if isinstance(field_schema["type"], list) else [field_schema["type"]]
    if isinstance(value, bool):
        return False
    if isinstance(value, str):
        return "string" in types and re.search(field_schema.get("pattern", ""), value) is not None
    within = field_schema.get("minimum", value) <= value <= field_schema.get("maximum", value)
    if isinstance(value, int):
        return ("integer" in types or "number" in types) and within
    return isinstance(value, float) and "number" in types and within


@pytest.mark.parametrize(
    ("name", "field", "values"),
    [
        # Numeric strings within the rules' bounds: JSON Schema bounds apply to numbers only.
        ("pin", "index", [7528, "7528", " 3 ", "+4", "7.5", "x", 7.5, True, "", -3, 2**31]),
        ("geo", "latitude", [-89.9787, "-89.9787", "1e1", ".5", "5.", "north", True, "1,5", 90.5, -91]),
        (
            "geo",
            "timestamp",
            ["2020-08-28 03:52:47", "2020-08-28T03:52:47", "2020:08:28 03:52:47", "28/08/2020", "2020-08-28", 20200828],
        ),
        ("user", "first_name", ["Abigail", "", 3]),
    ],
)
def test_field_patterns_agree_with_the_validator(document, name, field, values):
    field_schema = document["components"]["schemas"][name.capitalize() + "Event"]["properties"][field]
    event_type = EVENT_TYPES[name]
    for value in values:
        valid = validate(event_type, {**CANONICAL_TRIPLE[name], field: value}) == []
        assert _accepts(field_schema, value) == valid, (field, value)


@pytest.mark.parametrize("name", ["pin", "geo", "user"])
def test_the_idempotency_key_is_documented_on_both_endpoints_and_per_batch_element(document, name):
    for path in (f"/{name}/", f"/{name}/batch"):
        [parameter] = document["paths"][path]["post"]["parameters"]
        assert (parameter["name"], parameter["in"], parameter["required"]) == ("Idempotency-Key", "header", False)
        pattern = re.compile(parameter["schema"]["pattern"])
        assert pattern.match("order-17:retry") and not pattern.match("has space") and not pattern.match("x" * 256)
    items = document["paths"][f"/{name}/batch"]["post"]["requestBody"]["content"]["application/json"]["schema"]["items"]
    envelope = items["oneOf"][1]
    assert set(envelope["required"]) == {"idempotency_key", "event"} and envelope["additionalProperties"] is False
    accepted = document["paths"][f"/{name}/"]["post"]["responses"]["202"]["content"]["application/json"]["schema"]
    assert "client_event_id" in accepted["properties"]
