"""The batch lake end to end on the real services: Kafka -> drain sensors -> runs -> S3, exactly once.

The runs go through a real Dagster instance (a temporary DAGSTER_HOME whose dagster.yaml keeps
runs and event logs in the test stack's PostgreSQL), like `make batch`.

The must-show test posts its events through the real API (`accept_through_api`); the others
produce records the way the API writes them (`accept_events`: value = the event JSON, key =
record_key, headers = RecordMetadata), which lets them choose `received_at`.

The module runs on a stack of its own (`isolated_stack`): the records of other writers it puts
into pinterest.pin (not JSON, forged or missing headers, a tombstone, ...) would otherwise stay
in the session's topics, and every later lake, clean step and streaming job of the session would
read them. Its tests share that stack, so every test first drains what is there, then checks its
own events by event_id, and the lake-wide invariants by offset.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

import boto3
import dagster as dg
import pytest
from kafka import KafkaConsumer, KafkaProducer

from devstack import batch
from pinterest_assets.definitions import build_definitions
from pinterest_assets.instance import prepare_instance
from pinterest_assets.lib.lake.progress import PartitionBusy, ProgressStore
from pinterest_assets.lib.topics import DRAINED_TOPICS, RUN_KEY_TAG
from pinterest_common.config import DAGSTER_DB, REPO_ROOT, get_settings
from pinterest_common.kafka_admin import EVENT_TOPICS, ensure_topics
from pinterest_common.records import RecordMetadata, parse_received_at
from pinterest_common.schema import GEO, PIN, USER, EventType, record_key

pytestmark = [
    pytest.mark.integration,
    # Our code must not use anything deprecated (it would fail the run).
    pytest.mark.filterwarnings("error::DeprecationWarning:pinterest_assets"),
]

PIN_STREAM = DRAINED_TOPICS[0]
OBJECT_NAME = re.compile(
    r"^(?P<prefix>raw)/(?P<type>pin|geo|user)/dt=(?P<day>\d{4}-\d{2}-\d{2})/"
    r"(?P<topic>pinterest\.(?:pin|geo|user))\+p(?P<partition>\d+)\+o(?P<first>\d{12})\+o(?P<last>\d{12})\.jsonl\.gz$"
)


# Producing ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Accepted:
    event_id: str
    event_type: str
    value: str  # the JSON text sent
    partition: int
    offset: int


def accept_events(
    settings, events: list[tuple[EventType, dict]], received_at: datetime | None = None
) -> list[Accepted]:
    """Write events exactly as the API does (see the module docstring to switch to the API)."""
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all", enable_idempotence=True)
    try:
        pending = []
        for event_type, event in events:
            meta = RecordMetadata.new(event_type.name, received_at)
            value = json.dumps(event, ensure_ascii=False)
            future = producer.send(
                event_type.topic, key=record_key(event_type, event), value=value.encode(), headers=meta.headers()
            )
            pending.append((meta, value, future))
        producer.flush()
        return [
            Accepted(meta.event_id, meta.event_type, value, f.get(30).partition, f.get(30).offset)
            for meta, value, f in pending
        ]
    finally:
        producer.close()


def accept_through_api(settings, events: list[tuple[EventType, dict]]) -> list[Accepted]:
    """POST each event to the real API (gunicorn in the test stack); what it acknowledged."""
    import requests

    accepted = []
    with requests.Session() as http:
        for event_type, event in events:
            value = json.dumps(event, ensure_ascii=False)
            answer = http.post(
                f"http://127.0.0.1:{settings.api_port}/{event_type.name}/",
                data=value.encode(),
                headers={"Content-Type": "application/json"},
                timeout=30,
            )
            assert answer.status_code == 202, answer.text
            body = answer.json()
            accepted.append(Accepted(body["event_id"], event_type.name, value, body["partition"], body["offset"]))
    return accepted


def write_raw_records(
    settings, topic: str, records: list[tuple[bytes | None, bytes | None, list]]
) -> list[tuple[int, int]]:
    """Records from some other writer (not the API); their (partition, offset)."""
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    try:
        futures = [producer.send(topic, key=key, value=value, headers=headers) for key, value, headers in records]
        producer.flush()
        return [(f.get(30).partition, f.get(30).offset) for f in futures]
    finally:
        producer.close()


def triples(count: int, seed: str = "") -> list[tuple[EventType, dict]]:
    """`count` correlated pin/geo/user events (each triple shares ind)."""
    events = []
    for i in range(count):
        ind = 10_000 + (abs(hash((seed, i))) % 1_000_000)
        events.append(
            (
                PIN,
                {
                    "index": ind,
                    "unique_id": str(uuid.uuid4()),
                    "title": f"Title {i} 🎄",
                    "description": "No description available",
                    "poster_name": "Some Poster",
                    "follower_count": f"{i}k",
                    "tag_list": "a,b,c",
                    "is_image_or_video": "image",
                    "image_src": "https://i.pinimg.com/x.jpg",
                    "downloaded": 1,
                    "save_location": "Local save in /data/art",
                    "category": "art",
                },
            )
        )
        events.append(
            (
                GEO,
                {
                    "ind": ind,
                    "timestamp": "2020-08-28 03:52:47",
                    "latitude": -89.9787,
                    "longitude": "-173.293",
                    "country": "Albania",
                },
            )
        )
        events.append(
            (
                USER,
                {
                    "ind": str(ind),
                    "first_name": "Abigail",
                    "last_name": "Ali",
                    "age": 20,
                    "date_joined": "2015:10:24 11:23:51",
                },
            )
        )
    return events


def pins(count: int, seed: str) -> list[tuple[EventType, dict]]:
    return [(t, e) for t, e in triples(count, seed) if t is PIN]


LINE_FIELDS = [
    "event_id",
    "event_type",
    "received_at",
    "schema_version",
    "client_event_id",
    "kafka_topic",
    "kafka_partition",
    "kafka_offset",
    "kafka_timestamp",
    "key",
    "value",
]
API_HEADERS = ["event_id", "event_type", "received_at", "schema_version", "client_event_id"]


def garbage_records() -> list[tuple[str, bytes | None, bytes | None, list]]:
    """(case, key, value, headers) of records some other writer puts into pinterest.pin."""
    forged = lambda: RecordMetadata.new("pin").headers()  # noqa: E731 - a fresh event_id each
    valid = json.dumps(triples(1)[0][1]).encode()
    return [
        ("not JSON", b"k1", b"{not json", forged()),
        ("schema-invalid", b"k2", json.dumps({"index": 1}).encode(), forged()),
        ("no headers", b"k3", valid, []),
        ("value not UTF-8", b"k4", b"\xff\xfe not utf-8", forged()),
        ("key not UTF-8", b"\xff\x00", valid, forged()),
        ("tombstone", b"k6", None, forged()),
        ("header not UTF-8", b"k7", valid, [("event_id", b"\xff"), *forged()[1:]]),
        ("forged extra header", b"k8", valid, [*forged(), ("x-origin", b"elsewhere")]),
        ("wrong event_type", b"k9", valid, RecordMetadata.new("geo").headers()),
    ]


def assert_line_shows_record(line: dict, key, value, headers, case: str) -> None:
    """The lake line holds everything the record carried (the documented fields, bytes in base64
    when they are not UTF-8)."""

    def text(data):
        try:
            return None if data is None else data.decode("utf-8")
        except UnicodeDecodeError:
            return None

    def b64(data):
        return None if data is None or text(data) is not None else base64.b64encode(data).decode()

    first = {}
    for name, header in headers:
        first.setdefault(name, header)
    api = [name for name, _ in headers] in (API_HEADERS, API_HEADERS[:-1]) and all(
        text(h) is not None for _, h in headers
    )
    expected = {
        "event_id": text(first.get("event_id")),
        "event_type": text(first.get("event_type")),
        "received_at": text(first.get("received_at")),
        "schema_version": int(first["schema_version"]) if "schema_version" in first else None,
        "client_event_id": text(first.get("client_event_id")),
        "kafka_topic": PIN.topic,
        "kafka_partition": line["kafka_partition"],
        "kafka_offset": line["kafka_offset"],
        "kafka_timestamp": line["kafka_timestamp"],
        "key": text(key),
        "value": text(value),
    }
    if b64(key):
        expected["key_base64"] = b64(key)
    if b64(value):
        expected["value_base64"] = b64(value)
    if not api:
        expected["headers"] = [{"name": n, "value": text(h), "value_base64": b64(h)} for n, h in headers]
    assert line == expected, case
    assert list(line) == list(expected), case


# The environment ----------------------------------------------------------------------------
@dataclass
class Lake:
    settings: object
    instance: dg.DagsterInstance
    defs: dg.Definitions
    s3: object
    progress: ProgressStore
    logs: list[str]

    def run_batch(self) -> batch.BatchSummary:
        # The lake alone: the Spark refresh downstream has its own tests (test_batch_analytics).
        summary = batch.run_batch(self.defs, self.instance, log=self.logs.append, refresh_downstream=False)
        assert summary.ok, "\n".join(self.logs[-30:])
        return summary

    def objects(self, prefix: str) -> dict[str, bytes]:
        keys = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.settings.s3_bucket, Prefix=prefix):
            keys += [o["Key"] for o in page.get("Contents", [])]
        return {k: self.s3.get_object(Bucket=self.settings.s3_bucket, Key=k)["Body"].read() for k in keys}

    def lines(self, prefix: str) -> list[tuple[str, dict]]:
        return [
            (key, json.loads(line))
            for key, body in self.objects(prefix).items()
            for line in gzip.decompress(body).splitlines()
        ]


@pytest.fixture(scope="module")
def lake(isolated_stack, tmp_path_factory):
    saved = dict(os.environ)
    os.environ["DAGSTER_HOME"] = str(tmp_path_factory.mktemp("dagster_home"))
    try:
        settings = get_settings()
        prepare_instance(settings)
        ensure_topics(settings, 3, topics=EVENT_TOPICS)
        import psycopg2

        s3 = boto3.client(
            "s3",
            endpoint_url=settings.s3_endpoint_url,
            region_name=settings.s3_region,
            aws_access_key_id=settings.s3_access_key_id,
            aws_secret_access_key=settings.s3_secret_access_key,
        )
        progress = ProgressStore(lambda: psycopg2.connect(settings.pg_dsn(DAGSTER_DB)))
        with dg.DagsterInstance.get() as instance:
            yield Lake(settings, instance, build_definitions(settings), s3, progress, [])
    finally:
        os.environ.clear()
        os.environ.update(saved)


def line_day(line: dict) -> str:
    """The day a lake line belongs to: of its received_at when that parses, else of its Kafka timestamp."""
    try:
        return parse_received_at(line["received_at"]).date().isoformat()
    except (TypeError, ValueError):
        return datetime.fromtimestamp(max(line["kafka_timestamp"], 0) / 1000, tz=UTC).date().isoformat()


def assert_lake_is_exact(lake: Lake) -> None:
    """Lake-wide: every offset below the committed offset is in exactly one object, and the
    object names tell the truth about their lines."""
    for stream in DRAINED_TOPICS:
        positions = Counter()
        for key, line in lake.lines(f"raw/{stream.name}/"):
            name = OBJECT_NAME.match(key)
            assert name, key
            assert (name["prefix"], name["type"], name["topic"]) == ("raw", stream.name, stream.topic)
            assert int(name["partition"]) == line["kafka_partition"]
            assert int(name["first"]) <= line["kafka_offset"] <= int(name["last"])
            assert name["day"] == line_day(line)
            positions[(line["kafka_partition"], line["kafka_offset"])] += 1
        assert [p for p, n in positions.items() if n > 1] == [], f"{stream.topic}: offsets landed twice"
        committed = lake.progress.committed(stream.topic)
        expected = {(p, o) for p, next_offset in committed.items() for o in range(next_offset)}
        assert set(positions) == expected, f"{stream.topic}: lake and committed offsets disagree"
        assert lake.progress.objects(stream.topic, state="pending") == []


def drained(lake: Lake) -> None:
    """Land whatever earlier tests left in Kafka."""
    lake.run_batch()


# Must show 2: N events accepted -> tick -> runs -> S3 holds exactly those N ---------------------
def test_events_land_exactly_once_in_the_documented_layout_with_metadata_in_the_runs(lake):
    drained(lake)
    accepted = accept_through_api(lake.settings, triples(40, seed="must-show-2"))
    assert len(accepted) == 120
    strangers = garbage_records()
    garbage_positions = write_raw_records(lake.settings, PIN.topic, [(k, v, h) for _, k, v, h in strangers])

    summary = lake.run_batch()

    # S3 holds each accepted event exactly once, its value byte for byte.
    by_id = {}
    for stream in DRAINED_TOPICS:
        for key, line in lake.lines(f"raw/{stream.name}/"):
            by_id.setdefault(line["event_id"], []).append((key, line))
    for event in accepted:
        copies = by_id.get(event.event_id, [])
        assert len(copies) == 1, f"{event.event_id}: {len(copies)} copies"
        key, line = copies[0]
        assert key.startswith(f"raw/{event.event_type}/dt={line['received_at'][:10]}/")
        assert (line["kafka_partition"], line["kafka_offset"]) == (event.partition, event.offset)
        assert line["value"] == event.value
        assert list(line) == LINE_FIELDS

    # The garbage is in raw/ too, each record exactly once, every byte visible; it stopped nothing.
    by_position = {}
    for _key, line in lake.lines("raw/pin/"):
        by_position.setdefault((line["kafka_partition"], line["kafka_offset"]), []).append(line)
    for (case, key, value, headers), position in zip(strangers, garbage_positions):
        copies = by_position.get(position, [])
        assert len(copies) == 1, f"{case}: {len(copies)} lines"
        assert_line_shows_record(copies[0], key, value, headers, case)
    assert_lake_is_exact(lake)

    # The runs are in the instance (PostgreSQL storage), with their metadata and checks.
    from dagster_postgres import PostgresRunStorage

    assert isinstance(lake.instance.run_storage, PostgresRunStorage)
    run_ids = {r.run_id for r in summary.runs}
    assert run_ids and all(r.success and not r.failed_checks for r in summary.runs)
    for run_id in run_ids:
        run = lake.instance.get_run_by_id(run_id)
        assert run.status == dg.DagsterRunStatus.SUCCESS
        assert run.tags[RUN_KEY_TAG] and run.tags[batch.LAUNCHED_BY_TAG] == batch.LAUNCHED_BY
    materializations = [
        record
        for stream in DRAINED_TOPICS
        for record in lake.instance.fetch_materializations(dg.AssetKey(stream.asset_name), limit=100).records
        if record.run_id in run_ids
    ]
    assert len(materializations) == len(run_ids)
    metadata = [m.asset_materialization.metadata for m in materializations]
    assert sum(m["dagster/row_count"].value for m in metadata) == 120 + len(strangers)  # every record
    assert all("dead_lettered" not in m for m in metadata)
    held = lake.objects("raw/")
    for meta in metadata:
        assert meta["records_consumed"].value == meta["until_offset"].value - meta["landed_from_offset"].value
        assert meta["bytes"].value > 0 and meta["object_count"].value == len(meta["objects"].value)
        assert all(OBJECT_NAME.match(o["key"]) for o in meta["objects"].value)
        assert sum(o["records"] for o in meta["objects"].value) == meta["dagster/row_count"].value
        assert all(o["md5"] == hashlib.md5(held[o["key"]]).hexdigest() for o in meta["objects"].value)
        if meta["dagster/row_count"].value:
            span = meta["received_at_span_seconds"].value
            assert meta["received_at_min"].value <= meta["received_at_max"].value and 0 <= span < 600
    evaluations = [
        entry.dagster_event.event_specific_data
        for run_id in run_ids
        for entry in lake.instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    ]
    assert {e.check_name for e in evaluations} == {"nothing_lost", "no_duplicate_offsets"}
    assert len(evaluations) == 2 * len(run_ids) and all(e.passed for e in evaluations)


def test_a_rerun_of_a_landed_range_changes_nothing(lake):
    drained(lake)
    accept_events(lake.settings, pins(5, seed="rerun"))
    summary = lake.run_batch()
    run = lake.instance.get_run_by_id(summary.runs[0].run_id)
    before = lake.objects("raw/")
    committed = {s.topic: lake.progress.committed(s.topic) for s in DRAINED_TOPICS}

    stream = next(s for s in DRAINED_TOPICS if s.job_name == run.job_name)
    result = lake.defs.resolve_job_def(stream.job_name).execute_in_process(
        run_config=run.run_config, instance=lake.instance, raise_on_error=False
    )
    assert result.success
    meta = result.asset_materializations_for_node(stream.asset_name)[0].metadata
    assert meta["already_landed"].value is True and meta["objects"].value == []
    assert lake.objects("raw/") == before
    assert {s.topic: lake.progress.committed(s.topic) for s in DRAINED_TOPICS} == committed
    assert_lake_is_exact(lake)


def test_a_sensor_tick_reads_no_message_and_is_quick(lake, monkeypatch):
    drained(lake)
    accept_events(lake.settings, pins(3, seed="tick"))

    def no_reading(*args, **kwargs):
        raise AssertionError("a sensor tick read messages")

    monkeypatch.setattr(KafkaConsumer, "poll", no_reading)
    started = time.monotonic()
    requests, _, _ = batch.evaluate_sensor(lake.defs, lake.instance, PIN_STREAM, None)
    assert requests
    assert time.monotonic() - started < 10  # well inside Dagster's 60 s per tick
    monkeypatch.undo()
    lake.run_batch()
    assert_lake_is_exact(lake)


# Must show 3: a run killed after its upload, before its commit; two ticks, one run -------------
def test_two_sensor_ticks_over_the_same_offsets_launch_one_run(lake):
    drained(lake)
    accept_events(lake.settings, pins(4, seed="two-ticks"))
    first, cursor, _ = batch.evaluate_sensor(lake.defs, lake.instance, PIN_STREAM, None)
    second, _, _ = batch.evaluate_sensor(lake.defs, lake.instance, PIN_STREAM, None)
    assert first and [r.run_key for r in first] == [r.run_key for r in second]

    launched = [batch.launch(lake.defs, lake.instance, PIN_STREAM, r) for r in first]
    again = [batch.launch(lake.defs, lake.instance, PIN_STREAM, r) for r in second]
    assert all(outcome and outcome.success for outcome in launched)
    assert again == [None] * len(second)
    for request in first:
        runs = lake.instance.get_runs(filters=dg.RunsFilter(tags={RUN_KEY_TAG: request.run_key}))
        assert len(runs) == 1
    third, _, _ = batch.evaluate_sensor(lake.defs, lake.instance, PIN_STREAM, cursor)
    assert third == []  # landed
    lake.run_batch()
    assert_lake_is_exact(lake)


def test_ranges_landed_by_concurrent_workers_land_every_offset_exactly_once(lake, monkeypatch):
    """Small ranges (several per partition, chained), three topics, three worker processes."""
    drained(lake)
    monkeypatch.setenv("PINTEREST_LAKE_MAX_RECORDS_PER_RUN", "4")
    monkeypatch.setenv("PINTEREST_BATCH_WORKERS", "3")
    accepted = accept_events(lake.settings, triples(30, seed="concurrent"))
    logs: list[str] = []

    summary = batch.run_batch(
        build_definitions(get_settings()), lake.instance, log=logs.append, refresh_downstream=False
    )

    assert summary.ok and summary.landed == len(accepted), "\n".join(logs[-30:])
    records = [lake.instance.get_run_record_by_id(r.run_id) for r in summary.runs]
    assert len(records) > 9 and {r.dagster_run.status for r in records} == {dg.DagsterRunStatus.SUCCESS}
    assert any(
        a.start_time < b.end_time and b.start_time < a.end_time for a in records for b in records if a is not b
    ), "no two runs overlapped"
    assert os.getpid() not in {int(r.dagster_run.tags["pinterest/batch_pid"]) for r in records}  # run by the workers
    assert sum("landed in" in line for line in logs) == len(records)  # a progress line per finished run
    ids = Counter(line["event_id"] for stream in DRAINED_TOPICS for _, line in lake.lines(f"raw/{stream.name}/"))
    assert all(ids[a.event_id] == 1 for a in accepted)
    assert_lake_is_exact(lake)


KILL_BEFORE_COMMIT = """
import json, os, signal, sys
import dagster as dg
from devstack import batch
from pinterest_assets.definitions import build_definitions
from pinterest_assets.lib.lake.progress import ProgressStore
from pinterest_assets.lib.topics import DRAINED_TOPICS, RUN_KEY_TAG

