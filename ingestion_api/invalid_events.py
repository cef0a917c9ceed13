"""Invalid events for the emulator's rejected traffic, each with the status the API must give."""

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
