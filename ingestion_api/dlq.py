"""Dead-letter records: every rejected body goes to `pinterest.dlq`, visible and replayable.

The value is the rejected body exactly as received (at most PINTEREST_API_MAX_BYTES of it, so
a record always fits in Kafka); for an invalid event inside a batch it is that event's bytes.
Headers: the record metadata of pinterest_common.records (event_type is the endpoint's type)
plus `dlq_status` (the HTTP status), `dlq_reason`, `dlq_problems` (a JSON array of readable
problems), `dlq_endpoint` (the request path), `dlq_truncated` and, in a batch, `dlq_position`.
Replaying a record means posting its value to the event type's single-event endpoint.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from pinterest_common.records import RecordMetadata
from pinterest_common.schema import DLQ_TOPIC

from .kafka_producer import OutgoingRecord

REASONS = {400: "malformed_json", 413: "too_large", 415: "unsupported_media_type", 422: "schema"}
INVALID_IDEMPOTENCY_KEY = "invalid_idempotency_key"  # a 400 too
MAX_PROBLEMS_HEADER_BYTES = 8192
MAX_PROBLEM_CHARS = 500


@dataclass(frozen=True)
class Rejection:
    status: int
    problems: list[str]
    body: bytes
    truncated: bool = False
    position: int | None = None  # the event's position in a batch
    named_reason: str | None = None  # a reason other than the status's usual one

    @property
    def reason(self) -> str:
        return self.named_reason or REASONS[self.status]


def _problems_header(problems: list[str]) -> bytes:
    """The problems as a JSON array, shortened to fit a header (a field name can be long)."""
    shown = [p if len(p) <= MAX_PROBLEM_CHARS else p[:MAX_PROBLEM_CHARS] + "..." for p in problems]
    while True:
        hidden = len(problems) - len(shown)
        encoded = json.dumps(shown + ([f"... and {hidden} more"] if hidden else [])).encode()
        if len(encoded) <= MAX_PROBLEMS_HEADER_BYTES or not shown:
            return encoded
        shown.pop()


def dead_letter_record(rejection: Rejection, metadata: RecordMetadata, endpoint: str) -> OutgoingRecord:
    headers = metadata.headers() + [
        ("dlq_status", str(rejection.status).encode()),
        ("dlq_reason", rejection.reason.encode()),
        ("dlq_problems", _problems_header(rejection.problems)),
        ("dlq_endpoint", endpoint.encode()),
        ("dlq_truncated", b"true" if rejection.truncated else b"false"),
    ]
    if rejection.position is not None:
        headers.append(("dlq_position", str(rejection.position).encode()))
    return OutgoingRecord(DLQ_TOPIC, key=None, value=rejection.body, headers=headers)


def parse_dead_letter(headers: list[tuple[str, bytes]], value: bytes) -> dict:
    """A dead-letter record as a readable dict (metadata, status, reason, problems, body)."""
    fields = {name: raw.decode() for name, raw in headers}
    metadata = RecordMetadata.from_headers(headers)
    return {
        "event_id": metadata.event_id,
        "event_type": metadata.event_type,
        "received_at": metadata.received_at,
        "status": int(fields["dlq_status"]),
        "reason": fields["dlq_reason"],
        "problems": json.loads(fields["dlq_problems"]),
        "endpoint": fields["dlq_endpoint"],
        "truncated": fields["dlq_truncated"] == "true",
        "position": int(fields["dlq_position"]) if "dlq_position" in fields else None,
        "body": value,
    }
