"""Body parsing keeps each event's exact bytes and refuses ambiguous JSON."""

from __future__ import annotations

import re

import pytest

from ingestion_api.payload import MalformedJSON, NotAnArray, parse_array, parse_document


def test_a_document_keeps_its_bytes_without_the_surrounding_whitespace():
    document = parse_document(b' \n{"a": "\\u00e9", "b" : [1, 2.50]}\t')
    assert document.value == {"a": "é", "b": [1, 2.5]}
    assert document.raw == b'{"a": "\\u00e9", "b" : [1, 2.50]}'


def test_array_elements_keep_their_exact_bytes():
    body = '[ {"x": [1, {"y": "]"}]} ,\n"s,t" ,3.0e1,{"z":"ë 🎨"}]'.encode()
    elements = parse_array(body)
    assert [e.raw for e in elements] == [b'{"x": [1, {"y": "]"}]}', b'"s,t"', b"3.0e1", '{"z":"ë 🎨"}'.encode()]
    assert [e.value for e in elements] == [{"x": [1, {"y": "]"}]}, "s,t", 30.0, {"z": "ë 🎨"}]
    assert [e.members for e in elements] == [None] * 4
    assert parse_array(b" [ ] ") == []


def test_objects_named_member_wise_keep_each_members_bytes():
    body = b'[{"k" :"a\\u0062", "e": {"x" : 1.50}}, {"\\u0065": [ ]}, {"other": 1}, {}]'
    first, escaped, other, empty = parse_array(body, member_wise=frozenset({"k", "e"}))
    assert first.value == {"k": "ab", "e": {"x": 1.5}}
    assert first.raw == b'{"k" :"a\\u0062", "e": {"x" : 1.50}}'
    assert {name: (m.value, m.raw) for name, m in first.members.items()} == {
        "k": ("ab", b'"a\\u0062"'),
        "e": ({"x": 1.5}, b'{"x" : 1.50}'),
    }
    assert escaped.value == {"e": []} and escaped.members["e"].raw == b"[ ]"  # an escaped name is decoded
    assert other.members is None and empty.members is None


def test_a_body_that_is_not_an_array_is_named_by_its_type():
    with pytest.raises(NotAnArray, match="dict"):
        parse_array(b' {"a": 1}')
    with pytest.raises(MalformedJSON, match="line 1 column 6"):
        parse_array(b'{"a" 1}')


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"a": 1} {"b": 2}', "extra data"),
        (b'{"a": {"b": 1, "b": 1}}', "repeated field(s): b"),
        (b"[Infinity]", "Infinity is not valid JSON"),
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


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[1 2]", "Expecting ',' delimiter at line 1 column 4"),
        (b"[1,]", "Expecting value at line 1 column 4"),
        (b"[1", "Expecting ',' delimiter at line 1 column 3"),
        (b"[1] 2", "extra data"),
        (b'[{"a": NaN}]', "NaN is not valid JSON"),
        (b'[{"e": 1, "e": 2}]', "repeated field(s): e"),
        (b'[{"e": {"b": 1, "b": 2}}]', "repeated field(s): b"),
        (b'[{"e": 1 "k": 2}]', "Expecting ',' delimiter at line 1 column 10"),
        (b'[{"e" 1}]', "Expecting ':' delimiter at line 1 column 7"),
        (b'[{"e": 1, 2: 3}]', "Expecting property name enclosed in double quotes at line 1 column 11"),
        (b'[{"e": "\\udc00"}]', "unpaired UTF-16 surrogate"),
        (b'[1, {"\\ud800": 1}]', "unpaired UTF-16 surrogate"),
    ],
)
def test_a_broken_batch_is_malformed_whichever_way_its_elements_are_read(body, message):
    with pytest.raises(MalformedJSON, match=re.escape(message)):
        parse_array(body, member_wise=frozenset({"e", "k"}))


def test_surrogate_escapes_must_pair_into_a_character():
    assert parse_document(b'"\\ud83c\\udfa8"').value == "🎨"
    for body in (b'{"\\ud800": 1}', b'["x\\udfff"]'):
        with pytest.raises(MalformedJSON, match="unpaired UTF-16 surrogate"):
            parse_document(body)
