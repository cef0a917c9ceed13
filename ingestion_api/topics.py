"""The platform's Kafka topics described like the original terminal session did (partitions,
offsets, consumer-group lag). pinterest_common.kafka_admin creates them; pinterest_common.kafka_io
reads them back by offset."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaAdminClient

# kafka-python 3's admin API (OffsetSpec, bootstrap_timeout_ms, list_partition_offsets, list_groups,
# list_group_offsets) is missing from typeshed's stubs of kafka-python (2.3): the client is typed Any.
from kafka.admin import OffsetSpec  # pyright: ignore[reportAttributeAccessIssue]
from kafka.structs import TopicPartition  # not re-exported by kafka in typeshed's (2.3) stubs

from pinterest_common.config import Settings
from pinterest_common.kafka_admin import PLATFORM_TOPICS


@dataclass
class PartitionState:
    partition: int
    leader: int
    earliest: int
    latest: int

    @property
    def messages(self) -> int:
        return self.latest - self.earliest


@dataclass
class GroupLag:
    group: str
    topic: str
    committed: int  # summed over the partitions the group has committed
    lag: int


@dataclass
class TopicState:
    name: str
    partitions: list[PartitionState] = field(default_factory=list)

    @property
    def messages(self) -> int:
        return sum(p.messages for p in self.partitions)


def _admin(settings: Settings) -> Any:
    timeout_ms = int(settings.api_kafka_timeout_s * 1000)
    return KafkaAdminClient(
        **settings.kafka.client_config(),
        request_timeout_ms=timeout_ms,
        bootstrap_timeout_ms=timeout_ms,  # pyright: ignore[reportCallIssue]
    )


def _leaders(admin: KafkaAdminClient, topics: tuple[str, ...]) -> dict[TopicPartition, int]:
    """The leader of every partition of the existing `topics`, in partition order."""
    described = [t for t in admin.describe_topics(list(topics)) if t["error_code"] == 0]
    leaders = {
        TopicPartition(t["name"], p["partition_index"]): p["leader_id"] for t in described for p in t["partitions"]
    }
    return dict(sorted(leaders.items()))


def _offsets(admin: Any, partitions: list[TopicPartition], spec: OffsetSpec) -> dict[TopicPartition, int]:
    answer = admin.list_partition_offsets({tp: spec for tp in partitions}) if partitions else {}
    return {tp: answer[tp].offset for tp in partitions}


def _lags(committed: dict, latest: dict[TopicPartition, int], earliest: dict[TopicPartition, int]) -> list[GroupLag]:
    """Per group and topic: committed offsets summed, and the records after them (all, where none)."""
    lags = []
    for group, offsets in sorted(committed.items()):
        for topic in sorted({tp.topic for tp in offsets} & {tp.topic for tp in latest}):
            partitions = [tp for tp in latest if tp.topic == topic]
            positions = {tp: offsets[tp].offset for tp in partitions if tp in offsets and offsets[tp].offset >= 0}
            lag = sum(latest[tp] - positions.get(tp, earliest[tp]) for tp in partitions)
            lags.append(GroupLag(group, topic, sum(positions.values()), lag))
    return lags


def describe(settings: Settings, topics: tuple[str, ...] = PLATFORM_TOPICS) -> tuple[list[TopicState], list[GroupLag]]:
    """Every existing topic of `topics` with its partitions' offsets, and each consumer group's lag."""
    admin = _admin(settings)
    try:
        leaders = _leaders(admin, topics)
        earliest = _offsets(admin, list(leaders), OffsetSpec.EARLIEST)
        latest = _offsets(admin, list(leaders), OffsetSpec.LATEST)
        groups = [g["group_id"] for g in admin.list_groups()]
        committed = admin.list_group_offsets(groups) if groups else {}
    finally:
        admin.close()
    states = {topic: TopicState(topic) for topic in topics if any(tp.topic == topic for tp in leaders)}
    for tp, leader in leaders.items():
        states[tp.topic].partitions.append(PartitionState(tp.partition, leader, earliest[tp], latest[tp]))
    return list(states.values()), _lags(committed, latest, earliest)


def format_description(topics: list[TopicState], lags: list[GroupLag]) -> str:
    """The description as the `pinterest topics` command prints it."""
    lines = [f"{'topic':<16} {'partition':>9} {'leader':>6} {'earliest':>10} {'latest':>10} {'messages':>10}"]
    for topic in topics:
        for p in topic.partitions:
            lines.append(
                f"{topic.name:<16} {p.partition:>9} {p.leader:>6} {p.earliest:>10} {p.latest:>10} {p.messages:>10}"
            )
        lines.append(f"{topic.name:<16} {'all':>9} {'':>6} {'':>10} {'':>10} {topic.messages:>10}")
    lines.append("")
    if lags:
        lines.append(f"{'consumer group':<32} {'topic':<16} {'committed':>10} {'lag':>10}")
        lines += [f"{g.group:<32} {g.topic:<16} {g.committed:>10} {g.lag:>10}" for g in lags]
    else:
        lines.append("no consumer group has committed offsets on these topics")
    return "\n".join(lines)
