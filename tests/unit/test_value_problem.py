"""pinterest_common.schema.value_problem: why a Kafka value is no valid event, in the words of the
dead letters (the batch drain and the streaming job's rejected_events share it)."""

import json

import pytest

from pinterest_common.schema import GEO, PIN, value_problem

GEO_EVENT = {"ind": 7528, "timestamp": "2020-08-28 03:52:47", "latitude": -89.9787, "longitude": -173.293,
             "country": "Albania"}
VALID = json.dumps(GEO_EVENT)


@pytest.mark.parametrize("value", [VALID, VALID.encode(), bytearray(VALID.encode())])
def test_a_valid_event_as_text_bytes_or_bytearray_has_no_problem(value):
    assert value_problem(GEO, value) is None


@pytest.mark.parametrize("event_type,value,reason", [
    (GEO, None, "no value (tombstone)"),
    (GEO, b"\xff\xfe{}", "value is not UTF-8"),
    (GEO, b"{not json", "value is not JSON: Expecting property name enclosed in double quotes: line 1 column 2"),
    (GEO, b"[" * 100_000, "value is not JSON: maximum recursion depth exceeded"),
    (GEO, b"[1]", "schema-invalid: a geo event must be a JSON object, got list"),
    (GEO, json.dumps({**GEO_EVENT, "ind": True, "x": 1}), "schema-invalid: unknown field 'x'; 'ind' must be an integer"),
    (PIN, VALID, "schema-invalid: missing field 'index'; missing field 'unique_id'"),
])
def test_each_problem_has_the_dead_letter_reason(event_type, value, reason):
    assert (value_problem(event_type, value) or "").startswith(reason)
