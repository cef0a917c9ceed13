"""Counting a ledger against a store by client event (the demo and the fault suite)."""

import json
from collections import Counter

from devstack.reconcile import ClientCount, count_clients, read_client_ledger


def _line(client_id, outcome, attempts=1, event_type="pin", event_id=None):
    entry = {
        "client_event_id": client_id,
        "event_type": event_type,
        "outcome": outcome,
        "status": {"acknowledged": 202, "rejected": 400, "failed": 503}[outcome],
        "attempts": attempts,
    }
    if outcome == "acknowledged":
        entry.update(event_id=event_id or f"id-{client_id}", topic=f"pinterest.{event_type}", partition=0, offset=0)
    return json.dumps(entry) + "\n"


def ledger(tmp_path):
    path = tmp_path / "ledger.jsonl"
    path.write_text(
        _line("a", "acknowledged")
        + _line("b", "acknowledged", attempts=3)
        + _line("c", "acknowledged", event_type="geo")
        + _line("r", "rejected")
        + _line("f", "failed", attempts=61)
        + _line("g", "failed", attempts=61)
    )
    return read_client_ledger([path])


def test_the_client_ledger_keeps_every_event_tried_by_type_and_client_id(tmp_path):
    read = ledger(tmp_path)
    assert (read.tried, read.acknowledged, read.retried) == (6, 3, 3)
    assert read.keys("acknowledged") == [("pin", "a"), ("pin", "b"), ("geo", "c")]
    assert read.keys("failed") == [("pin", "f"), ("pin", "g")]


def test_an_event_settled_twice_is_acknowledged_if_it_once_was(tmp_path):
    path = tmp_path / "ledger.jsonl"
    path.write_text(_line("a", "acknowledged", attempts=2) + _line("a", "failed", attempts=1))
    read = read_client_ledger([path])
    assert read.keys("acknowledged") == [("pin", "a")] and read.attempts[("pin", "a")] == 3


def test_copies_are_allowed_where_the_store_keeps_every_copy(tmp_path):
    store = Counter({("pin", "a"): 1, ("pin", "b"): 3, ("geo", "c"): 1, ("pin", "f"): 2, ("pin", "z"): 9})
    kafka = count_clients("Kafka", ledger(tmp_path), store, exact=False)
    assert kafka == ClientCount(
        "Kafka",
        False,
        acknowledged=3,
        found=3,
        duplicated=1,
        copies=2,
        unacknowledged_found=1,
        unacknowledged_duplicated=1,
    )
    assert kafka.ok and kafka.problems() == []
    assert "2 extra copies (1 events)" in kafka.line() and kafka.line().endswith("ok")


def test_an_exact_store_fails_on_any_event_held_twice_acknowledged_or_not(tmp_path):
    store = Counter({("pin", "a"): 1, ("pin", "b"): 2, ("geo", "c"): 1, ("pin", "f"): 2})
    streaming = count_clients("streaming", ledger(tmp_path), store, exact=True)
    assert streaming.problems() == [
        "streaming: 1 acknowledged events held more than once",
        "streaming: 1 unacknowledged events held more than once",
    ]
    assert streaming.line().endswith("MISMATCH")
    once = Counter({("pin", "a"): 1, ("pin", "b"): 1, ("geo", "c"): 1, ("pin", "f"): 1})
    passed = count_clients("streaming", ledger(tmp_path), once, exact=True)
    assert passed.ok and passed.unacknowledged_found == 1  # an unacknowledged event arrived once: reported


def test_the_event_type_is_part_of_the_key(tmp_path):
    # ("geo", "a") is another event than ("pin", "a"): the pin is lost
    stage = count_clients(
        "Kafka", ledger(tmp_path), Counter({("geo", "a"): 1, ("pin", "b"): 1, ("geo", "c"): 1}), exact=False
    )
    assert stage.lost == 1 and stage.problems() == ["Kafka: 1 acknowledged events lost"]


def test_a_rejected_event_in_any_store_is_a_problem(tmp_path):
    store = Counter({("pin", "a"): 1, ("pin", "b"): 1, ("geo", "c"): 1, ("pin", "r"): 1})
    stage = count_clients("raw lake", ledger(tmp_path), store, exact=False)
    assert stage.problems() == ["raw lake: 1 events the API rejected are held"]


def test_the_raw_lake_may_not_hold_more_copies_than_kafka(tmp_path):
    kafka = Counter({("pin", "a"): 1, ("pin", "b"): 2, ("geo", "c"): 1, ("pin", "f"): 1})
    lake = kafka + Counter({("pin", "f"): 1})  # an unacknowledged record landed twice
    assert count_clients("raw lake", ledger(tmp_path), kafka, exact=False, upstream=kafka).ok
    stage = count_clients("raw lake", ledger(tmp_path), lake, exact=False, upstream=kafka)
    assert stage.problems() == ["raw lake: 1 events held more often than upstream"]
