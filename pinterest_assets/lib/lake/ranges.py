"""Which offset ranges to land next: the planning behind the drain sensors, without Dagster.

A range is one partition's offsets `[start, end)`. Each landing run gets exactly one range, and
its run key is derived from the range, so two sensor ticks over the same offsets ask for the
same run (Dagster launches one run per run key).

Per partition, planning starts at the committed offset (what has landed) and stops at Kafka's
end offset, in chunks of at most `max_records`. Ranges already handed to runs that are still in
flight are not planned again: the sensor cursor remembers how far runs were requested, and it
is trusted only while the partition has a run in flight. A run that died without landing leaves
the committed offset behind, so its offsets are planned again, under a new run key (attempt
suffix) because Dagster never relaunches a run key it has seen.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from pinterest_common.kafka_io import PartitionOffsets


@dataclass(frozen=True, order=True)
class OffsetRange:
    topic: str
    partition: int
    start: int  # first offset of the range
    end: int  # one past the last offset

    def __post_init__(self) -> None:
        if self.partition < 0 or self.start < 0 or self.end <= self.start:
            raise ValueError(f"not a valid offset range: {self!r}")

    @property
    def size(self) -> int:
        return self.end - self.start

    @property
    def last(self) -> int:
        return self.end - 1

    @property
    def range_id(self) -> str:
        """E.g. `pinterest.pin/p0/o0-o499`: the offsets, both ends included."""
        return f"{self.topic}/p{self.partition}/o{self.start}-o{self.last}"

    def run_key(self, attempt: int = 0) -> str:
        """The run key of the `attempt`-th run for this range (0: the first)."""
        return self.range_id if attempt == 0 else f"{self.range_id}/retry-{attempt}"

    def __str__(self) -> str:
        return f"{self.topic} p{self.partition} [{self.start}, {self.end})"


@dataclass(frozen=True)
class DrainCursor:
    """The sensor cursor: per partition, the offset up to which runs have been requested."""

    requested: Mapping[int, int] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"requested": {str(p): o for p, o in sorted(self.requested.items())}}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | None) -> DrainCursor:
        """Parse a cursor; an empty or unreadable one is an empty cursor (planning then starts
        from the committed offsets, which is always safe)."""
        if not text:
            return cls()
        try:
            raw = json.loads(text)["requested"]
            return cls({int(p): int(o) for p, o in raw.items()})
        except (ValueError, TypeError, KeyError, AttributeError):
            return cls()


@dataclass(frozen=True)
class DrainPlan:
    ranges: tuple[OffsetRange, ...]
    cursor: DrainCursor
    frontier: Mapping[int, int]  # where planning started, per partition
    backlog: int  # records past the planned ranges, left for the next ticks
    warnings: tuple[str, ...] = ()


def chunk(topic: str, partition: int, start: int, end: int, max_records: int) -> list[OffsetRange]:
    """`[start, end)` cut into ranges of at most `max_records` offsets."""
    if max_records < 1:
        raise ValueError("max_records must be at least 1")
    return [OffsetRange(topic, partition, lo, min(lo + max_records, end)) for lo in range(start, end, max_records)]


def plan_ranges(
    topic: str,
    offsets: Mapping[int, PartitionOffsets],
    landed: Mapping[int, int],
    cursor: DrainCursor,
    in_flight: Mapping[int, int],
    max_records: int,
    max_ranges: int,
) -> DrainPlan:
    """The next ranges to request for `topic`.

    offsets:   Kafka's earliest and end offset per partition.
    landed:    the committed offset per partition (the next offset to land); absent: none yet.
    cursor:    the previous tick's cursor.
    in_flight: partitions with a landing run in flight -> the highest end offset among those
               runs (from their tags).
    At most `max_ranges` ranges, taken round-robin over the partitions so that each one moves.
    """
    frontier: dict[int, int] = {}
    warnings: list[str] = []
    queues: dict[int, deque[OffsetRange]] = {}
    for partition, off in sorted(offsets.items()):
        committed = landed.get(partition)
        start = off.earliest if committed is None else max(committed, off.earliest)
        if committed is not None and committed < off.earliest:
            warnings.append(
                f"p{partition}: offsets [{committed}, {off.earliest}) left Kafka (retention) before they landed"
            )
        if committed is not None and committed > off.end:
            warnings.append(
                f"p{partition}: committed offset {committed} is past Kafka's end offset {off.end}"
                " (was the topic recreated?); nothing is planned for it"
            )
        if partition in in_flight:
            requested = min(cursor.requested.get(partition, start), off.end)
            start = max(start, requested, in_flight[partition])
        frontier[partition] = start
        queues[partition] = deque(chunk(topic, partition, start, off.end, max_records)) if start < off.end else deque()

    planned: list[OffsetRange] = []
    while len(planned) < max_ranges and any(queues.values()):
        for partition in sorted(queues):
            if queues[partition] and len(planned) < max_ranges:
                planned.append(queues[partition].popleft())

    requested = dict(frontier)
    for r in planned:
        requested[r.partition] = max(requested[r.partition], r.end)
    backlog = sum(r.size for queue in queues.values() for r in queue)
    return DrainPlan(tuple(planned), DrainCursor(requested), frontier, backlog, tuple(warnings))
