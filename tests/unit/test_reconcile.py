"""Counting a ledger against a store: what is lost, what is duplicated."""

import json
from collections import Counter

from devstack.reconcile import StageCount, count_stage, read_ledger


def test_lost_and_duplicated_events_are_counted_and_extra_ones_ignored():
    store = Counter({"a": 1, "b": 2, "z": 5})
    stage = count_stage("Kafka", ["a", "b", "c"], store)
    assert stage == StageCount("Kafka", acknowledged=3, found=2, duplicated=1)
    assert stage.lost == 1 and not stage.ok
    assert "1 lost, 1 duplicated  MISMATCH" in stage.line()
    assert count_stage("lake", ["a"], store).ok


def test_the_ledger_is_read_from_the_emulator_lines(tmp_path):
    path = tmp_path / "ledger.jsonl"
    path.write_text("".join(json.dumps({"event_id": e, "event_type": t, "topic": f"pinterest.{t}", "partition": 0,
                                        "offset": i}) + "\n" for i, (e, t) in enumerate([("a", "pin"), ("b", "geo")])))
    assert read_ledger([path]) == {"a": "pin", "b": "geo"}
