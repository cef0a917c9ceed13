"""Read landed objects back and judge them: the logic of the raw assets' checks.

The checks look at what S3 really holds for a landing run's objects, not at what the run
believes it wrote, and at the manifest of every landed object.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .objects import decode_lines


@dataclass
class ReadBack:
    """What the objects hold: (topic, partition, offset) of every line, and the event_ids the
    lines carry (a record without a readable event_id header has none)."""

    positions: list[tuple[str, int, int]] = field(default_factory=list)
    event_ids: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def read_back(s3: Any, bucket: str, keys: Iterable[str]) -> ReadBack:
    result = ReadBack()
    for key in keys:
        try:
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except s3.exceptions.NoSuchKey:
            result.missing.append(key)
            continue
        for raw_line in decode_lines(body):
            line = json.loads(raw_line)
            result.positions.append((line["kafka_topic"], int(line["kafka_partition"]), int(line["kafka_offset"])))
            if line.get("event_id") is not None:
                result.event_ids.append(line["event_id"])
    return result


@dataclass(frozen=True)
class Verdict:
    passed: bool
    metadata: dict[str, Any]


def nothing_lost(back: ReadBack, records_consumed: int, start: int, end: int) -> Verdict:
    """Every record the run consumed is in exactly the objects it wrote, within its range."""
    outside = [p for p in back.positions if not start <= p[2] < end]
    landed = len(back.positions)
    return Verdict(
        passed=not back.missing and not outside and landed == records_consumed,
        metadata={
            "records_consumed": records_consumed,
            "records_in_objects": landed,
            "missing_objects": len(back.missing),
            "offsets_outside_range": len(outside),
        },
    )


def no_duplicates(back: ReadBack, overlapping_objects: Sequence[tuple[str, str]]) -> Verdict:
    """No (topic, partition, offset) twice in the run's objects, and no two landed objects of a
    partition and kind whose offset spans overlap anywhere in the lake.

    A repeated event_id at two offsets is reported but does not fail: that is a duplicate in
    Kafka itself (a producer retry), which the lake keeps as it is.
    """
    repeated = [p for p, n in Counter(back.positions).items() if n > 1]
    repeated_ids = [e for e, n in Counter(back.event_ids).items() if n > 1]
    return Verdict(
        passed=not repeated and not overlapping_objects,
        metadata={
            "repeated_offsets": len(repeated),
            "repeated_event_ids_in_kafka": len(repeated_ids),
            "overlapping_landed_objects": len(overlapping_objects),
            "examples": [f"{t} p{p} o{o}" for t, p, o in repeated[:5]] + [f"{a} / {b}" for a, b in overlapping_objects[:5]],
        },
    )

