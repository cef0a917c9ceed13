"""Judge a landing run without reading its objects back: the logic of the raw assets' checks.

A landing run counts every record it consumes and knows, for each object it wrote, the offsets
of its first and last line, its line count and the MD5 of its bytes (its materialization
metadata, `objects`). S3 reports the ETag of each object without sending its body (HEAD); for an
object written by one PUT (and not encrypted with SSE-KMS or SSE-C) the ETag is the MD5 of its
bytes. An ETag equal to the MD5 of the bytes the run built means S3 holds exactly those bytes,
so the lines in it are the ones the run counted. The manifest of every landed object (PostgreSQL)
answers for the lake as a whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError


@dataclass(frozen=True)
class LandedObject:
    """One object as the landing run recorded it."""

    key: str
    first_offset: int
    last_offset: int
    records: int
    md5: str

    @classmethod
    def from_metadata(cls, entry: Mapping[str, Any]) -> LandedObject:
        return cls(
            entry["key"], int(entry["first_offset"]), int(entry["last_offset"]), int(entry["records"]), entry["md5"]
        )


def s3_etags(s3: Any, bucket: str, keys: Iterable[str]) -> dict[str, str | None]:
    """key -> the ETag S3 reports for it (quotes removed), None when S3 holds no such object."""
    etags: dict[str, str | None] = {}
    for key in keys:
        try:
            etags[key] = s3.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                raise
            etags[key] = None
    return etags


@dataclass(frozen=True)
class Verdict:
    passed: bool
    metadata: dict[str, Any]


def nothing_lost(
    objects: Sequence[LandedObject], etags: Mapping[str, str | None], records_consumed: int, start: int, end: int
) -> Verdict:
    """Every record the run consumed is a line of the objects it wrote, within its range, and
    S3 holds each of those objects with exactly the bytes the run built."""
    missing = [o.key for o in objects if etags.get(o.key) is None]
    wrong = [o.key for o in objects if etags.get(o.key) not in (None, o.md5)]
    outside = [o.key for o in objects if not start <= o.first_offset <= o.last_offset < end]
    # A span of n offsets holds at most n lines, and an object at least one.
    miscounted = [o.key for o in objects if not 1 <= o.records <= o.last_offset - o.first_offset + 1]
    landed = sum(o.records for o in objects)
    return Verdict(
        passed=not (missing or wrong or outside or miscounted) and landed == records_consumed,
        metadata={
            "records_consumed": records_consumed,
            "records_in_objects": landed,
            "missing_objects": len(missing),
            "checksum_mismatches": len(wrong),
            "objects_outside_range": len(outside),
            "objects_miscounted": len(miscounted),
            "examples": (missing + wrong + outside + miscounted)[:5],
        },
    )


def no_duplicates(objects: Sequence[LandedObject], overlapping_objects: Sequence[tuple[str, str]]) -> Verdict:
    """No offset in two of the run's objects (their spans are disjoint), and no two landed
    objects of a partition and kind whose offset spans overlap anywhere in the lake."""
    overlapping_in_run: list[tuple[str, str]] = []  # (object, an earlier object reaching into it)
    reach, reaching = -1, ""
    for o in sorted(objects, key=lambda o: (o.first_offset, o.last_offset)):
        if o.first_offset <= reach:
            overlapping_in_run.append((o.key, reaching))
        if o.last_offset > reach:
            reach, reaching = o.last_offset, o.key
    return Verdict(
        passed=not overlapping_in_run and not overlapping_objects,
        metadata={
            "overlapping_objects_in_run": len(overlapping_in_run),
            "overlapping_landed_objects": len(overlapping_objects),
            "examples": [f"{b} / {a}" for b, a in [*overlapping_in_run[:5], *overlapping_objects[:5]]],
        },
    )
