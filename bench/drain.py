"""Kafka -> S3 drain benchmark: events/s and MB/s of `make batch --land-only`'s code
(devstack.batch.run_batch(refresh_downstream=False): the drain sensors' planning and
one Dagster landing run per offset range, executed in the Dagster instance) over a backlog of
at least 1,000,000 events; the same-run ceiling, a bare consume -> gzip -> PUT loop over the
same backlog (no lake lines, no Dagster, no progress); and a profile of one landing range by
stage.

    python -m bench.drain [--quick]      # on a fresh stack of its own (PostgreSQL, S3, Kafka)

The backlog is topped up to the target straight into Kafka by a batching producer with the
API's keys and headers (bench.lakegen.produce); events already in the topics (e.g. from the
ingest benchmark) count towards it, as the drain lands them alike.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path

from pinterest_common.config import DAGSTER_DB, Settings
from pinterest_common.s3 import s3_client
from pinterest_common.schema import EVENT_TYPES

from .common import log_dir, say, table
from .lakegen import produce


def topic_bytes(state_dir: Path) -> int:
    """Bytes of the event topics' log segments on the stack's Kafka disk."""
    total = 0
    for event_type in EVENT_TYPES.values():
        for directory in (state_dir / "kafka" / "data").glob(f"{event_type.topic}-*"):
            total += sum(f.stat().st_size for f in directory.glob("*.log"))
    return total


def backlog(settings: Settings) -> dict[str, int]:
    import psycopg2

    from pinterest_assets.lib.lake.progress import ProgressStore
    from pinterest_common import kafka_io

    consumer = kafka_io.open_consumer(settings.kafka, client_id="bench-drain")
    progress = ProgressStore(lambda: psycopg2.connect(settings.pg_dsn(DAGSTER_DB)))
    out = {}
    try:
        for event_type in EVENT_TYPES.values():
            offsets = kafka_io.partition_offsets(consumer, event_type.topic) or {}
            committed = progress.committed(event_type.topic)
            out[event_type.topic] = sum(o.end - max(committed.get(p, 0), o.earliest) for p, o in offsets.items())
    finally:
        consumer.close()
    return out


@contextlib.contextmanager
def output_to(path: Path):
    """Send this process's stdout and stderr (file descriptors too) to `path`."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def lake_bytes(settings: Settings) -> tuple[int, int]:
    client = s3_client(settings)
    objects = size = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=settings.s3_bucket, Prefix="raw/"):
        for entry in page.get("Contents", []):
            objects += 1
            size += entry["Size"]
    return objects, size


def bare_loop(settings: Settings) -> dict:
    """The ceiling: every record the event topics hold read with the drain's consumer settings,
    the values joined by newlines, gzip (the lake's level) every `lake_roll_max_records`
    values, one PUT each to a scratch bucket; one thread, nothing else."""
    import gzip

    from pinterest_assets.lib.lake.objects import GZIP_LEVEL
    from pinterest_common import kafka_io

    client = s3_client(settings)
    client.create_bucket(Bucket="bench-drain-bare")
    consumer = kafka_io.open_consumer(settings.kafka, client_id="bench-drain-bare")
    events = objects = gzip_bytes = 0

    def put(values: list[bytes]) -> None:
        nonlocal objects, gzip_bytes
        body = gzip.compress(b"\n".join(values), compresslevel=GZIP_LEVEL, mtime=0)
        client.put_object(Bucket="bench-drain-bare", Key=f"bare/{objects:08d}.gz", Body=body)
        objects += 1
        gzip_bytes += len(body)

    start = time.monotonic()
    try:
        for event_type in EVENT_TYPES.values():
            for partition, held in sorted((kafka_io.partition_offsets(consumer, event_type.topic) or {}).items()):
                values: list[bytes] = []
                for record in kafka_io.read_range(consumer, event_type.topic, partition, held.earliest, held.end):
                    values.append(record.value or b"")
                    if len(values) == settings.lake_roll_max_records:
                        put(values)
                        events, values = events + len(values), []
                if values:
                    put(values)
                    events += len(values)
    finally:
        consumer.close()
    seconds = time.monotonic() - start
    return {
        "events": events,
        "objects": objects,
        "gzip_bytes": gzip_bytes,
        "seconds": round(seconds, 2),
        "events_per_s": round(events / seconds, 1) if seconds else None,
    }


