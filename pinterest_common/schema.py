"""The event schema: the one definition of pin, geo and user events.

The API validates against it, the emulator generates from it, the OpenAPI document is built
from it, and the batch and streaming Spark jobs derive their raw-event schemas from it.
The facts come from the data contract (docs/DATA_CONTRACT.md summarises them): dirty values
such as "User Info Error" or "5k" are valid input; cleaning happens later, in Spark.
`value_problem` says why a Kafka record value is not a valid event, for the consumers of the
topics: the batch drain dead-letters such records, the streaming job stores them as rejected.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

SCHEMA_VERSION = 1

# The three datetime formats the source system emits; all are valid input.
DATETIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y:%m:%d %H:%M:%S")

CATEGORIES = (
    "art", "beauty", "christmas", "diy-and-crafts", "education", "event-planning", "finance",
    "home-decor", "mens-fashion", "quotes", "tattoos", "travel", "vehicles",
)

# The placeholders the source system writes instead of a value, per pin field. They are valid
# input; cleaning turns them into NULL. Geo and user events have none.
PIN_SENTINELS: dict[str, tuple[str, ...]] = {
    "title": ("No Title Data Available",),
    "description": ("No description available Story format", "No description available", "Untitled"),
    "poster_name": ("User Info Error",),
    "follower_count": ("User Info Error",),
    "tag_list": ("N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e",),
    "image_src": ("Image src error.",),
}

# Field kinds. "integer" and "number" accept a JSON number or a numeric string.
INTEGER, NUMBER, STRING, DATETIME = "integer", "number", "string", "datetime"

INTEGER_STRING = re.compile(r"^[+-]?\d+$")
NUMBER_STRING = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


@dataclass(frozen=True)
class Field:
    name: str
    kind: str
    description: str


@dataclass(frozen=True)
class EventType:
    name: str
    topic: str
    key_field: str  # the Kafka record key
    join_field: str  # the field that joins a triple (pin calls it `index`)
    fields: tuple[Field, ...]

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)


PIN = EventType(
    name="pin",
    topic="pinterest.pin",
    key_field="unique_id",
    join_field="index",
    fields=(
        Field("index", INTEGER, "row id; joins to geo.ind and user.ind"),
        Field("unique_id", STRING, "UUID of the pin; the same pin may be posted again"),
        Field("title", STRING, "sentinel: 'No Title Data Available'"),
        Field("description", STRING, "sentinels: 'No description available Story format', 'No description available', 'Untitled'"),
        Field("poster_name", STRING, "sentinel: 'User Info Error'"),
        Field("follower_count", STRING, "'124k', '8M', '1.2k', '3B', plain digits, or 'User Info Error'"),
        Field("tag_list", STRING, "comma-joined; sentinel 'N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e'"),
        Field("is_image_or_video", STRING, "'image', 'video' or 'multi-video(story page format)'"),
        Field("image_src", STRING, "URL; sentinel 'Image src error.'"),
        Field("downloaded", INTEGER, "0 or 1"),
        Field("save_location", STRING, "'Local save in /data/<category>'"),
        Field("category", STRING, "one of the 13 categories"),
    ),
)

GEO = EventType(
    name="geo",
    topic="pinterest.geo",
    key_field="ind",
    join_field="ind",
    fields=(
        Field("ind", INTEGER, "joins to pin.index"),
        Field("timestamp", DATETIME, "post time of the pin, in one of the three datetime formats"),
        Field("latitude", NUMBER, "degrees"),
        Field("longitude", NUMBER, "degrees"),
        Field("country", STRING, "Faker-style country name"),
    ),
)

USER = EventType(
    name="user",
    topic="pinterest.user",
    key_field="ind",
    join_field="ind",
    fields=(
        Field("ind", INTEGER, "joins to pin.index"),
        Field("first_name", STRING, ""),
        Field("last_name", STRING, ""),
        Field("age", INTEGER, "years"),
        Field("date_joined", DATETIME, "in one of the three datetime formats"),
    ),
)

EVENT_TYPES: dict[str, EventType] = {e.name: e for e in (PIN, GEO, USER)}
DLQ_TOPIC = "pinterest.dlq"


def parse_datetime(value: str) -> datetime | None:
    """The datetime in one of the three source formats, or None."""
    for fmt in DATETIME_FORMATS:
        try:
            return datetime.strptime(value, fmt)
        except ValueError:
            continue
    return None


def _kind_error(field: Field, value: Any) -> str | None:
    if field.kind == STRING:
        return None if isinstance(value, str) else f"'{field.name}' must be a string"
    if field.kind == DATETIME:
        if not isinstance(value, str):
            return f"'{field.name}' must be a datetime string"
        if parse_datetime(value) is None:
            return f"'{field.name}' must match one of {', '.join(DATETIME_FORMATS)}"
        return None
    # integer / number: a JSON number (not a boolean) or a numeric string
    if isinstance(value, bool):
        return f"'{field.name}' must be {'an integer' if field.kind == INTEGER else 'a number'}"
    if field.kind == INTEGER:
        ok = (isinstance(value, int)) or (isinstance(value, str) and bool(INTEGER_STRING.match(value.strip())))
        return None if ok else f"'{field.name}' must be an integer or an integer string"
    ok = (isinstance(value, (int, float)) and math.isfinite(value)) or (
        isinstance(value, str) and bool(NUMBER_STRING.match(value.strip()))
    )
    return None if ok else f"'{field.name}' must be a number or a numeric string"


def validate(event_type: EventType, event: Any) -> list[str]:
    """Every problem with `event` as a `event_type` event; an empty list means valid."""
    if not isinstance(event, dict):
        return [f"a {event_type.name} event must be a JSON object, got {type(event).__name__}"]
    problems = [f"missing field '{name}'" for name in event_type.field_names if name not in event]
    problems += [f"unknown field '{name}'" for name in event if name not in event_type.field_names]
    for field in event_type.fields:
        if field.name in event:
            error = _kind_error(field, event[field.name])
            if error:
                problems.append(error)
    return problems


def value_problem(event_type: EventType, value: bytes | bytearray | str | None) -> str | None:
    """Why the Kafka record value `value` is not a valid `event_type` event, as a dead-letter
    reason (`no value (tombstone)`, `value is not UTF-8`, `value is not JSON: ...`,
    `schema-invalid: ...`); None when it is one. Text is taken as decoded already."""
    if value is None:
        return "no value (tombstone)"
    if not isinstance(value, str):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            return "value is not UTF-8"
    try:
        event = json.loads(value)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deeply
        return f"value is not JSON: {exc}"
    problems = validate(event_type, event)
    return "schema-invalid: " + "; ".join(problems) if problems else None


def record_key(event_type: EventType, event: dict) -> bytes:
    """The Kafka record key: `unique_id` for pins, `ind` for geo and user."""
    return str(event[event_type.key_field]).encode()


def spark_raw_schema(event_type: EventType):
    """The Spark schema for reading raw events: every field as a string, exactly as sent.

    Numbers arrive as numbers or numeric strings; reading both as text keeps the raw value and
    leaves typing to the cleaning module.
    """
    from pyspark.sql.types import StringType, StructField, StructType

    return StructType([StructField(name, StringType(), True) for name in event_type.field_names])
