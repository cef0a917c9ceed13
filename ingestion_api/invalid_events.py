"""Invalid events for the emulator's rejected traffic, each with the status the API must give;
and events that break a CLEANING rule of the contract, which the API accepts and cleaning
quarantines (docs/DATA_QUALITY.md)."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

from pinterest_common.schema import DATETIME, EVENT_TYPES, INTEGER, NUMBER

SCHEMA_DEFECTS = ("missing_field", "unknown_field", "wrong_type", "bad_datetime", "not_an_object")
DEFECTS = (*SCHEMA_DEFECTS, "malformed_json")
_WRONG_VALUES = {INTEGER: "12.5x", NUMBER: "north", DATETIME: 20200828}  # strings get a number


@dataclass(frozen=True)
class InvalidEvent:
    body: bytes
    defect: str
    expected_status: int


def encode(event) -> bytes:
    """An event's JSON body as the emulator sends it (UTF-8, emoji kept)."""
    return json.dumps(event, ensure_ascii=False).encode()


def make_invalid(event_type: str, event: dict, rng: random.Random, allow_malformed: bool = True) -> InvalidEvent:
    """A broken copy of `event`: one defect, drawn from DEFECTS (malformed JSON only if allowed)."""
    defect = rng.choice(DEFECTS if allow_malformed else SCHEMA_DEFECTS)
    fields = EVENT_TYPES[event_type].fields
    broken = dict(event)
    if defect == "bad_datetime" and not any(f.kind == DATETIME for f in fields):
        defect = "wrong_type"
    if defect == "missing_field":
        del broken[rng.choice(fields).name]
    elif defect == "unknown_field":
        broken["clicks"] = rng.randint(0, 1000)
    elif defect == "wrong_type":
        field = rng.choice(fields)
        broken[field.name] = _WRONG_VALUES.get(field.kind, rng.randint(1, 99))
    elif defect == "bad_datetime":
        field = rng.choice([f for f in fields if f.kind == DATETIME])
        broken[field.name] = "28/08/2020 03:52"
    elif defect == "not_an_object":
        return InvalidEvent(encode(list(event.values())), defect, 422)
    else:
        text = encode(event)
        return InvalidEvent(text[: rng.randint(1, len(text) - 1)], defect, 400)
    return InvalidEvent(encode(broken), defect, 422)


# One change per event type that breaks a CLEANING rule (the API accepts it): the rule's name.
QUARANTINABLE = {
    "pin": (("unique_id", "pin-{n}", "unique_id_is_uuid"), ("downloaded", 2, "downloaded_is_flag")),
    "geo": (("timestamp", "2009-{m:02d}-01 12:00:00", "timestamp_not_before_launch"),),
    "user": (
        ("age", 12, "age_at_least_13"),
        ("date_joined", "2005-{m:02d}-01 12:00:00", "date_joined_not_before_launch"),
    ),
}


def make_quarantinable(event_type: str, event: dict, rng: random.Random) -> InvalidEvent:
    """A copy of `event` that breaks one CLEANING rule (its `defect`): answered 202, quarantined later."""
    field, value, rule = rng.choice(QUARANTINABLE[event_type])
    if isinstance(value, str):
        value = value.format(n=rng.randint(1, 10**9), m=rng.randint(1, 12))
    return InvalidEvent(encode({**event, field: value}), rule, 202)
