"""The emulator against a stack's real gunicorn API and Kafka: every event answered 2xx is in
Kafka exactly once, and the topics hold nothing else (the module's own stack, so that every
record in them is one the emulator posted)."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import requests

from ingestion_api.traffic import Emulator, EmulatorOptions
from pinterest_common.kafka_admin import EVENT_TOPICS
from pinterest_common.kafka_io import end_offsets, read_to_end
from pinterest_common.records import RecordMetadata

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def gunicorn_url(isolated_stack):
    """The API that the stack serves with gunicorn, as `make up` does (here the module's own)."""
    url = f"http://127.0.0.1:{isolated_stack.api_port}"
    assert requests.get(f"{url}/healthz", timeout=10).status_code == 200
    return url


@pytest.mark.parametrize(("batch_size", "count"), [(1, 600), (50, 3000)])
def test_every_acknowledged_event_is_in_kafka_exactly_once(isolated_stack, gunicorn_url, tmp_path, batch_size, count):
    ledger = tmp_path / "ledger.jsonl"
    start = end_offsets(isolated_stack.kafka, EVENT_TOPICS)
    options = EmulatorOptions(
        url=gunicorn_url,
        count=count,
        seed=batch_size,
        batch_size=batch_size,
        concurrency=8,
        invalid_share=0.05,
        replay_share=0.1,
        ledger=ledger,
        api_key=isolated_stack.api_keys[0] if isolated_stack.api_keys else None,
    )
    summary = Emulator(options, progress=None).run()
    print(f"\nemulate batch_size={batch_size}: {summary.line()}")

    assert summary.sent == 3 * count and (summary.failed, summary.unexpected) == (0, 0)
    assert summary.accepted + summary.rejected == summary.sent
    assert summary.rejected == summary.intended_invalid > 0
    tried = [json.loads(line) for line in ledger.read_text().splitlines()]
    assert len(tried) == summary.sent == len({entry["client_event_id"] for entry in tried})
    entries = [entry for entry in tried if entry["outcome"] == "acknowledged"]
    ids = [entry["event_id"] for entry in entries]
    assert len(set(ids)) == len(ids) == summary.accepted

    records = read_to_end(isolated_stack.kafka, start)
    found = Counter(RecordMetadata.from_headers(r.headers).event_id for r in records)
    # Each acknowledged event once, and no other record: a retried post stored under a second
    # event_id would be one record too many.
    assert found == Counter(ids)
    where = {RecordMetadata.from_headers(r.headers).event_id: r for r in records}
    for entry in entries:
        record = where[entry["event_id"]]
        assert (record.topic, record.partition, record.offset) == (entry["topic"], entry["partition"], entry["offset"])
        assert RecordMetadata.from_headers(record.headers).event_type == entry["event_type"]
        assert RecordMetadata.from_headers(record.headers).client_event_id == entry["client_event_id"]
