"""Kafka cluster ids of the local stack: drawn like Kafka's Uuid.randomUuid(), so that
`kafka-storage format -t <id>` never reads one as an option."""

from __future__ import annotations

import base64
import re

from devstack import kafka_ids
from devstack.kafka_cluster import KafkaCluster
from devstack.services import Kafka
from pinterest_common.config import Settings

URL_SAFE_22 = re.compile(r"[A-Za-z0-9_-]{22}")


def test_many_ids_none_starts_with_a_dash_all_22_url_safe_characters_of_16_bytes():
    ids = [kafka_ids.random_uuid() for _ in range(100_000)]
    assert [i for i in ids if i.startswith("-")] == []
    assert [i for i in ids if not URL_SAFE_22.fullmatch(i)] == []
    assert {len(base64.urlsafe_b64decode(i + "==")) for i in ids} == {16}
    assert len(set(ids)) == len(ids)
    # Without the re-draw, about 1 in 64 would start with '-': the draws do cover that character
    # elsewhere, so the test would see the bug.
    assert sum(i[0] == "_" for i in ids) > 500 and any("-" in i for i in ids)


def test_a_first_draw_starting_with_a_dash_or_reserved_is_drawn_again():
    dash = b"\xf8" + bytes(range(1, 16))  # 0b111110.. -> '-' in URL-safe base64
    assert kafka_ids.encode(dash).startswith("-")
    good = bytes(range(16, 32))
    draws = iter([dash, kafka_ids.ZERO_UUID, kafka_ids.ONE_UUID, good])
    calls = []

    def draw() -> bytes:
        calls.append(1)
        return next(draws)

    assert kafka_ids.random_uuid(draw) == kafka_ids.encode(good) == "EBESExQVFhcYGRobHB0eHw"
    assert len(calls) == 4


def test_the_single_node_and_the_cluster_use_it(tmp_path, monkeypatch):
    monkeypatch.setattr(kafka_ids, "random_uuid", lambda: "the-kafka-id")
    settings = Settings.from_env({"PINTEREST_HOME": str(tmp_path)})
    assert Kafka(settings, tmp_path / "stack")._cluster_id() == "the-kafka-id"
    cluster = KafkaCluster(settings, tmp_path / "cluster", size=2)
    assert {node._cluster_id() for node in cluster.nodes} == {"the-kafka-id"}
