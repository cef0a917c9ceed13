"""Bulk data for the benchmarks: many triples fast, written straight into Kafka (with the API's
record format) or straight into the raw lake (with the lake's own code, so the objects are
byte for byte what the drain would write for such records).

The emulator (ingestion_api.emulator) makes about a thousand triples a second here, too slow for
millions. So a pool of `POOL` emulator triples (its distributions, replays and dirty values) is
repeated: copy k of pool triple i gets index i + k * POOL (and ind likewise) and a unique_id
derived from its original and k, so replays stay replays of the same copy and every copy is a
new pin for the cleaning and the questions.

The lake data sets also hold every dirty case of the contract (`DIRTY`, at the start of each
chunk in place of pool triples): sentinels with whitespace around, blank and padded text,
every follower-count form, numeric strings, the three datetime formats with one-digit fields,
events that break a cleaning rule (quarantined), a client's retry of an event with another
value (the first copy wins) and a later replay of a pin (the latest received wins).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pinterest_common.records import RecordMetadata, format_received_at
from pinterest_common.s3 import s3_client
from pinterest_common.schema import EVENT_TYPES, record_key

POOL = 20_000
EVENT_ORDER = ("pin", "geo", "user")
BASE_TIME = datetime(2025, 1, 6, 0, 0, tzinfo=UTC)


def _pool(size: int, seed: int) -> list[tuple[dict, dict, dict]]:
    """`size` emulator triples for `seed`, kept as JSON lines in the cache directory (the
    emulator is slow, and deterministic)."""
    from ingestion_api.emulator import generate_triples
    from pinterest_common.config import get_settings

    path = get_settings().cache_dir / "bench" / f"pool-{size}-s{seed}.jsonl"
    if path.exists():
        with path.open(encoding="utf-8") as lines:
            return [tuple(json.loads(line)) for line in lines]
    pool = [(t.pin, t.geo, t.user) for t in generate_triples(size, seed)]
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_suffix(f".{uuid.uuid4().hex}.tmp")
    with draft.open("w", encoding="utf-8") as out:
        out.writelines(json.dumps(triple, ensure_ascii=False) + "\n" for triple in pool)
    draft.rename(path)
    return pool


def _unique_id(original: str, copy: int) -> str:
    if copy == 0:
        return original
    digest = hashlib.blake2b(f"{original}/{copy}".encode(), digest_size=16).digest()
    return str(uuid.UUID(bytes=digest, version=4))


def _shift(value, offset: int):
    """index/ind as sent (an int, or a numeric string) plus offset, in the same form."""
    return str(int(value) + offset) if isinstance(value, str) else value + offset


def triples(count: int, seed: int = 2024, pool: int = POOL) -> Iterator[tuple[dict, dict, dict]]:
    """`count` triples: the emulator's pool, repeated with new keys (see the module docstring)."""
    base = _pool(min(pool, count), seed)
    for n in range(count):
        copy, i = divmod(n, len(base))
        pin, geo, user = base[i]
        if copy:
            offset = copy * pool
            pin = {**pin, "index": _shift(pin["index"], offset), "unique_id": _unique_id(pin["unique_id"], copy)}
            geo = {**geo, "ind": _shift(geo["ind"], offset)}
            user = {**user, "ind": _shift(user["ind"], offset)}
        yield pin, geo, user


NBSP = "\u00a0"


