"""The event endpoints: POST /<type>/ (one event) and POST /<type>/batch (a JSON array).

An event is answered 2xx only once Kafka has acknowledged it. Invalid bodies and events are
answered 4xx with every problem named, and written to the dead-letter topic.

A client names an event with the `Idempotency-Key` header (`client_event_id` in the answer and
the Kafka header): a retry after a timeout or a 503 sends the same key again, and every store
after the raw lake keeps the first copy only. On the batch endpoint an element may name itself
(`{"idempotency_key": "...", "event": {...}}`); an element without one gets `<header key>:<position>`
when the request has the header. Without any, the event_id is the client id.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from pinterest_common.records import RecordMetadata, client_event_id_problem
from pinterest_common.schema import EVENT_TYPES, EventType, record_key, validate

from .auth import require_api_key
from .dlq import INVALID_IDEMPOTENCY_KEY, Rejection, dead_letter_record
from .errors import error_response, unavailable_response
from .kafka_producer import Delivery, OutgoingRecord, Publisher
from .payload import MalformedJSON, NotAnArray, RawEvent, parse_array, parse_document

log = logging.getLogger(__name__)

events = Blueprint("events", __name__)
events.before_request(require_api_key)
EVENT_PATH = "/<any(pin, geo, user):name>"

ERRORS = {
    400: "malformed JSON",
    413: "request too large",
    415: "unsupported media type",
    422: "invalid {} event",
}
IDEMPOTENCY_KEY = "Idempotency-Key"
ENVELOPE_KEY, ENVELOPE_EVENT = "idempotency_key", "event"
ENVELOPE = frozenset({ENVELOPE_KEY, ENVELOPE_EVENT})


def _publisher() -> Publisher:
    return current_app.extensions["publisher"]


class Rejected(Exception):
    def __init__(self, rejection: Rejection):
        super().__init__(rejection.reason)
        self.rejection = rejection


def _read_body(max_bytes: int) -> bytes:
    """The body; a body too large (only max_bytes of it kept) or not JSON is rejected."""
    body = request.stream.read(max_bytes + 1)
    if len(body) > max_bytes or (request.content_length or 0) > max_bytes:
        raise Rejected(Rejection(413, [f"the body exceeds the limit of {max_bytes} bytes"], body[:max_bytes], True))
    mimetype = request.mimetype
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise Rejected(Rejection(415, [f"Content-Type must be application/json, got {mimetype or 'none'}"], body))
    return body


def _parse(body: bytes, parse: Callable[[bytes], Any] = parse_document) -> Any:
    try:
        return parse(body)
    except MalformedJSON as exc:
        raise Rejected(Rejection(400, [f"malformed JSON: {exc}"], body)) from exc


def _idempotency_key(body: bytes) -> str | None:
    """The request's `Idempotency-Key` (an sf-string's quotes removed); a 400 when it is invalid."""
    key = request.headers.get(IDEMPOTENCY_KEY)
    if key is None:
        return None
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if problem := client_event_id_problem(key):
        raise Rejected(Rejection(400, [f"{IDEMPOTENCY_KEY} {problem}"], body, named_reason=INVALID_IDEMPOTENCY_KEY))
    return key


def _event_record(
    event_type: EventType, event: RawEvent, received: datetime, client_event_id: str | None
) -> tuple[OutgoingRecord, RecordMetadata]:
    metadata = RecordMetadata.new(event_type.name, received, client_event_id)
    record = OutgoingRecord(event_type.topic, record_key(event_type, event.value), event.raw, metadata.headers())
    return record, metadata


def _dead_letter(
    rejection: Rejection, event_type: EventType, received: datetime
) -> tuple[OutgoingRecord, RecordMetadata]:
    metadata = RecordMetadata.new(event_type.name, received)
    log.info(
        "rejected %s on %s: %d %s (%d problem(s))",
        event_type.name,
        request.path,
        rejection.status,
        rejection.reason,
        len(rejection.problems),
    )
    return dead_letter_record(rejection, metadata, request.path), metadata


def _dead_letter_id(metadata: RecordMetadata, delivery: Delivery) -> str | None:
    if not delivery.acknowledged:
        log.error("dead-letter record %s not written: %s", metadata.event_id, delivery.error)
        return None
    return metadata.event_id


def _reject(rejection: Rejection, event_type: EventType, received: datetime) -> Response:
    """Write the rejected body to the dead-letter topic, then answer with every problem."""
    record, metadata = _dead_letter(rejection, event_type, received)
    delivery = _publisher().publish([record])[0]
    title = f"invalid {IDEMPOTENCY_KEY}" if rejection.reason == INVALID_IDEMPOTENCY_KEY else ERRORS[rejection.status]
    return error_response(
        rejection.status,
        title.format(event_type.name),
        rejection.problems,
        dead_letter_id=_dead_letter_id(metadata, delivery),
    )


def _accepted(metadata: RecordMetadata, topic: str, delivery: Delivery) -> dict:
    return {
        "event_id": metadata.event_id,
        "client_event_id": metadata.dedup_id,
        "event_type": metadata.event_type,
        "received_at": metadata.received_at,
        "topic": topic,
        "partition": delivery.partition,
        "offset": delivery.offset,
    }


@events.post(f"{EVENT_PATH}/")
def post_event(name: str) -> Response:
    event_type = EVENT_TYPES[name]
    received = datetime.now(UTC)
    try:
        body = _read_body(current_app.extensions["settings"].api_max_bytes)
        client_event_id = _idempotency_key(body)
        document = _parse(body)
        problems = validate(event_type, document.value, received.replace(tzinfo=None))
        if problems:
            raise Rejected(Rejection(422, problems, body))
    except Rejected as exc:
        return _reject(exc.rejection, event_type, received)

    record, metadata = _event_record(event_type, document, received, client_event_id)
    delivery = _publisher().publish([record])[0]
    if not delivery.acknowledged:
        return unavailable_response(
            {"error": "Kafka unavailable", "client_event_id": metadata.dedup_id, "problems": [delivery.error]},
            _publisher().timeout_s,
        )
    response = jsonify(_accepted(metadata, event_type.topic, delivery))
    response.status_code = 202
    response.headers[IDEMPOTENCY_KEY] = metadata.dedup_id
    return response


def _batch_elements(body: bytes, max_events: int) -> list[RawEvent]:
    """The batch's events; a body that is not a non-empty array of at most max_events is rejected."""
    try:
        elements: list[RawEvent] = _parse(body, partial(parse_array, member_wise=ENVELOPE))
    except NotAnArray as exc:
        raise Rejected(Rejection(422, [f"a batch must be a JSON array of events, got {exc}"], body)) from exc
    if not elements:
        raise Rejected(Rejection(422, ["a batch must contain at least one event"], body))
    if len(elements) > max_events:
        raise Rejected(Rejection(413, [f"a batch holds at most {max_events} events, got {len(elements)}"], body))
    return elements