def profile_range(settings: Settings, records: int) -> dict:
    """One landing range's stages, timed apart (read from Kafka, lake lines, roll + gzip + MD5,
    upload), on the first `records` offsets of pinterest.pin; the upload goes to a scratch
    bucket and nothing is committed. A landing run overlaps the last two with the reading
    (pinterest_assets.lib.lake.landing); here they run one after the other."""
    from pinterest_assets.lib.lake.objects import RollLimits, build_objects
    from pinterest_assets.lib.lake.records import parse_record
    from pinterest_common import kafka_io

    pin = EVENT_TYPES["pin"]
    consumer = kafka_io.open_consumer(settings.kafka, client_id="bench-drain-profile")
    try:
        offsets = kafka_io.partition_offsets(consumer, pin.topic) or {}
        partition, held = max(offsets.items(), key=lambda item: item[1].end - item[1].earliest)
        first, last = held.earliest, min(held.end, held.earliest + records)
        t0 = time.monotonic()
        rows = list(kafka_io.read_range(consumer, pin.topic, partition, first, last))
        t1 = time.monotonic()
    finally:
        consumer.close()
    lines = [parse_record(record) for record in rows]
    t2 = time.monotonic()
    limits = RollLimits(
        settings.lake_roll_max_records, settings.lake_roll_max_bytes, settings.lake_roll_max_span_seconds
    )
    objects = build_objects(lines, pin.topic, partition, "pin", limits)
    t3 = time.monotonic()
    client = s3_client(settings)
    client.create_bucket(Bucket="bench-drain-profile")
    for obj in objects:
        client.put_object(Bucket="bench-drain-profile", Key=obj.key, Body=obj.body)
    t4 = time.monotonic()
    n = len(rows)
    stages = {
        "read from Kafka (kafka-python)": t1 - t0,
        "lake lines (orjson, one serialisation)": t2 - t1,
        "roll + gzip + MD5": t3 - t2,
        "upload to S3": t4 - t3,
    }
    return {
        "records": n,
        "stages_s": {k: round(v, 3) for k, v in stages.items()},
        "stages_us_per_event": {k: round(v / n * 1e6, 1) for k, v in stages.items()},
        "events_per_s_without_dagster": round(n / sum(stages.values())),
    }


def truncate_topics(settings: Settings) -> dict[str, int]:
    """Delete every record of the event topics (Kafka's delete-records, up to the end offsets),
    so that what follows starts from an empty backlog; returns the records deleted per topic."""
    from kafka import KafkaAdminClient
    from kafka.structs import TopicPartition  # not re-exported by kafka in typeshed's (2.3) stubs

    from pinterest_common import kafka_io

    consumer = kafka_io.open_consumer(settings.kafka, client_id="bench-truncate")
    admin = KafkaAdminClient(**settings.kafka.client_config())
    deleted = {}
    try:
        for event_type in EVENT_TYPES.values():
            offsets = kafka_io.partition_offsets(consumer, event_type.topic) or {}
            todo = {TopicPartition(event_type.topic, p): o.end for p, o in offsets.items() if o.end > o.earliest}
            if todo:
                admin.delete_records(todo, timeout_ms=30_000)
            deleted[event_type.topic] = sum(o.end - o.earliest for o in offsets.values())
    finally:
        admin.close()
        consumer.close()
    return deleted


def run(settings: Settings, state_dir: Path, quick: bool = False, sampler=None, events: int | None = None) -> dict:
    """Drain a backlog of `events` (default 1,000,000; quick 20,000)."""
    from devstack.batch import run_batch
    from pinterest_assets.instance import prepare_instance

    target = events or (20_000 if quick else 1_000_000)
    before = backlog(settings)
    missing = max(0, target - sum(before.values()))
    say(f"drain: backlog {sum(before.values()):,} events; producing {missing:,} more straight into Kafka ...")
    log_bytes_before = topic_bytes(state_dir)
    produced = produce(settings, missing, log=say) if missing else {"events": 0}
    if missing:
        say(f"  produced {produced['events']:,} in {produced['seconds']:.0f}s ({produced['events_per_s']:,}/s)")
    to_drain = backlog(settings)
    # What the drain reads: the log segments the produced records added (segments of records
    # deleted earlier stay on disk until retention removes them, so the total would overcount).
    kafka_bytes = topic_bytes(state_dir) - (log_bytes_before if missing else 0)
    prepare_instance(settings)
    log_file = log_dir(settings, state_dir, "drain") / "drain.log"
    say(f"drain: run_batch(refresh_downstream=False) over {sum(to_drain.values()):,} events (log: {log_file}) ...")
    start = time.monotonic()
    with output_to(log_file):
        summary = run_batch(log=print, refresh_downstream=False)
    seconds = time.monotonic() - start
    left = sum(backlog(settings).values())
    objects, object_bytes = lake_bytes(settings)
    landed = summary.landed
    say(
        f"  landed {landed:,} events in {seconds:.1f}s ({landed / seconds:,.0f}/s), {len(summary.runs)} runs, "
        f"ok={summary.ok}, {left:,} left in the backlog"
    )
    say("drain: the ceiling, a bare consume -> gzip -> PUT loop over the same backlog ...")
    loop = bare_loop(settings)
    say(f"  {loop['events']:,} events in {loop['seconds']:.1f}s ({loop['events_per_s']:,.0f}/s)")
    profile_n = 5_000 if quick else 10_000
    say(f"drain: profiling one range of {profile_n:,} pin records by stage ...")
    profile = profile_range(settings, profile_n)
    figures = {
        "settings": {
            "max_records_per_run": settings.lake_max_records_per_run,
            "max_runs_per_tick": settings.lake_max_runs_per_tick,
            "roll_max_records": settings.lake_roll_max_records,
            "roll_max_bytes": settings.lake_roll_max_bytes,
            "upload_threads": settings.lake_upload_threads,
            "topic_partitions": settings.topic_partitions,
            "target_events": target,
        },
        "produced": produced,
        "backlog_before": to_drain,
        "events": landed,
        "ok": summary.ok,
        "runs": len(summary.runs),
        "seconds": round(seconds, 2),
        "events_per_s": round(landed / seconds, 1),
        "kafka_log_bytes": kafka_bytes,
        "value_bytes": produced.get("value_bytes"),
        "value_mb_per_s": round(produced["value_bytes"] / seconds / 1e6, 2) if produced.get("value_bytes") else None,
        "kafka_mb_per_s": round(kafka_bytes / seconds / 1e6, 2),
        "lake_objects": objects,
        "lake_gzip_bytes": object_bytes,
        "lake_gzip_mb_per_s": round(object_bytes / seconds / 1e6, 2),
        "seconds_per_run": round(seconds / max(1, len(summary.runs)), 2),
        "bare_loop": loop,
        "share_of_bare_loop": round(landed / seconds / loop["events_per_s"], 3) if loop["events_per_s"] else None,
        "profile": profile,
    }
    figures["backlog"], figures["backlog_left"] = sum(to_drain.values()), left
    figures["goals"] = {
        "drain >= 20,000 events/s, run ok, backlog fully landed": drain_goal(figures),
        "drain / bare consume->gzip->PUT loop (same run) >= 0.5": bare_loop_goal(figures),
    }
    return figures