def _dirty_cases() -> list[tuple[dict, dict, dict]]:
    """(pin, geo, user) changes over a pool triple, one dirty case each; `index`/`ind` are kept."""
    uid = "f0e1d2c3-b4a5-4c6d-8e7f-{:012d}"
    return [
        (
            {
                "title": " No Title Data Available ",
                "description": "No description available Story format",
                "poster_name": f"User Info Error{NBSP}",
                "follower_count": " User Info Error",
                "image_src": "Image src error.",
                "tag_list": "N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e",
                "category": " art ",
            },
            {"timestamp": "2020-8-2 3:5:7", "country": "  "},
            {"first_name": "", "age": "31"},
        ),
        (
            {
                "description": "No description available",
                "follower_count": "1.2k",
                "poster_name": "Dirty Poster A",
                "category": f"travel{NBSP}",
                "index": "{index}",
            },
            {"timestamp": "2021-03-04T05:06:07", "latitude": " -12.5 ", "longitude": "45"},
            {"date_joined": "2016:01:02 03:04:05", "last_name": "\t"},
        ),
        (
            {
                "description": "Untitled",
                "follower_count": "3B",
                "poster_name": " Dirty Poster B ",
                "downloaded": "1",
                "save_location": "/data/quotes",
            },
            {"timestamp": "2019:12:31 23:59:59", "country": " Dirtyland "},
            {"age": " 44 "},
        ),
        ({"follower_count": " 12K ", "save_location": "Local save in/data/art", "category": ""}, {}, {}),
        ({"follower_count": "1.2345k", "poster_name": "Dirty Poster C"}, {}, {"date_joined": "2015-1-2T3:4:5"}),
        ({"follower_count": "8m", "poster_name": "   "}, {"timestamp": " 2022-06-30 12:00:00 "}, {}),
        ({"follower_count": "lots", "poster_name": "Dirty Poster D"}, {}, {}),
        ({"follower_count": ""}, {"country": f"{NBSP}Dirtyland"}, {}),
        # cleaning rules broken: quarantined
        ({"unique_id": "not-a-uuid"}, {"timestamp": "2009-12-31 23:59:59"}, {"age": 12}),
        ({"downloaded": 2}, {}, {"date_joined": "2009-06-01 00:00:00"}),
        ({"save_location": "C:/pins", "unique_id": uid.format(1)}, {}, {}),
    ]


DIRTY = _dirty_cases()


def _dirty(triple: tuple[dict, dict, dict], case: int) -> tuple[dict, dict, dict]:
    pin, geo, user = ({**event, **change} for event, change in zip(triple, DIRTY[case]))
    if pin.get("index") == "{index}":
        pin["index"] = str(triple[0]["index"])  # the row id as a numeric string
    return pin, geo, user


def encode(event: dict) -> bytes:
    return json.dumps(event, ensure_ascii=False).encode()


def padded_pins(count: int, size: int = 1024, seed: int = 7) -> list[bytes]:
    """Emulator pins with their description lengthened so the JSON body is about `size` bytes."""
    bodies = []
    for pin, _, _ in triples(count, seed, pool=count):
        body = encode(pin)
        if len(body) < size:
            pin = {**pin, "description": pin["description"] + " " + "x" * (size - len(body) - 1)}
            body = encode(pin)
        bodies.append(body)
    return bodies


# --- Kafka -------------------------------------------------------------------------------------


