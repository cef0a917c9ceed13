"""Fuzzing the real API (gunicorn, real Kafka) with an oracle that does not ask it.

tests/fixtures/api_oracle.py writes the contract down on its own and builds every request so
that its verdict is known: a valid event with one named mutation (a field dropped or added or of
the wrong JSON type, an EDGE rule broken: 422 naming the field and the rule), a valid variant
(numeric strings, the three datetime formats, sentinels, whitespace around numbers, a new
category, a CLEANING rule broken: 202), or a body wrong as a whole (malformed JSON, not UTF-8, a
repeated field, NaN, an unpaired surrogate escape: 400; too large: 413; not JSON: 415). Most
events go in batches, each element with its own status; a share, and every body-level case, go
to the single-event endpoint. Fixed seed; FUZZ_SEED and FUZZ_CASES choose another or a longer run.

Then Kafka: every accepted event exactly once in its topic with the bytes that were sent, every
refusal exactly once in the dead-letter topic, and nothing else. The module runs on a stack of its
own (`isolated_stack`): the valid events it sends never reach the shared topics other tests read.
tests/unit/test_api_oracle.py runs the same oracle in process, for many more cases.
"""

from __future__ import annotations

import os
import time

import pytest
import requests
from kafka import KafkaConsumer, TopicPartition

from tests.fixtures import api_oracle as oracle

pytestmark = pytest.mark.integration

SEED = int(os.environ.get("FUZZ_SEED", "1205"))
VALUE_CASES = int(os.environ.get("FUZZ_CASES", "10000"))
TOPICS = (*oracle.TOPICS.values(), oracle.DLQ_TOPIC)


def api_url(settings) -> str:
    return f"http://127.0.0.1:{settings.api_port}"


def http_sender(settings, session: requests.Session):
    key = {"X-API-Key": settings.api_keys[0]} if settings.api_keys else {}

    def send(request: oracle.Request):
        headers = {**key, **({"Content-Type": request.content_type} if request.content_type else {})}
        if len(request.body) > oracle.MAX_BYTES:
            # The API closes the connection after a 413 for a body over the limit: not a pooled one.
            answer = requests.post(
                api_url(settings) + request.path,
                data=request.body,
                headers={**headers, "Connection": "close"},
                timeout=60,
            )
        else:
            answer = session.post(api_url(settings) + request.path, data=request.body, headers=headers, timeout=60)
        is_json = answer.headers.get("Content-Type", "").startswith("application/json")
        assert is_json, (request.label, answer.status_code, answer.content[:300])
        return answer.status_code, answer.json()

    return send


def end_offsets(consumer: KafkaConsumer) -> dict[TopicPartition, int]:
    partitions = [
        TopicPartition(topic, partition)
        for topic in TOPICS
        for partition in sorted(consumer.partitions_for_topic(topic) or ())
    ]
    return consumer.end_offsets(partitions)


def read_since(settings, start: dict[TopicPartition, int], timeout_s: float = 60.0) -> list[oracle.Record]:
    """Every record of the platform's topics from `start` up to the current end offsets."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, enable_auto_commit=False)
    try:
        stop = end_offsets(consumer)
        pending = {tp: end for tp, end in stop.items() if end > start.get(tp, 0)}
        consumer.assign(sorted(pending))
        for tp in pending:
            consumer.seek(tp, start.get(tp, 0))
        records, deadline = [], time.monotonic() + timeout_s
        while pending:
            assert time.monotonic() < deadline, f"could not read up to the end offsets of {sorted(map(str, pending))}"
            for tp, batch in consumer.poll(timeout_ms=1000).items():
                for record in batch:
                    if record.offset < stop[tp]:
                        records.append(
                            oracle.Record(
                                record.topic, record.key, record.value, {name: value for name, value in record.headers}
                            )
                        )
                if tp in pending and consumer.position(tp) >= pending[tp]:
                    del pending[tp]
        return records
    finally:
        consumer.close()


@pytest.fixture(scope="module")
def api(isolated_stack):
    assert requests.get(f"{api_url(isolated_stack)}/healthz", timeout=30).status_code == 200
    limits = (isolated_stack.api_max_bytes, isolated_stack.api_batch_max_events)
    assert limits == (oracle.MAX_BYTES, oracle.BATCH_MAX_EVENTS)
    return isolated_stack


def test_every_request_gets_the_verdict_the_contract_gives_it_and_kafka_holds_exactly_the_accepted(api):
    requests_, labels = oracle.plan(SEED, VALUE_CASES, document_cases=VALUE_CASES // 10, batch_level_cases=60)
    consumer = KafkaConsumer(bootstrap_servers=api.kafka_bootstrap_servers, enable_auto_commit=False)
    try:
        start = end_offsets(consumer)
    finally:
        consumer.close()

    started = time.monotonic()
    with requests.Session() as session:
        ledger = oracle.run(requests_, http_sender(api, session))
    print(
        f"\nfuzz: {ledger.cases} cases in {len(requests_)} requests ({time.monotonic() - started:.1f}s), "
        f"answers {dict(sorted(ledger.statuses.items()))}, batch elements {dict(ledger.element_statuses)}, "
        f"{len(ledger.accepted)} accepted, {len(ledger.dead_letters)} dead-lettered"
    )

    assert ledger.cases >= 10_000 and not oracle.required_labels() - set(labels)
    assert {202, 207, 400, 404, 413, 415, 422} <= set(ledger.statuses)
    oracle.verify_topics(ledger, read_since(api, start))