def drain_goal(figures: dict, target: float = 20_000) -> dict:
    """Met only when the rate reaches `target` and the drain did its whole job: every run ok and
    every event of the backlog landed (a fast drain that lands part of it flatters)."""
    landed_all = figures["events"] == figures["backlog"] and figures["backlog_left"] == 0
    return {
        "value": {
            "events_per_s": figures["events_per_s"],
            "ok": figures["ok"],
            "landed": figures["events"],
            "backlog": figures["backlog"],
            "left": figures["backlog_left"],
        },
        "target": f">= {target:g} events/s, ok, landed = backlog, none left",
        "met": bool(figures["ok"] and landed_all and figures["events_per_s"] >= target),
    }


def bare_loop_goal(figures: dict, target: float = 0.5) -> dict:
    """Met when the drain reaches `target` of the bare loop's rate, measured in the same run, and
    did its whole job (as drain_goal)."""
    share = figures["share_of_bare_loop"]
    landed_all = figures["events"] == figures["backlog"] and figures["backlog_left"] == 0
    return {
        "value": {
            "share": share,
            "events_per_s": figures["events_per_s"],
            "bare_loop_events_per_s": figures["bare_loop"]["events_per_s"],
        },
        "target": f">= {target:g} of the bare loop, ok, landed = backlog, none left",
        "met": bool(share is not None and share >= target and figures["ok"] and landed_all),
    }


def report(figures: dict) -> str:
    loop = figures["bare_loop"]
    rows = [
        (
            "drain (run_batch, land only)",
            figures["events"],
            figures["seconds"],
            figures["events_per_s"],
            figures["kafka_mb_per_s"],
            figures["lake_gzip_mb_per_s"],
            figures["runs"],
        ),
        (
            "ceiling: bare consume -> gzip -> PUT loop",
            loop["events"],
            loop["seconds"],
            loop["events_per_s"],
            "-",
            round(loop["gzip_bytes"] / loop["seconds"] / 1e6, 2) if loop["seconds"] else "-",
            "-",
        ),
    ]
    text = table(
        "Kafka -> S3 drain", ["measurement", "events", "seconds", "events/s", "Kafka MB/s", "gzip MB/s", "runs"], rows
    )
    text += f"\ndrain / bare loop: {figures['share_of_bare_loop']}\n"
    p = figures["profile"]
    text += "\n" + table(
        f"One landing range of {p['records']:,} pin records, by stage (no Dagster)",
        ["stage", "seconds", "us/event"],
        [(k, v, p["stages_us_per_event"][k]) for k, v in p["stages_s"].items()],
    )
    return text


def main(argv: list[str] | None = None) -> int:
    from devstack.fresh import fresh_stack, settings_stack

    from .common import handle_sigterm, load_average, write_section

    handle_sigterm()
    load_at_start = load_average()
    parser = argparse.ArgumentParser(description=__doc__ and __doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 events, for development")
    parser.add_argument("--events", type=int, default=None, help="the backlog to drain (default 1,000,000)")
    args = parser.parse_args(argv)
    with fresh_stack("bench-drain-", services=("postgres", "s3", "kafka")) as settings:
        figures = run(settings, settings_stack(settings).state_dir, args.quick, events=args.events)
    print(report(figures))
    write_section("drain", {"quick": args.quick, **figures}, load_at_start=load_at_start)
    return 0


if __name__ == "__main__":
    sys.exit(main())