def produce(settings, count_events: int, seed: int = 2024, log=print) -> dict:
    """Produce `count_events` events (whole triples, pin/geo/user in turn) straight into the event
    topics with the API's key and headers, as fast as kafka-python batches them."""
    import time

    from kafka import KafkaProducer

    from pinterest_common.kafka_admin import ensure_topics

    ensure_topics(settings, settings.topic_partitions)
    producer = KafkaProducer(
        **settings.kafka.client_config(),
        acks="all",
        linger_ms=20,
        batch_size=512 * 1024,
        max_request_size=4 * 1024 * 1024,
    )
    _pool(min(POOL, (count_events + 2) // 3), seed)  # generated (or read) before the clock starts
    start = time.monotonic()
    sent = payload = 0
    received = BASE_TIME
    try:
        for triple in triples((count_events + 2) // 3, seed):
            for name, event in zip(EVENT_ORDER, triple):
                if sent >= count_events:
                    break
                event_type = EVENT_TYPES[name]
                value = encode(event)
                meta = RecordMetadata.new(name, received)
                producer.send(event_type.topic, value=value, key=record_key(event_type, event), headers=meta.headers())
                received += timedelta(microseconds=500)
                sent += 1
                payload += len(value)
                if sent % 100_000 == 0:
                    log(f"produced {sent:,} events")
        producer.flush()
    finally:
        producer.close()
    seconds = time.monotonic() - start
    return {"events": sent, "value_bytes": payload, "seconds": round(seconds, 2), "events_per_s": round(sent / seconds)}


# --- the raw lake ------------------------------------------------------------------------------


@dataclass
class FakeRecord:
    """A kafka-python ConsumerRecord as far as the lake reads one (pinterest_assets.lib.lake.records)."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list


def lake_objects(
    count: int,
    seed: int,
    partitions: int,
    limits,
    per_event: bool = False,
    chunk_triples: int | None = None,
    log=print,
    source=None,
    dirty: bool = False,
):
    """The raw lake objects for `count` triples as the drain would roll them (or one object per
    event when `per_event`): yields (chunk number, pinterest_assets.lib.lake.objects.LakeObject).

    Every `chunk_triples` triples all partitions are flushed, as a landing run ends at its range
    end, so the first k chunks are a lake of their own (for the growth figures). The lines are
    built as pinterest_assets.lib.lake.records builds them, without re-validating each event (these
    are valid emulator events); every 500th is checked against `parse_record` itself. With
    `dirty`, each chunk starts with the DIRTY cases (see the module docstring)."""
    from pinterest_assets.lib.lake.objects import RollLimits, build_objects
    from pinterest_assets.lib.lake.records import LakeLine, parse_record
    from pinterest_common.schema import SCHEMA_VERSION

    if per_event:
        limits = RollLimits(max_records=1, max_bytes=limits.max_bytes, max_span_seconds=limits.max_span_seconds)
    chunk_triples = chunk_triples or count
    retry_of: dict | None = None  # the pin line a client's retry copies (client id, moment)
    buffers: dict[tuple[str, int], list] = {}
    offsets: dict[tuple[str, int], int] = {}
    received = BASE_TIME
    step = timedelta(microseconds=300)

    def flush(name: str, partition: int):
        lines = buffers.pop((name, partition), [])
        if lines:
            yield from build_objects(lines, EVENT_TYPES[name].topic, partition, name, limits)

    for n, triple in enumerate(triples(count, seed) if source is None else source):
        case = n % chunk_triples
        if dirty and case < len(DIRTY):
            triple = _dirty(triple, case)
        emitted = [(name, event, None) for name, event in zip(EVENT_ORDER, triple)]
        if dirty and case == len(DIRTY):
            # a client's retry of the previous pin, another value: set aside (first copy wins);
            # then a replay of this pin under a new client id: the latest received wins
            assert retry_of is not None  # the previous triple's pin
            emitted.append(("pin", {**retry_of["event"], "follower_count": "999B"}, retry_of["client"]))
            emitted.append(("pin", {**triple[0], "poster_name": "Dirty Replay"}, None))
        for position, (name, event, client) in enumerate(emitted):
            event_type = EVENT_TYPES[name]
            key = record_key(event_type, event)
            partition = n % partitions
            offset = offsets.get((name, partition), 0)
            offsets[(name, partition)] = offset + 1
            serial = n * 3 + position if position < 3 else (count + n) * 3 + position
            event_id = str(uuid.UUID(int=(seed << 80) | serial, version=4))
            client_event_id = client or event_id
            received_at = format_received_at(received)
            timestamp = int(received.timestamp() * 1000)
            value = json.dumps(event, ensure_ascii=False)
            line = LakeLine.of(
                offset,
                received,
                {
                    "event_id": event_id,
                    "event_type": name,
                    "received_at": received_at,
                    "schema_version": SCHEMA_VERSION,
                    "client_event_id": client_event_id,
                    "kafka_topic": event_type.topic,
                    "kafka_partition": partition,
                    "kafka_offset": offset,
                    "kafka_timestamp": timestamp,
                    "key": key.decode() if key is not None else None,
                    "value": value,
                },
            )
            if serial % 500 == 0 or client:
                meta = RecordMetadata(event_id, name, received_at, client_event_id=client_event_id)
                record = FakeRecord(event_type.topic, partition, offset, timestamp, key, value.encode(), meta.headers())
                assert parse_record(record) == line, f"lake line differs from the drain's: {line}"
            if name == "pin" and dirty and case == len(DIRTY) - 1:
                retry_of = {"event": event, "client": client_event_id}
            received += step
            buffer = buffers.setdefault((name, partition), [])
            buffer.append(line)
            if len(buffer) >= limits.max_records:
                yield from ((n // chunk_triples, o) for o in flush(name, partition))
        if (n + 1) % chunk_triples == 0 or n + 1 == count:
            for name_partition in list(buffers):
                yield from ((n // chunk_triples, o) for o in flush(*name_partition))
        if n and n % 100_000 == 0:
            log(f"built lake objects for {n:,} triples")


def cached_lake(
    count: int,
    seed: int,
    partitions: int,
    limits,
    per_event: bool = False,
    chunk_triples: int | None = None,
    log=print,
    dirty: bool = True,
) -> Path:
    """The lake objects for these parameters as files, `chunk-NNN/<key>`, under the cache
    directory, built once: later runs upload the same bytes."""
    from pinterest_common.config import get_settings

    name = (
        f"lake-{'per-event' if per_event else 'rolled'}-{count}-c{chunk_triples or count}-s{seed}"
        f"-p{partitions}-r{limits.max_records}-v3{'-dirty' if dirty else ''}"
    )
    root = get_settings().cache_dir / "bench" / name
    if (root / "_complete").exists():
        return root
    root.mkdir(parents=True, exist_ok=True)
    written = 0
    for chunk, obj in lake_objects(count, seed, partitions, limits, per_event, chunk_triples, log, dirty=dirty):
        path = root / f"chunk-{chunk:03d}" / obj.key
        path.parent.mkdir(parents=True, exist_ok=True)
        assert obj.body is not None  # built, not uploaded
        path.write_bytes(obj.body)
        written += 1
    (root / "_complete").write_text(str(written))
    log(f"cached {written:,} lake objects in {root}")
    return root


def lake_files(root: Path, chunks: int | None = None) -> list[tuple[str, Path]]:
    """(key, file) of the cached objects of the first `chunks` chunks (None: all)."""
    out = []
    for chunk_dir in sorted(root.glob("chunk-*")):
        if chunks is not None and int(chunk_dir.name.split("-")[1]) >= chunks:
            continue
        out += [(str(p.relative_to(chunk_dir)), p) for p in chunk_dir.rglob("*.jsonl.gz")]
    return sorted(out)


def upload(settings, root: Path, bucket: str, chunks: int | None = None, threads: int = 16) -> dict:
    """Create `bucket` and upload the cached objects under their keys."""
    import time

    client = upload_client(settings, threads)
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    if bucket not in existing:
        client.create_bucket(Bucket=bucket)
    files = lake_files(root, chunks)
    start = time.monotonic()

    def put(item: tuple[str, Path]) -> int:
        key, path = item
        body = path.read_bytes()
        client.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/gzip")
        return len(body)

    with ThreadPoolExecutor(threads) as pool:
        total = sum(pool.map(put, files))
    return {"objects": len(files), "bytes": total, "seconds": round(time.monotonic() - start, 2)}


def upload_client(settings, threads: int = 16):
    """The lake's client with a connection pool for `threads` uploading at once."""
    return s3_client(settings, max_pool_connections=threads * 2, retries={"max_attempts": 5})


def write_triples(settings, bucket: str, source: list, seed: int = 1) -> int:
    """Land `source` (pin, geo, user triples) in `bucket`'s raw lake as the drain would (one
    record per event, partition = position modulo the topic partitions); returns the objects."""
    from pinterest_assets.lib.lake.objects import RollLimits

    client = s3_client(settings)
    if bucket not in {b["Name"] for b in client.list_buckets().get("Buckets", [])}:
        client.create_bucket(Bucket=bucket)
    limits = RollLimits(
        settings.lake_roll_max_records, settings.lake_roll_max_bytes, settings.lake_roll_max_span_seconds
    )
    written = 0
    for _, obj in lake_objects(len(source), seed, settings.topic_partitions, limits, source=source, log=lambda m: None):
        client.put_object(Bucket=bucket, Key=obj.key, Body=obj.body, ContentType="application/gzip")
        written += 1
    return written