def _unwrapped(element: RawEvent) -> tuple[RawEvent, str | None, list[str]]:
    """A batch element as its event and client id: an envelope `{"idempotency_key", "event"}`
    gives both (the event's exact bytes), anything else is the event itself, without one."""
    members = element.members
    if members is None or members.keys() != ENVELOPE:
        return element, None, []
    key = members[ENVELOPE_KEY].value
    problem = client_event_id_problem(key)
    return members[ENVELOPE_EVENT], (None if problem else key), ([f"{ENVELOPE_KEY} {problem}"] if problem else [])


def _plan(event_type: EventType, position: int, element: RawEvent, received: datetime, batch_key: str | None):
    """The record for one event of a batch: the event itself, or its dead letter; and its problems."""
    event, client_event_id, problems = _unwrapped(element)
    if client_event_id is None and batch_key is not None:
        client_event_id = f"{batch_key}:{position}"
    problems += validate(event_type, event.value, received.replace(tzinfo=None))
    if problems:
        return *_dead_letter(Rejection(422, problems, element.raw, position=position), event_type, received), problems
    return *_event_record(event_type, event, received, client_event_id), problems


def _result(
    position: int, record: OutgoingRecord, metadata: RecordMetadata, problems: list[str], delivery: Delivery
) -> dict:
    if problems:
        return {
            "position": position,
            "status": 422,
            "problems": problems,
            "dead_letter_id": _dead_letter_id(metadata, delivery),
        }
    if delivery.acknowledged:
        return {"position": position, "status": 202, **_accepted(metadata, record.topic, delivery)}
    return {"position": position, "status": 503, "client_event_id": metadata.dedup_id, "error": delivery.error}


@events.post(f"{EVENT_PATH}/batch")
def post_batch(name: str) -> Response:
    event_type = EVENT_TYPES[name]
    received = datetime.now(UTC)
    settings = current_app.extensions["settings"]
    try:
        body = _read_body(settings.api_max_bytes)
        batch_key = _idempotency_key(body)
        elements = _batch_elements(body, settings.api_batch_max_events)
    except Rejected as exc:
        return _reject(exc.rejection, event_type, received)

    planned = [_plan(event_type, position, element, received, batch_key) for position, element in enumerate(elements)]
    deliveries = _publisher().publish([record for record, _, _ in planned])
    results = [_result(position, *plan, delivery) for position, (plan, delivery) in enumerate(zip(planned, deliveries))]
    counts = {status: sum(r["status"] == status for r in results) for status in (202, 422, 503)}
    answer = {
        "event_type": name,
        "accepted": counts[202],
        "rejected": counts[422],
        "failed": counts[503],
        "results": results,
    }
    if counts[503]:
        return unavailable_response({"error": "Kafka unavailable", **answer}, _publisher().timeout_s)
    response = jsonify(answer)
    response.status_code = 202 if not counts[422] else (207 if counts[202] else 422)
    return response
