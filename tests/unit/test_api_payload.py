"""Body parsing keeps each event's exact bytes and refuses ambiguous JSON."""

from __future__ import annotations

import re

import pytest

from ingestion_api.payload import MalformedJSON, parse_document, split_array


def test_a_document_keeps_its_bytes_without_the_surrounding_whitespace():
    document = parse_document(b' \n{"a": "\\u00e9", "b" : [1, 2.50]}\t')
    assert document.value == {"a": "é", "b": [1, 2.5]}
    assert document.raw == b'{"a": "\\u00e9", "b" : [1, 2.50]}'


def test_array_elements_keep_their_exact_bytes():
    body = '[ {"x": [1, {"y": "]"}]} ,\n"s,t" ,3.0e1,{"z":"ë 🎨"}]'.encode()
    elements = split_array(parse_document(body))
    assert [e.raw for e in elements] == [b'{"x": [1, {"y": "]"}]}', b'"s,t"', b"3.0e1", '{"z":"ë 🎨"}'.encode()]
    assert [e.value for e in elements] == [{"x": [1, {"y": "]"}]}, "s,t", 30.0, {"z": "ë 🎨"}]
    assert split_array(parse_document(b"[ ]")) == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"a": 1} {"b": 2}', "extra data"),
        (b'{"a": {"b": 1, "b": 1}}', "repeated field(s): b"),
        (b'[Infinity]', "Infinity is not valid JSON"),
        (b'{"a": -NaN}', "line 1 column 7"),
        (b"[" * 100_000 + b"]" * 100_000, "recursion"),
        (b'{"n": ' + b"9" * 5000 + b"}", "digits"),
        (b"\xc3\x28", "not UTF-8"),
        (b"   ", "empty"),
    ],
)
def test_ambiguous_or_broken_json_is_malformed(body, message):
    with pytest.raises(MalformedJSON, match=re.escape(message)):
        parse_document(body)


def test_surrogate_escapes_must_pair_into_a_character():
    assert parse_document(b'"\\ud83c\\udfa8"').value == "🎨"
    for body in (b'{"\\ud800": 1}', b'["x\\udfff"]'):
        with pytest.raises(MalformedJSON, match="unpaired UTF-16 surrogate"):
            parse_document(body)
