"""The event schema: the one definition of pin, geo and user events.

The API validates against it, the emulator generates from it, the OpenAPI document is built
from it, and the batch and streaming Spark jobs derive their raw-event schemas from it.
The facts come from the data contract (docs/DATA_CONTRACT.md summarises them): dirty values
such as "User Info Error" or "5k" are valid input; cleaning happens later, in Spark.

Each field also carries its *rules* (`Rule`), in two stages:

- EDGE rules say what can never be right (coordinates off the globe, an impossible age, a time
  far in the future, an empty key). The API refuses an event that breaks one (422, naming the
  field and the rule), and cleaning quarantines a record that breaks one (it can only have come
  from another writer).
- CLEANING rules say what the contract does not accept although it could be right (a pin id that
  is no UUID, an age under Pinterest's minimum). The API accepts such an event; the clean steps of
  both pipelines (pinterest_common.quarantine) quarantine it with the rule's name as the reason.
  They can be relaxed by name (PINTEREST_RELAXED_RULES), and `make requarantine` then re-cleans
  what they quarantined.

`validate` applies the types and the EDGE rules in Python (the API); pinterest_common.quarantine
applies the same types and rules, EDGE and CLEANING, as Spark column expressions.
A new category is new data, not an error: no rule refuses it (a warning check reports it).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

SCHEMA_VERSION = 1

# The three datetime formats the source system emits; all are valid input.
DATETIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y:%m:%d %H:%M:%S")

CATEGORIES = (
    "art",
    "beauty",
    "christmas",
    "diy-and-crafts",
    "education",
    "event-planning",
    "finance",
    "home-decor",
    "mens-fashion",
    "quotes",
    "tattoos",
    "travel",
    "vehicles",
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

# ASCII digits only, as in the clean steps' Spark (Java) regular expressions.
INTEGER_STRING = re.compile(r"^[+-]?\d+$", re.ASCII)
NUMBER_STRING = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$", re.ASCII)


EDGE, CLEANING = "edge", "cleaning"
# A datetime may lie this far after its receipt before the API refuses it (clocks disagree).
EDGE_FUTURE_TOLERANCE_S = 86_400
# Pinterest went live in 2010: a post or joining time before it cannot be one of its events.
PINTEREST_LAUNCH = "2010-01-01"
# Row ids are 32-bit integers in the cleaned tables.
MAX_ROW_ID = 2**31 - 1
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


@dataclass(frozen=True)
class Rule:
    """One rule of the contract on a field's value, checked once the value has the right type.

    Exactly one kind of condition is set: `minimum`/`maximum` (numbers, inclusive), `one_of`
    (integers), `not_blank` or `pattern` (text: a regular expression the text stripped of
    surrounding whitespace matches; blank text passes, it becomes NULL), `earliest` (a datetime
    on or after this ISO date) or `max_ahead_s` (a datetime at most this many seconds after the
    event's receipt). `name` is the rule's name in a 422 answer and the quarantine reason.
    """

    name: str
    stage: str  # EDGE or CLEANING
    description: str
    minimum: float | None = None
    maximum: float | None = None
    one_of: tuple[int, ...] | None = None
    not_blank: bool = False
    pattern: str | None = None
    earliest: str | None = None
    max_ahead_s: int | None = None


@dataclass(frozen=True)
class Field:
    name: str
    kind: str
    description: str
    rules: tuple[Rule, ...] = ()


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
        Field(
            "index",
            INTEGER,
            "row id; joins to geo.ind and user.ind",
            (Rule("index_in_range", EDGE, f"a row id from 0 to {MAX_ROW_ID}", minimum=0, maximum=MAX_ROW_ID),),
        ),
        Field(
            "unique_id",
            STRING,
            "UUID of the pin; the same pin may be posted again",
            (
                Rule("unique_id_not_blank", EDGE, "the pin's key must not be blank", not_blank=True),
                Rule(
                    "unique_id_is_uuid",
                    CLEANING,
                    "the pin's key is a UUID (8-4-4-4-12 hex digits)",
                    pattern=UUID_PATTERN,
                ),
            ),
        ),
        Field("title", STRING, "sentinel: 'No Title Data Available'"),
        Field(
            "description",
            STRING,
            "sentinels: 'No description available Story format', 'No description available', 'Untitled'",
        ),
        Field("poster_name", STRING, "sentinel: 'User Info Error'"),
        Field("follower_count", STRING, "'124k', '8M', '1.2k', '3B', plain digits, or 'User Info Error'"),
        Field("tag_list", STRING, "comma-joined; sentinel 'N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e'"),
        Field("is_image_or_video", STRING, "'image', 'video' or 'multi-video(story page format)'"),
        Field("image_src", STRING, "URL; sentinel 'Image src error.'"),
        Field(
            "downloaded",
            INTEGER,
            "0 or 1",
            (Rule("downloaded_is_flag", CLEANING, "downloaded is 0 or 1", one_of=(0, 1)),),
        ),
        Field(
            "save_location",
            STRING,
            "'Local save in /data/<category>'",
            (
                Rule(
                    "save_location_is_path",
                    CLEANING,
                    "save_location is 'Local save in /data/...' (or '/data/...')",
                    pattern=r"^(Local save in\s*)?/data/",
                ),
            ),
        ),
        Field("category", STRING, "one of the 13 categories"),
    ),
)

GEO = EventType(
    name="geo",
    topic="pinterest.geo",
    key_field="ind",
    join_field="ind",
    fields=(
        Field(
            "ind",
            INTEGER,
            "joins to pin.index",
            (Rule("ind_in_range", EDGE, f"a row id from 0 to {MAX_ROW_ID}", minimum=0, maximum=MAX_ROW_ID),),
        ),
        Field(
            "timestamp",
            DATETIME,
            "post time of the pin, in one of the three datetime formats",
            (
                Rule(
                    "timestamp_not_far_future",
                    EDGE,
                    "at most a day after the event's receipt",
                    max_ahead_s=EDGE_FUTURE_TOLERANCE_S,
                ),
                Rule(
                    "timestamp_not_before_launch",
                    CLEANING,
                    f"on or after {PINTEREST_LAUNCH}",
                    earliest=PINTEREST_LAUNCH,
                ),
                Rule("timestamp_not_after_receipt", CLEANING, "not after the event's receipt", max_ahead_s=0),
            ),
        ),
        Field(
            "latitude",
            NUMBER,
            "degrees",
            (Rule("latitude_in_range", EDGE, "between -90 and 90", minimum=-90, maximum=90),),
        ),
        Field(
            "longitude",
            NUMBER,
            "degrees",
            (Rule("longitude_in_range", EDGE, "between -180 and 180", minimum=-180, maximum=180),),
        ),
        Field("country", STRING, "Faker-style country name"),
    ),
)

USER = EventType(
    name="user",
    topic="pinterest.user",
    key_field="ind",
    join_field="ind",
    fields=(
        Field(
            "ind",
            INTEGER,
            "joins to pin.index",
            (Rule("ind_in_range", EDGE, f"a row id from 0 to {MAX_ROW_ID}", minimum=0, maximum=MAX_ROW_ID),),
        ),
        Field("first_name", STRING, ""),
        Field("last_name", STRING, ""),
        Field(
            "age",
            INTEGER,
            "years",
            (
                Rule("age_plausible", EDGE, "between 0 and 120 years", minimum=0, maximum=120),
                Rule("age_at_least_13", CLEANING, "13 or older (Pinterest's minimum age)", minimum=13),
            ),
        ),
        Field(
            "date_joined",
            DATETIME,
            "in one of the three datetime formats",
            (
                Rule(
                    "date_joined_not_far_future",
                    EDGE,
                    "at most a day after the event's receipt",
                    max_ahead_s=EDGE_FUTURE_TOLERANCE_S,
                ),
                Rule(
                    "date_joined_not_before_launch",
                    CLEANING,
                    f"on or after {PINTEREST_LAUNCH}",
                    earliest=PINTEREST_LAUNCH,
                ),
                Rule("date_joined_not_after_receipt", CLEANING, "not after the event's receipt", max_ahead_s=0),
            ),
        ),
    ),
)

EVENT_TYPES: dict[str, EventType] = {e.name: e for e in (PIN, GEO, USER)}
DLQ_TOPIC = "pinterest.dlq"

# Every rule by name (names are unique across event types), and the ones that may be relaxed.
RULES: dict[str, Rule] = {rule.name: rule for et in EVENT_TYPES.values() for f in et.fields for rule in f.rules}
RELAXABLE_RULES = tuple(name for name, rule in RULES.items() if rule.stage == CLEANING)


def check_relaxable(names: tuple[str, ...]) -> tuple[str, ...]:
    """`names` when each is a CLEANING rule (EDGE rules cannot be relaxed); else ValueError."""
    wrong = [name for name in names if name not in RELAXABLE_RULES]
    if wrong:
        raise ValueError(
            f"PINTEREST_RELAXED_RULES: {', '.join(wrong)} is no cleaning rule; "
            f"cleaning rules: {', '.join(RELAXABLE_RULES)}"
        )
    return names


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
    ok = (
        isinstance(value, int)
        or (isinstance(value, float) and math.isfinite(value))
        or (isinstance(value, str) and bool(NUMBER_STRING.match(value.strip())))
    )
    return None if ok else f"'{field.name}' must be a number or a numeric string"


def rule_broken(rule: Rule, kind: str, value: Any, received: datetime) -> bool:
    """Whether `value` (of the field's `kind`, already type-valid) breaks `rule` for an event
    received at `received` (naive UTC)."""
    if kind == STRING:
        text = value.strip()
        if rule.not_blank:
            return text == ""
        return text != "" and re.search(rule.pattern or "", text) is None
    if kind == DATETIME:
        moment = parse_datetime(value)
        assert moment is not None  # type-valid: in one of the formats
        if rule.earliest is not None and moment < datetime.fromisoformat(rule.earliest):
            return True
        return rule.max_ahead_s is not None and (moment - received).total_seconds() > rule.max_ahead_s
    # str.strip() removes what float() may not (\x1c-\x1f); a JSON integer is compared exactly (no float:
    # one beyond a double's range would overflow).
    number = float(value.strip()) if isinstance(value, str) else value
    if rule.one_of is not None and number not in rule.one_of:
        return True
    return (rule.minimum is not None and number < rule.minimum) or (rule.maximum is not None and number > rule.maximum)


def validate(event_type: EventType, event: Any, received: datetime | None = None) -> list[str]:
    """Every problem with `event` as a `event_type` event received at `received` (naive UTC, the
    moment its received_at header will name; default now): wrong types, then broken EDGE rules, each naming its field and rule. An empty
    list means the API accepts it."""
    if not isinstance(event, dict):
        return [f"a {event_type.name} event must be a JSON object, got {type(event).__name__}"]
    problems = [f"missing field '{name}'" for name in event_type.field_names if name not in event]
    problems += [f"unknown field '{name}'" for name in event if name not in event_type.field_names]
    received = received or datetime.now(UTC).replace(tzinfo=None)
    for field in event_type.fields:
        if field.name not in event:
            continue
        error = _kind_error(field, event[field.name])
        if error:
            problems.append(error)
            continue
        problems += [
            f"'{field.name}' breaks rule {rule.name}: {rule.description} (got {event[field.name]!r})"
            for rule in field.rules
            if rule.stage == EDGE and rule_broken(rule, field.kind, event[field.name], received)
        ]
    return problems


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