def killed(*args, **kwargs):  # the objects are uploaded; die before recording progress
    os.kill(os.getpid(), signal.SIGKILL)

ProgressStore.commit = killed
stream = next(s for s in DRAINED_TOPICS if s.name == sys.argv[1])
request = dg.RunRequest(**json.loads(sys.argv[2]))
with dg.DagsterInstance.get() as instance:
    batch.launch(build_definitions(), instance, stream, request)
"""


def kill_after_upload(lake: Lake, request: dg.RunRequest) -> None:
    spec = json.dumps({"run_key": request.run_key, "run_config": request.run_config, "tags": request.tags})
    result = subprocess.run(
        [sys.executable, "-c", KILL_BEFORE_COMMIT, PIN_STREAM.name, spec],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == -signal.SIGKILL, result.stderr[-3000:]


def pin_request_for_partition(lake: Lake, partition: int) -> dg.RunRequest:
    requests, _, _ = batch.evaluate_sensor(lake.defs, lake.instance, PIN_STREAM, None)
    return next(r for r in requests if r.tags["pinterest/partition"] == str(partition))


def events_on_one_partition(lake: Lake, count: int, seed: str) -> list[Accepted]:
    """Pins replayed with one unique_id: one key, so one partition (replays are normal traffic)."""
    unique_id = str(uuid.uuid4())
    return accept_events(lake.settings, [(PIN, {**event, "unique_id": unique_id}) for _, event in pins(count, seed)])


def test_a_run_killed_after_its_upload_and_run_again_lands_exactly_once_with_the_same_bytes(lake):
    drained(lake)
    accepted = events_on_one_partition(lake, 30, "killed")
    partition = accepted[0].partition
    committed_before = lake.progress.committed(PIN.topic).get(partition)
    request = pin_request_for_partition(lake, partition)

    kill_after_upload(lake, request)

    pending = lake.progress.objects(PIN.topic, state="pending", partition=partition)
    assert pending, "the killed run uploaded nothing"
    uploaded = {row.object_key: lake.objects(row.object_key)[row.object_key] for row in pending}
    assert lake.progress.committed(PIN.topic).get(partition) == committed_before  # progress not recorded
    killed_run = lake.instance.get_runs(filters=dg.RunsFilter(tags={RUN_KEY_TAG: request.run_key}))[0]
    assert killed_run.status == dg.DagsterRunStatus.STARTED  # nobody told the instance

    summary = lake.run_batch()  # marks the dead run failed; the sensor requests its range again

    assert lake.instance.get_run_by_id(killed_run.run_id).status == dg.DagsterRunStatus.FAILURE
    retry = [r for r in summary.runs if r.run_key == f"{request.run_key}/retry-1"]
    assert len(retry) == 1 and retry[0].success
    for key, body in uploaded.items():
        assert lake.objects(key)[key] == body  # same key, same bytes
    ids = Counter(line["event_id"] for _, line in lake.lines("raw/pin/"))
    assert all(ids[a.event_id] == 1 for a in accepted)
    assert_lake_is_exact(lake)


def test_a_killed_run_whose_range_grew_meanwhile_leaves_no_duplicate(lake):
    drained(lake)
    first = events_on_one_partition(lake, 20, "grew-1")
    partition = first[0].partition
    request = pin_request_for_partition(lake, partition)
    kill_after_upload(lake, request)
    orphans = {row.object_key for row in lake.progress.objects(PIN.topic, state="pending", partition=partition)}
    assert orphans

    # More events on the same partition: the range planned next is longer, its objects differ.
    unique_id = json.loads(first[0].value)["unique_id"]
    more = accept_events(lake.settings, [(PIN, {**json.loads(a.value), "unique_id": unique_id}) for a in first[:7]])
    assert {a.partition for a in more} == {partition}
    lake.run_batch()

    for key in orphans:
        assert not lake.objects(key), f"{key} should have been replaced"
    ids = Counter(line["event_id"] for _, line in lake.lines("raw/pin/"))
    assert all(ids[a.event_id] == 1 for a in first + more)
    assert_lake_is_exact(lake)


# The progress store's lock -------------------------------------------------------------------
def test_one_run_at_a_time_per_partition(lake):
    topic = f"test.lock.{uuid.uuid4().hex[:6]}"
    with lake.progress.partition_lock(topic, 0):
        with pytest.raises(PartitionBusy):
            with lake.progress.partition_lock(topic, 0, timeout_s=1):
                pass
        with lake.progress.partition_lock(topic, 1, timeout_s=1):
            pass  # other partitions are free
    with lake.progress.partition_lock(topic, 0, timeout_s=1):
        pass  # released


# `make batch` ---------------------------------------------------------------------------------
def test_make_batch_entry_point_lands_everything_through_the_dagster_home_instance(lake):
    drained(lake)
    by_batch = dg.RunsFilter(tags={"pinterest/launched_by": "make batch"})
    before = {r.run_id for r in lake.instance.get_runs(filters=by_batch)}
    accepted = accept_events(lake.settings, pins(6, seed="make-batch"))
    result = subprocess.run(
        [sys.executable, "-m", "devstack.batch", "--land-only"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"[batch] Dagster instance: {os.environ['DAGSTER_HOME']}" in result.stdout
    assert "[batch] done: " in result.stdout and "6 record(s) landed" in result.stdout
    launched = [r for r in lake.instance.get_runs(filters=by_batch) if r.run_id not in before]
    assert launched and {r.status for r in launched} == {dg.DagsterRunStatus.SUCCESS}
    assert all(f"run {r.run_id} ok" in result.stdout for r in launched)
    ids = Counter(line["event_id"] for _, line in lake.lines("raw/pin/"))
    assert all(ids[a.event_id] == 1 for a in accepted)
    assert_lake_is_exact(lake)
