"""Rolling lake lines into objects, with deterministic keys and bytes.

Key layout (the day is the UTC day of `received_at`; for a record without a usable received_at
header, of the Kafka timestamp):

    raw/<event type>/dt=YYYY-MM-DD/<topic>+p<partition>+o<first offset>+o<last offset>.jsonl.gz

Every record of the topic is a line of exactly one object (pinterest_assets.lake.records).
Offsets are zero-padded to 12 digits, so names sort by offset. An object holds the lines of one
partition and one day, consecutive in offset order; it rolls over before it would exceed
`max_records` lines or `max_bytes` uncompressed bytes, or when its lines' moments (received_at,
else the Kafka timestamp) would span more than `max_span_seconds`. Never by wall-clock time: the
same records always make the same objects, and gzip runs with mtime=0, so a re-run writes
identical bytes.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from . import RAW_PREFIX
from .records import LakeLine

OFFSET_DIGITS = 12
GZIP_LEVEL = 6


@dataclass(frozen=True)
class RollLimits:
    max_records: int = 5000
    max_bytes: int = 16 * 1024 * 1024
    max_span_seconds: int = 3600

    def __post_init__(self) -> None:
        if self.max_records < 1 or self.max_bytes < 1 or self.max_span_seconds < 0:
            raise ValueError(f"invalid roll limits: {self!r}")


@dataclass(frozen=True)
class LakeObject:
    key: str
    topic: str
    partition: int
    first_offset: int
    last_offset: int
    records: int
    body: bytes  # gzip-compressed JSON lines
    uncompressed_bytes: int
    received_min: datetime  # the lines' moments: received_at, else the Kafka timestamp
    received_max: datetime

    @property
    def bytes(self) -> int:
        return len(self.body)


def object_key(event_type: str, day: date, topic: str, partition: int, first: int, last: int) -> str:
    return (
        f"{RAW_PREFIX}/{event_type}/dt={day.isoformat()}/"
        f"{topic}+p{partition}+o{first:0{OFFSET_DIGITS}d}+o{last:0{OFFSET_DIGITS}d}.jsonl.gz"
    )


def encode_lines(encoded: Iterable[bytes]) -> bytes:
    """Deterministic gzip: no file name, mtime 0, fixed level."""
    return gzip.compress(b"".join(encoded), compresslevel=GZIP_LEVEL, mtime=0)


def decode_lines(body: bytes) -> list[bytes]:
    return gzip.decompress(body).splitlines()


def roll(lines: Sequence[LakeLine], limits: RollLimits) -> list[list[LakeLine]]:
    """Group lines, in offset order, into the lines of each object."""
    groups: list[list[LakeLine]] = []
    current: list[LakeLine] = []
    size = 0
    low = high = None
    for line in lines:
        line_size = len(line.encode())
        if current:
            span = (max(high, line.moment) - min(low, line.moment)).total_seconds()
            if (
                line.day != current[0].day
                or len(current) + 1 > limits.max_records
                or size + line_size > limits.max_bytes
                or span > limits.max_span_seconds
            ):
                groups.append(current)
                current, size = [], 0
        if not current:
            low = high = line.moment
        current.append(line)
        size += line_size
        low, high = min(low, line.moment), max(high, line.moment)
    if current:
        groups.append(current)
    return groups


def build_objects(
    lines: Sequence[LakeLine], topic: str, partition: int, event_type: str, limits: RollLimits
) -> list[LakeObject]:
    """The objects for one partition's lines (in offset order)."""
    objects: list[LakeObject] = []
    for group in roll(lines, limits):
        encoded = [line.encode() for line in group]
        first, last = group[0].offset, group[-1].offset
        objects.append(
            LakeObject(
                key=object_key(event_type, group[0].day, topic, partition, first, last),
                topic=topic,
                partition=partition,
                first_offset=first,
                last_offset=last,
                records=len(group),
                body=encode_lines(encoded),
                uncompressed_bytes=sum(len(e) for e in encoded),
                received_min=min(line.moment for line in group),
                received_max=max(line.moment for line in group),
            )
        )
    return objects
