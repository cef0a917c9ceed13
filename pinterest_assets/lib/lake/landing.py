"""Land one offset range from Kafka into S3, exactly once.

Under the partition's lock (see `progress`):

1. read the committed offset; what is below it has landed, so the range starts there. A range
   may only land on top of what has landed: if offsets before it have not (a run for an earlier
   range failed), it waits for the sensor to plan them again. Offsets that left Kafka
   (retention) before they could land are skipped and reported;
2. read the range from Kafka, turn every record into its lake line (whatever it holds: the
   lake mirrors the topic) and roll the lines into objects (deterministic keys and bytes) as
   they come. Each finished object goes to a small pool of upload threads, which gzip it,
   record it as pending (write-ahead, committed before its upload) and upload it (a re-run
   overwrites it with identical bytes), while the run reads on; zlib and socket I/O release
   the GIL, so reading, compressing and uploading overlap. S3 must answer each PUT with the
   MD5 of the bytes sent as its ETag (the PUT carries Content-MD5, so S3 refuses corrupt bytes);
3. once every upload succeeded, delete the objects that a dead run left pending and that this
   run did not rewrite (they hold offsets this run landed again);
4. in one transaction: mark the objects landed and move the committed offset to the range end.

A crash anywhere leaves the committed offset where it was; the next run of the partition
starts over from there and cleans up. Only the commit makes offsets count as landed.
The report keeps each object's figures (offsets, records, MD5), not its bytes: the raw checks
judge the landing from them.
"""

from __future__ import annotations

import base64
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pinterest_common.schema import EventType

from .objects import LakeObject, Roller, RollLimits, build_object
from .progress import RAW_KIND, ObjectRow, ProgressStore
from .ranges import OffsetRange
from .records import KafkaRecord, LakeLine, parse_record

CONTENT_TYPE = "application/gzip"


class RangeNotReady(RuntimeError):
    """The offsets before the range have not landed yet, so it cannot land now."""


class ChecksumMismatch(RuntimeError):
    """S3 answered a PUT with an ETag other than the MD5 of the bytes sent."""


@dataclass(frozen=True)
class LandingReport:
    requested: OffsetRange
    committed_before: int | None  # the committed offset when the run began (None: nothing yet)
    start: int  # where this run began landing
    next_offset: int  # the committed offset afterwards
    records_consumed: int
    offsets_lost: int = 0  # offsets between the committed offset and the range that left Kafka
    objects: Sequence[LakeObject] = ()  # in offset order, without their bytes
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
    read: Callable[[int, int], Iterable[KafkaRecord]],
    earliest: Callable[[], int],
    s3: Any,
    bucket: str,
    progress: ProgressStore,
    limits: RollLimits,
    upload_threads: int = 2,
    run_id: str | None = None,
    lock_timeout_s: float = 300.0,
    log: Callable[[str], None] = lambda message: None,
) -> LandingReport:
    """Land `requested` (see the module docstring). `read(start, end)` yields the Kafka
    records of the range's partition with offsets in [start, end), in order; `earliest()` the
    first offset Kafka still holds for it; `s3` is a boto3 S3 client (thread-safe)."""
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

        leftovers = {row.object_key for row in progress.objects(topic, state="pending", partition=partition)}

        def upload(lines: list[LakeLine]) -> LakeObject:
            o = build_object(lines, topic, partition, event_type.name)
            progress.record_pending([_row(o, run_id)])
            answer = s3.put_object(
                Bucket=bucket,
                Key=o.key,
                Body=o.body,
                ContentType=CONTENT_TYPE,
                ContentMD5=base64.b64encode(bytes.fromhex(o.md5)).decode("ascii"),
            )
            if answer["ETag"].strip('"') != o.md5:
                raise ChecksumMismatch(f"s3://{bucket}/{o.key}: ETag {answer['ETag']}, MD5 of the bytes sent {o.md5}")
            return o.without_body()

        def landed(future: Future[LakeObject]) -> None:
            o = future.result()
            log(f"uploaded s3://{bucket}/{o.key} ({o.records} records, {o.bytes} bytes)")
            objects.append(o)

        consumed = 0
        objects: list[LakeObject] = []
        roller = Roller(limits)
        with ThreadPoolExecutor(upload_threads, thread_name_prefix="lake-upload") as pool:
            uploads: deque[Future[LakeObject]] = deque()

            def submit(lines: list[LakeLine] | None) -> None:
                if lines:
                    while len(uploads) > upload_threads:  # bounded: the run holds a few objects at most
                        landed(uploads.popleft())
                    uploads.append(pool.submit(upload, lines))

            try:
                for record in read(start, requested.end):
                    consumed += 1
                    submit(roller.add(parse_record(record)))
                submit(roller.flush())
                for future in uploads:
                    landed(future)
            except BaseException:
                pool.shutdown(cancel_futures=True)
                raise

        orphans = sorted(leftovers - {o.key for o in objects})
        for key in orphans:
            log(f"deleting {key}: written by a run that died before its commit")
            s3.delete_object(Bucket=bucket, Key=key)
        progress.forget_pending(orphans)

        progress.commit(topic, partition, expected=committed, next_offset=requested.end, keys=[o.key for o in objects])
        return LandingReport(
            requested=requested,
            committed_before=committed,
            start=start,
            next_offset=requested.end,
            records_consumed=consumed,
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
