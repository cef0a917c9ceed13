"""Request bodies: JSON parsing that keeps each event's exact bytes.

The Kafka value is the event exactly as received, so parsing returns, with every decoded
event, the slice of the body it came from. A batch body is scanned once: each element is
decoded where it stands, and an object whose first member is one of the names asked for (the
batch envelope's) is read member by member, so its members' bytes are known without decoding
them again. Non-standard JSON (NaN, Infinity), objects with a repeated field and strings with an
unpaired UTF-16 surrogate escape ("\\ud800", which UTF-8 cannot carry) are malformed: their
meaning would depend on the reader.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

_WHITESPACE = " \t\n\r"
# A surrogate can only come from an escape (the UTF-8 decoder refuses encoded ones): without one in
# the text, no value needs the (costly) check. `\\ud800`, an escaped backslash, only costs the check.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")
# An object's first member name: as written, and whether it holds an escape (then it is decoded).
_FIRST_NAME = re.compile(r'\{[ \t\n\r]*"([^"\\]*)(["\\])')


class MalformedJSON(ValueError):
    """The body is not one well-formed JSON document."""


class NotAnArray(ValueError):
    """The body is well-formed JSON but not an array; the message is the value's Python type."""


@dataclass(frozen=True)
class RawEvent:
    value: Any  # the decoded JSON value
    raw: bytes  # its exact bytes in the request body
    members: dict[str, RawEvent] | None = None  # an object read member by member: each member's value


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


def _malformed(message: str, text: str, pos: int) -> MalformedJSON:
    error = json.JSONDecodeError(message, text, pos)
    return MalformedJSON(f"{error.msg} at line {error.lineno} column {error.colno}")


def _decode_at(text: str, pos: int) -> tuple[Any, int]:
    try:
        return _DECODER.raw_decode(text, pos)
    except json.JSONDecodeError as exc:
        raise MalformedJSON(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    except (ValueError, RecursionError) as exc:  # e.g. integers too long, nesting too deep
        raise MalformedJSON(str(exc) or type(exc).__name__) from exc


def _check_surrogates(value: Any) -> None:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise MalformedJSON("a string holds an unpaired UTF-16 surrogate escape (\\ud800-\\udfff)") from exc


def _expect(text: str, pos: int, char: str, message: str) -> int:
    """The position after `char` at `pos` and the whitespace after it."""
    if not text.startswith(char, pos):
        raise _malformed(message, text, pos)
    return _skip_whitespace(text, pos + 1)


def parse_document(body: bytes) -> RawEvent:
    """The body as one JSON value, with its bytes (surrounding whitespace removed)."""
    text = _decode_text(body)
    start = _skip_whitespace(text, 0)
    if start == len(text):
        raise MalformedJSON("the body is empty")
    value, end = _decode_at(text, start)
    if _skip_whitespace(text, end) != len(text):
        raise MalformedJSON(f"extra data after the JSON value at character {end}")
    if _SURROGATE_ESCAPE.search(text):
        _check_surrogates(value)
    return RawEvent(value, text[start:end].encode("utf-8"))


def _object_members(text: str, pos: int) -> tuple[dict[str, RawEvent], int]:
    """The members of the object at `pos`, each value decoded once with its bytes; and its end."""
    pairs: list[tuple[str, RawEvent]] = []
    pos = _skip_whitespace(text, pos + 1)
    if not text.startswith("}", pos):
        while True:
            if not text.startswith('"', pos):
                raise _malformed("Expecting property name enclosed in double quotes", text, pos)
            name, pos = _decode_at(text, pos)
            start = _expect(text, _skip_whitespace(text, pos), ":", "Expecting ':' delimiter")
            value, end = _decode_at(text, start)
            pairs.append((name, RawEvent(value, text[start:end].encode("utf-8"))))
            pos = _skip_whitespace(text, end)
            if text.startswith("}", pos):
                break
            pos = _expect(text, pos, ",", "Expecting ',' delimiter")
    return _unique_fields(pairs), pos + 1


def parse_array(body: bytes, member_wise: frozenset[str] = frozenset()) -> list[RawEvent]:
    """The elements of a body that is one JSON array, each decoded once with its exact bytes.
    An object element whose first member is named in `member_wise` also has its `members`.
    NotAnArray when the body is well-formed JSON of another kind."""
    text = _decode_text(body)
    pos = _skip_whitespace(text, 0)
    if not text.startswith("[", pos):
        raise NotAnArray(type(parse_document(body).value).__name__)
    elements: list[RawEvent] = []
    pos = _skip_whitespace(text, pos + 1)
    if not text.startswith("]", pos):
        while True:
            first = _FIRST_NAME.match(text, pos) if member_wise else None
            if first and (first[2] == "\\" or first[1] in member_wise):
                members, end = _object_members(text, pos)
                value = {name: member.value for name, member in members.items()}
            else:
                (value, end), members = _decode_at(text, pos), None
            elements.append(RawEvent(value, text[pos:end].encode("utf-8"), members))
            pos = _skip_whitespace(text, end)
            if text.startswith("]", pos):
                break
            pos = _expect(text, pos, ",", "Expecting ',' delimiter")
    end = pos + 1
    if _skip_whitespace(text, end) != len(text):
        raise MalformedJSON(f"extra data after the JSON value at character {end}")
    if _SURROGATE_ESCAPE.search(text):
        for element in elements:
            _check_surrogates(element.value)
    return elements
