"""Request bodies: JSON parsing that keeps each event's exact bytes.

The Kafka value is the event exactly as received, so parsing returns, with every decoded
event, the slice of the body it came from. Non-standard JSON (NaN, Infinity), objects
with a repeated field and strings with an unpaired UTF-16 surrogate escape ("\\ud800", which
UTF-8 cannot carry) are malformed: their meaning would depend on the reader.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

_WHITESPACE = " \t\n\r"


class MalformedJSON(ValueError):
    """The body is not one well-formed JSON document."""


@dataclass(frozen=True)
class RawEvent:
    value: Any  # the decoded JSON value
    raw: bytes  # its exact bytes in the request body


def _reject_constant(name: str) -> Any:
    raise MalformedJSON(f"{name} is not valid JSON")


def _unique_fields(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        repeated = sorted(name for name, count in Counter(name for name, _ in pairs).items() if count > 1)
        raise MalformedJSON(f"repeated field(s): {', '.join(repeated)}")
    return obj


_DECODER = json.JSONDecoder(object_pairs_hook=_unique_fields, parse_constant=_reject_constant)


def _decode_text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedJSON(f"the body is not UTF-8 ({exc.reason} at byte {exc.start})") from exc


def _skip_whitespace(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WHITESPACE:
        pos += 1
    return pos


def _decode_at(text: str, pos: int) -> tuple[Any, int]:
    try:
        return _DECODER.raw_decode(text, pos)
    except json.JSONDecodeError as exc:
        raise MalformedJSON(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    except (ValueError, RecursionError) as exc:  # e.g. integers too long, nesting too deep
        raise MalformedJSON(str(exc) or type(exc).__name__) from exc


def parse_document(body: bytes) -> RawEvent:
    """The body as one JSON value, with its bytes (surrounding whitespace removed)."""
    text = _decode_text(body)
    start = _skip_whitespace(text, 0)
    if start == len(text):
        raise MalformedJSON("the body is empty")
    value, end = _decode_at(text, start)
    if _skip_whitespace(text, end) != len(text):
        raise MalformedJSON(f"extra data after the JSON value at character {end}")
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise MalformedJSON("a string holds an unpaired UTF-16 surrogate escape (\\ud800-\\udfff)") from exc
    return RawEvent(value, text[start:end].encode("utf-8"))


def split_array(document: RawEvent) -> list[RawEvent]:
    """The elements of a JSON array document, each with its exact bytes."""
    text = document.raw.decode("utf-8")
    elements: list[RawEvent] = []
    pos = _skip_whitespace(text, 1)
    if text[pos] == "]":
        return elements
    while True:
        value, end = _decode_at(text, pos)
        elements.append(RawEvent(value, text[pos:end].encode("utf-8")))
        pos = _skip_whitespace(text, end)
        if text[pos] == "]":
            return elements
        pos = _skip_whitespace(text, pos + 1)  # the comma; the whole document already parsed


def object_members(document: RawEvent) -> dict[str, RawEvent]:
    """The members of a JSON object document, each value with its exact bytes."""
    text = document.raw.decode("utf-8")
    members: dict[str, RawEvent] = {}
    pos = _skip_whitespace(text, 1)
    if text[pos] == "}":
        return members
    while True:
        name, end = _decode_at(text, pos)
        pos = _skip_whitespace(text, _skip_whitespace(text, end) + 1)  # past the colon
        value, end = _decode_at(text, pos)
        members[name] = RawEvent(value, text[pos:end].encode("utf-8"))
        pos = _skip_whitespace(text, end)
        if text[pos] == "}":
            return members
        pos = _skip_whitespace(text, pos + 1)  # the comma; the whole document already parsed
