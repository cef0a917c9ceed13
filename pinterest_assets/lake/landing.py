"""Land one offset range from Kafka into S3, exactly once.

Under the partition's lock (see `progress`):

1. read the committed offset; what is below it has landed, so the range starts there. A range
   may only land on top of what has landed: if offsets before it have not (a run for an earlier
   range failed), it waits for the sensor to plan them again. Offsets that left Kafka
   (retention) before they could land are skipped and reported;
2. read the range from Kafka, turn every record into its lake line (whatever it holds: the
   lake mirrors the topic), roll the lines into objects (deterministic keys and bytes);
3. record the objects as pending (write-ahead), then delete the objects that a dead run left
   pending and that this run does not rewrite (they hold offsets this run lands again);
4. upload the objects (a re-run overwrites them with identical bytes);
5. in one transaction: mark the objects landed and move the committed offset to the range end.

A crash anywhere leaves the committed offset where it was; the next run of the partition
starts over from there and cleans up. Only the commit makes offsets count as landed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pinterest_common.schema import EventType

from .objects import LakeObject, RollLimits, build_objects
from .progress import RAW_KIND, ObjectRow, ProgressStore
from .ranges import OffsetRange
from .records import KafkaRecord, parse_record

CONTENT_TYPE = "application/gzip"


class RangeNotReady(RuntimeError):
    """The offsets before the range have not landed yet, so it cannot land now."""


@dataclass(frozen=True)
class LandingReport:
    requested: OffsetRange
    committed_before: int | None  # the committed offset when the run began (None: nothing yet)
    start: int  # where this run began landing
    next_offset: int  # the committed offset afterwards
    records_consumed: int
    offsets_lost: int = 0  # offsets between the committed offset and the range that left Kafka
    objects: Sequence[LakeObject] = ()
    orphans_removed: Sequence[str] = ()

    @property
    def already_landed(self) -> bool:
        return self.start >= self.requested.end

    @property
    def offsets_without_record(self) -> int:
        """Offsets in the landed span for which Kafka returned no record (transaction markers,
        compaction, retention)."""
        return max(self.requested.end - self.start, 0) - self.records_consumed

    @property
    def records_landed(self) -> int:
        """Lines written: one per record consumed."""
        return sum(o.records for o in self.objects)

    @property
    def bytes(self) -> int:
        return sum(o.bytes for o in self.objects)

    @property
    def uncompressed_bytes(self) -> int:
        return sum(o.uncompressed_bytes for o in self.objects)

    @property
    def received_min(self) -> datetime | None:
        """The earliest moment of a line (received_at, else the Kafka timestamp)."""
        return min((o.received_min for o in self.objects), default=None)

    @property
    def received_max(self) -> datetime | None:
        return max((o.received_max for o in self.objects), default=None)


def land_range(
    requested: OffsetRange,
    event_type: EventType,
    *,
    read: Callable[[int, int], Sequence[KafkaRecord]],
    earliest: Callable[[], int],
    s3: Any,
    bucket: str,
    progress: ProgressStore,
    limits: RollLimits,
    run_id: str | None = None,
    lock_timeout_s: float = 300.0,
    log: Callable[[str], None] = lambda message: None,
) -> LandingReport:
    """Land `requested` (see the module docstring). `read(start, end)` returns the Kafka
    records of the range's partition with offsets in [start, end); `earliest()` the first
    offset Kafka still holds for it; `s3` is a boto3 S3 client."""
    topic, partition = requested.topic, requested.partition
    with progress.partition_lock(topic, partition, lock_timeout_s):
        committed = progress.committed_offset(topic, partition)
        lost = 0
        if committed is None or committed < requested.start:
            first_held = earliest()
            base = first_held if committed is None else max(committed, first_held)
            if base < requested.start:
                raise RangeNotReady(
                    f"{requested}: offsets from {base} have not landed yet; the sensor will plan them again"
                )
            if committed is not None:
                lost = requested.start - committed
                log(f"offsets [{committed}, {requested.start}) left Kafka before they could land")
        start = requested.start if committed is None else max(requested.start, committed)
        if start >= requested.end:
            log(f"{requested} has landed already (committed offset {committed}); nothing to do")
            return LandingReport(requested, committed, start, committed if committed is not None else start, 0)

        records = read(start, requested.end)
        lines = [parse_record(record) for record in records]
        objects = build_objects(lines, topic, partition, event_type.name, limits)
        keys = [o.key for o in objects]

        leftovers = [row.object_key for row in progress.objects(topic, state="pending", partition=partition)]
        orphans = sorted(set(leftovers) - set(keys))
        progress.record_pending([_row(o, run_id) for o in objects])
        for key in orphans:
            log(f"deleting {key}: written by a run that died before its commit")
            s3.delete_object(Bucket=bucket, Key=key)
        progress.forget_pending(orphans)

        for o in objects:
            s3.put_object(Bucket=bucket, Key=o.key, Body=o.body, ContentType=CONTENT_TYPE)
            log(f"uploaded s3://{bucket}/{o.key} ({o.records} records, {o.bytes} bytes)")

        progress.commit(topic, partition, expected=committed, next_offset=requested.end, keys=keys)
        return LandingReport(
            requested=requested,
            committed_before=committed,
            start=start,
            next_offset=requested.end,
            records_consumed=len(records),
            offsets_lost=lost,
            objects=objects,
            orphans_removed=orphans,
        )


def _row(o: LakeObject, run_id: str | None) -> ObjectRow:
    return ObjectRow(
        object_key=o.key,
        topic=o.topic,
        partition=o.partition,
        kind=RAW_KIND,
        first_offset=o.first_offset,
        last_offset=o.last_offset,
        records=o.records,
        bytes=o.bytes,
        state="pending",
        run_id=run_id,
    )
