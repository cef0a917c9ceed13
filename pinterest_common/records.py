"""The Kafka record format: the event exactly as received as the value, metadata in headers.

Every record the API writes to `pinterest.pin|geo|user` carries these headers (UTF-8 bytes):

| header           | value                                               |
|------------------|-----------------------------------------------------|
| `event_id`       | UUID4 assigned by the API                           |
| `event_type`     | `pin`, `geo` or `user`                              |
| `received_at`    | UTC ISO-8601 with microseconds and `Z`              |
| `schema_version` | `pinterest_common.schema.SCHEMA_VERSION`            |
| `client_event_id`| the client's name for the event (`Idempotency-Key`); the event_id when the client gave none |

The key is `unique_id` for pins and `ind` for geo and user events. A client that retries sends
the same client_event_id again: every store after the raw lake keeps the first copy of each
(event type, client_event_id) (`dedup_id`), the raw lake keeps every copy, as the topic does.
Records from before client ids have the four other headers only; their event_id stands in.

Where a consumer keeps the bytes of a record that is no valid event (the raw lake, the streaming
job's `quarantined_events`), they are text when UTF-8 and base64 otherwise (`utf8_text`,
`base64_if_not_utf8`).
"""

from __future__ import annotations

import base64
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from .schema import SCHEMA_VERSION

EVENT_ID, EVENT_TYPE, RECEIVED_AT, SCHEMA_VERSION_HEADER = "event_id", "event_type", "received_at", "schema_version"
CLIENT_EVENT_ID = "client_event_id"
CLIENT_EVENT_ID_MAX_LENGTH = 255
_CLIENT_EVENT_ID = re.compile(rf"[\x21-\x7e]{{1,{CLIENT_EVENT_ID_MAX_LENGTH}}}")


def client_event_id_problem(value: object) -> str | None:
    """Why `value` cannot name an event (None when it can): 1 to 255 visible ASCII characters."""
    if not isinstance(value, str):
        return f"must be a string, got {type(value).__name__}"
    if not _CLIENT_EVENT_ID.fullmatch(value):
        return f"must be 1 to {CLIENT_EVENT_ID_MAX_LENGTH} visible ASCII characters (no spaces)"
    return None


@dataclass(frozen=True)
class RecordMetadata:
    event_id: str
    event_type: str
    received_at: str
    schema_version: int = SCHEMA_VERSION
    client_event_id: str | None = None  # None: the event_id stands in

    @classmethod
    def new(cls, event_type: str, now: datetime | None = None, client_event_id: str | None = None) -> RecordMetadata:
        event_id = str(uuid.uuid4())
        return cls(
            event_id,
            event_type,
            format_received_at(now or datetime.now(UTC)),
            client_event_id=client_event_id or event_id,
        )

    @property
    def dedup_id(self) -> str:
        """What every store after the raw lake deduplicates on (with the event type)."""
        return self.client_event_id or self.event_id

    def headers(self) -> list[tuple[str, bytes]]:
        headers = [
            (EVENT_ID, self.event_id.encode()),
            (EVENT_TYPE, self.event_type.encode()),
            (RECEIVED_AT, self.received_at.encode()),
            (SCHEMA_VERSION_HEADER, str(self.schema_version).encode()),
        ]
        if self.client_event_id is not None:
            headers.append((CLIENT_EVENT_ID, self.client_event_id.encode()))
        return headers

    @classmethod
    def from_headers(cls, headers) -> RecordMetadata:
        """Parse record headers (a list of (name, bytes)); raises ValueError if one is missing."""
        values = {name: value.decode() for name, value in (headers or []) if value is not None}
        missing = [h for h in (EVENT_ID, EVENT_TYPE, RECEIVED_AT, SCHEMA_VERSION_HEADER) if h not in values]
        if missing:
            raise ValueError(f"record lacks header(s): {', '.join(missing)}")
        return cls(
            values[EVENT_ID],
            values[EVENT_TYPE],
            values[RECEIVED_AT],
            int(values[SCHEMA_VERSION_HEADER]),
            values.get(CLIENT_EVENT_ID),
        )


def format_received_at(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_received_at(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def utf8_text(value: bytes | bytearray | None) -> str | None:
    """`value` decoded as UTF-8; None when absent or not UTF-8."""
    if value is None:
        return None
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return None


def base64_if_not_utf8(value: bytes | bytearray | None) -> str | None:
    """`value` in base64 when it is bytes that are not UTF-8 (`utf8_text` is then None), else None."""
    if value is None or utf8_text(value) is not None:
        return None
    return base64.b64encode(value).decode("ascii")
