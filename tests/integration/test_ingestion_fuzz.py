"""Property-based fuzzing of the API with the real Kafka: 10,000 generated requests (valid and
invalid events and batches, arbitrary JSON and bytes, truncated and malformed UTF-8 bodies,
deeply nested JSON, bodies over the size limit, wrong content types) never get a 5xx, an event
is accepted exactly when the schema says it is valid, and every accepted event is in Kafka with
the bytes that were sent."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ingestion_api.app import create_app
from ingestion_api.payload import MalformedJSON, parse_document
from ingestion_api.topics import end_offsets, read_records
from pinterest_common.kafka_admin import EVENT_TOPICS
from pinterest_common.records import RecordMetadata
from pinterest_common.schema import DATETIME, DATETIME_FORMATS, EVENT_TYPES, INTEGER, NUMBER, PIN_SENTINELS, validate
from tests.integration.test_ingestion_api import wait_until_healthy

pytestmark = pytest.mark.integration

EXAMPLES = 10_000
OVERSIZED = 600 * 1024  # over PINTEREST_API_MAX_BYTES' default (512 KiB)
SENTINELS = [s for values in PIN_SENTINELS.values() for s in values] + ["5k", "1.2k", "3B", "Local save in /data/x"]

_json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20))
_any_json = st.recursive(_json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=12)


def _valid_value(kind: str):
    if kind == INTEGER:
        return st.one_of(st.integers(-10**15, 10**15), st.integers(0, 10**9).map(str))
    if kind == NUMBER:
        return st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(),
                         st.floats(-1e6, 1e6, allow_nan=False).map(repr))
    if kind == DATETIME:
        return st.tuples(st.datetimes(datetime(1900, 1, 1), datetime(2100, 1, 1)), st.sampled_from(DATETIME_FORMATS)
                         ).map(lambda pair: pair[0].strftime(pair[1]))
    return st.one_of(st.text(), st.sampled_from(SENTINELS))


@st.composite
def events(draw, name: str) -> dict:
    """Mostly valid events; sometimes a field missing, of a wrong type, or one too many."""
    event = {}
    for field in EVENT_TYPES[name].fields:
        roll = draw(st.integers(0, 99))
        if roll < 3:
            continue
        event[field.name] = draw(_json_scalars if roll < 8 else _valid_value(field.kind))
    if draw(st.integers(0, 99)) < 5:
        event[draw(st.text(min_size=1, max_size=10))] = draw(_json_scalars)
    return event


def _dump(value, ascii_only: bool) -> bytes:
    return json.dumps(value, ensure_ascii=ascii_only).encode()


@st.composite
def requests(draw) -> tuple[str, bytes, str | None, list[bytes]]:
    """(path, body, content type, the bytes of each element of a batch)."""
    name = draw(st.sampled_from(list(EVENT_TYPES)))
    ascii_only = draw(st.booleans())
    kind = draw(st.sampled_from(["event"] * 6 + ["batch"] * 2 + ["json", "bytes", "truncated", "surrogate",
                                                                  "nested", "oversized"]))
    path = f"/{name}/batch" if kind == "batch" else f"/{name}/"
    elements: list[bytes] = []
    if kind == "event":
        body = _dump(draw(events(name)), ascii_only)
    elif kind == "batch":
        elements = [_dump(event, ascii_only) for event in draw(st.lists(events(name), min_size=1, max_size=6))]
        body = b"[" + b" ,".join(elements) + b"]"
    elif kind == "json":
        body = _dump(draw(_any_json), ascii_only)
    elif kind == "bytes":
        body = draw(st.binary(max_size=300))
    elif kind == "truncated":
        whole = _dump(draw(events(name)), ascii_only)
        body = whole[: draw(st.integers(0, len(whole) - 1))]
    elif kind == "nested":  # up to far deeper than Python's recursion limit
        depth = draw(st.integers(100, 100_000))
        opener, closer = draw(st.sampled_from([(b"[", b"]"), (b'{"a":', b"}")]))
        body = opener * depth + b"1" + closer * depth
    elif kind == "oversized":
        body = b'{"title": "' + b"x" * OVERSIZED + b'"}'
    else:
        body = _dump(draw(events(name)), True)[:-1] + b', "x": "\\ud800"}'
    content_type = draw(st.sampled_from(["application/json"] * 8 + ["application/problem+json", "text/plain", None]))
    return path, body, content_type, elements


def _expected_valid(name: str, body: bytes) -> bool | None:
    """Whether the single event in `body` is valid; None if the body is not JSON."""
    try:
        return validate(EVENT_TYPES[name], parse_document(body).value) == []
    except MalformedJSON:
        return None


def test_generated_bodies_never_get_a_5xx_and_every_accepted_event_is_in_kafka(stack_settings):
    app = create_app(stack_settings)
    wait_until_healthy(app.test_client())
    start = end_offsets(stack_settings, EVENT_TOPICS)
    accepted: dict[str, bytes] = {}  # event_id -> the bytes sent
    statuses: Counter = Counter()

    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(request=requests())
    def post_one(request):
        path, body, content_type, elements = request
        headers = {"Content-Type": content_type} if content_type else {}
        answer = app.test_client().post(path, data=body, headers=headers)
        statuses[answer.status_code] += 1
        assert answer.status_code < 500, (answer.status_code, answer.get_data(as_text=True))
        assert answer.is_json
        name = path.strip("/").split("/")[0]
        if path.endswith("/batch"):
            for result in answer.json.get("results", []):
                element = elements[result["position"]]
                assert (result["status"] == 202) == bool(_expected_valid(name, element))
                if result["status"] == 202:
                    accepted[result["event_id"]] = element
            return
        if answer.status_code == 202:
            accepted[answer.json["event_id"]] = body
        else:
            assert answer.json["problems"] and answer.status_code in (400, 413, 415, 422)
        if content_type in ("application/json", "application/problem+json"):
            assert (answer.status_code == 202) == bool(_expected_valid(name, body))

    try:
        post_one()
    finally:
        app.extensions["publisher"].close()

    print(f"\nfuzz: {sum(statuses.values())} bodies, answers {dict(sorted(statuses.items()))}, "
          f"{len(accepted)} events accepted")
    assert sum(statuses.values()) >= EXAMPLES and statuses[202] >= 1000 and statuses[413] > 0 and len(statuses) >= 5
    records = read_records(stack_settings, start)
    found = Counter(RecordMetadata.from_headers(r.headers).event_id for r in records)
    values = {RecordMetadata.from_headers(r.headers).event_id: r.value for r in records}
    assert {event_id: found[event_id] for event_id in accepted} == {event_id: 1 for event_id in accepted}
    assert {event_id: values[event_id] for event_id in accepted} == accepted
