"""Create the platform's Kafka topics when they are missing.

The brokers run with `auto.create.topics.enable=false`, so whoever writes first (the API at start,
a test, a demo script) calls `ensure_topics`. Existing topics are left as they are: their
partition count is never changed here.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from .config import Settings
from .schema import DLQ_TOPIC, EVENT_TYPES

EVENT_TOPICS: tuple[str, ...] = tuple(e.topic for e in EVENT_TYPES.values())
PLATFORM_TOPICS: tuple[str, ...] = (*EVENT_TOPICS, DLQ_TOPIC)


def ensure_topics(
    settings: Settings,
    partitions: int | None = None,
    topics: Iterable[str] = PLATFORM_TOPICS,
    replication_factor: int = 1,
    timeout_s: float = 30.0,
) -> list[str]:
    """Create each of `topics` that does not exist yet; return the names created.

    `partitions` defaults to PINTEREST_TOPIC_PARTITIONS (settings.topic_partitions).

    Safe to call from several processes at once: a topic created by someone else in the
    meantime counts as existing. Returns once the brokers' metadata lists every topic.
    """
    from kafka.admin import KafkaAdminClient
    from kafka.errors import TopicAlreadyExistsError

    wanted = list(dict.fromkeys(topics))
    partitions = settings.topic_partitions if partitions is None else partitions
    # Any: kafka-python 3's create_topics (a dict of specs, wait_for_metadata), not the one of
    # typeshed's stubs (kafka-python 2.3).
    admin: Any = KafkaAdminClient(
        **settings.kafka.client_config(),
        client_id="pinterest-kafka-admin",
        request_timeout_ms=int(timeout_s * 1000),
        bootstrap_timeout_ms=int(timeout_s * 1000),  # pyright: ignore[reportCallIssue]
    )
    try:
        missing = [t for t in wanted if t not in set(admin.list_topics())]
        created: list[str] = []
        for topic in missing:
            try:
                admin.create_topics(
                    {topic: {"num_partitions": partitions, "replication_factor": replication_factor}},
                    wait_for_metadata=True,
                )
                created.append(topic)
            except TopicAlreadyExistsError:
                pass
        deadline = time.monotonic() + timeout_s
        while not set(wanted) <= set(admin.list_topics()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"Kafka topics {wanted} not all visible after {timeout_s:.0f}s")
            time.sleep(0.2)
        return created
    finally:
        admin.close()
