"""The emulator against the stack's real gunicorn API and Kafka: every event answered 2xx is in
Kafka exactly once."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import requests

from ingestion_api.topics import end_offsets, read_records
from ingestion_api.traffic import Emulator, EmulatorOptions
from pinterest_common.kafka_admin import EVENT_TOPICS
from pinterest_common.records import RecordMetadata

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def gunicorn_url(stack_settings):
    """The API that the stack (`make up`, here the session's) serves with gunicorn."""
    url = f"http://127.0.0.1:{stack_settings.api_port}"
    assert requests.get(f"{url}/healthz", timeout=10).status_code == 200
    return url


@pytest.mark.parametrize(("batch_size", "count"), [(1, 600), (50, 3000)])
def test_every_acknowledged_event_is_in_kafka_exactly_once(stack_settings, gunicorn_url, tmp_path, batch_size, count):
    ledger = tmp_path / "ledger.jsonl"
    start = end_offsets(stack_settings, EVENT_TOPICS)
    options = EmulatorOptions(
        url=gunicorn_url, count=count, seed=batch_size, batch_size=batch_size, concurrency=8,
        invalid_share=0.05, replay_share=0.1, ledger=ledger,
        api_key=stack_settings.api_keys[0] if stack_settings.api_keys else None,
    )
    summary = Emulator(options, progress=None).run()
    print(f"\nemulate batch_size={batch_size}: {summary.line()}")

    assert summary.sent == 3 * count and (summary.failed, summary.unexpected) == (0, 0)
    assert summary.rejected == summary.intended_invalid > 0
    entries = [json.loads(line) for line in ledger.read_text().splitlines()]
    assert len(entries) == summary.accepted

    records = read_records(stack_settings, start)
    found = Counter(RecordMetadata.from_headers(r.headers).event_id for r in records)
    where = {RecordMetadata.from_headers(r.headers).event_id: r for r in records}
    for entry in entries:
        assert found[entry["event_id"]] == 1, entry
        record = where[entry["event_id"]]
        assert (record.topic, record.partition, record.offset) == (entry["topic"], entry["partition"], entry["offset"])
        assert RecordMetadata.from_headers(record.headers).event_type == entry["event_type"]
