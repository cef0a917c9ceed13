"""The streaming job's Spark plan, run as a stream over Kafka-shaped rows (parquet files, one
micro-batch each): headers, dedup and late events, the shared cleaning, the sink's rows, and
values that are no valid event as rejected rows."""

from __future__ import annotations

import base64
import json
import os
from datetime import datetime, timedelta, timezone

import pytest
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ingestion_api.canonical import CANONICAL_TRIPLE
from ingestion_api.emulator import generate_triples
from pinterest_common.cleaning import clean
from pinterest_common.records import RecordMetadata
from pinterest_common.schema import EVENT_TYPES, record_key, spark_raw_schema
from streaming.ddl import EVENT_COLUMNS, REJECTED_COLUMNS, TABLE_COLUMNS
from streaming.source import SinkRows, cleaned, deduplicated, record_columns, sink_rows

KAFKA_SCHEMA = T.StructType([
    T.StructField("key", T.BinaryType()),
    T.StructField("value", T.BinaryType()),
    T.StructField("topic", T.StringType()),
    T.StructField("partition", T.IntegerType()),
    T.StructField("offset", T.LongType()),
    T.StructField("headers", T.ArrayType(T.StructType([
        T.StructField("key", T.StringType()), T.StructField("value", T.BinaryType()),
    ]))),
])
NO_DATA_BATCHES = "spark.sql.streaming.noDataMicroBatches.enabled"
RECEIVED = datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=timezone.utc)
# Pin values with the API's headers that are no valid pin event: value -> the reason's category.
GARBAGE = {
    b"{not json": "value is not JSON",
    b"\xff\xfe{}": "value is not UTF-8",
    json.dumps({**CANONICAL_TRIPLE["pin"], "downloaded": True}).encode(): "schema-invalid",
    b"[1, 2]": "schema-invalid",
    b'{"title": "a\x00b"}': "value is not JSON",  # a raw control character; stored with U+FFFD
    b"[" * 100_000: "value is not JSON",  # nested too deeply for Python's parser
    None: "no value (tombstone)",
}


def kafka_row(event_type: str, event: dict, offset: int, metadata: RecordMetadata | None) -> tuple:
    et = EVENT_TYPES[event_type]
    headers = metadata.headers() if metadata else None
    return (record_key(et, event), json.dumps(event).encode(), et.topic, offset % 3, offset, headers)


def garbage_row(value: bytes | None, offset: int, metadata: RecordMetadata) -> tuple:
    return (b"garbage", value, EVENT_TYPES["pin"].topic, offset % 3, offset, metadata.headers())


@pytest.fixture(scope="module")
def garbage():
    """Offset -> (value, reason category, forged headers) of the GARBAGE records."""
    return {200 + i: (value, category, RecordMetadata.new("pin", RECEIVED))
            for i, (value, category) in enumerate(GARBAGE.items())}


@pytest.fixture(scope="module")
def events():
    """The canonical triple and five generated ones, as the API writes them."""
    triples = [CANONICAL_TRIPLE] + [dict(t.events()) for t in generate_triples(5, seed=3)]
    return [(name, triple[name], RecordMetadata.new(name, RECEIVED)) for triple in triples for name in EVENT_TYPES]


def run_stream(spark, directory, micro_batches: list[list[tuple]]) -> list[SinkRows]:
    """The sink rows of each micro-batch, through record_columns -> deduplicated -> cleaned."""
    source = directory / "kafka"
    for number, rows in enumerate(micro_batches):
        spark.createDataFrame(rows, KAFKA_SCHEMA).coalesce(1).write.parquet(str(source / f"batch={number}"))
        for path in (source / f"batch={number}").glob("*.parquet"):
            os.utime(path, (1_700_000_000 + number, 1_700_000_000 + number))  # the order files are read in
    stream = spark.readStream.schema(KAFKA_SCHEMA).option("maxFilesPerTrigger", 1).option("recursiveFileLookup", "true")
    outputs: list[SinkRows] = []
    spark.conf.set(NO_DATA_BATCHES, "false")  # as the job sets it: one micro-batch per file
    try:
        query = (
            cleaned(deduplicated(record_columns(stream.parquet(str(source))), "10 minutes"))
            .writeStream.foreachBatch(lambda batch, _: outputs.append(sink_rows(batch.collect())))
            .option("checkpointLocation", str(directory / "checkpoint"))
            .trigger(availableNow=True)
            .start()
        )
        query.awaitTermination()
    finally:
        spark.conf.unset(NO_DATA_BATCHES)
    return outputs


@pytest.fixture(scope="module")
def output(spark, events, garbage, tmp_path_factory):
    rows = [kafka_row(name, event, offset, metadata) for offset, (name, event, metadata) in enumerate(events)]
    rows.append(rows[0])  # the same record delivered twice
    rows.append(kafka_row("pin", CANONICAL_TRIPLE["pin"], 99, None))  # not written by the API
    rows += [garbage_row(value, offset, metadata) for offset, (value, _, metadata) in garbage.items()]
    first, = run_stream(spark, tmp_path_factory.mktemp("stream"), [rows])
    return first


def test_every_api_record_once_and_records_without_headers_skipped(output, events):
    for name in EVENT_TYPES:
        expected = sorted(metadata.event_id for event_type, _, metadata in events if event_type == name)
        assert sorted(row[TABLE_COLUMNS[name].index("event_id")] for row in output.events[name]) == expected


def test_values_that_are_no_valid_event_become_rejected_rows_with_the_reason(output, garbage):
    rejected = {row[REJECTED_COLUMNS.index("kafka_offset")]: dict(zip(REJECTED_COLUMNS, row)) for row in output.rejected}
    assert len(output.rejected) == len(rejected) and rejected.keys() == garbage.keys()
    for offset, (value, category, metadata) in garbage.items():
        row = rejected[offset]
        assert (row["kafka_topic"], row["kafka_partition"], row["event_id"], row["event_type"]) == (
            "pinterest.pin", offset % 3, metadata.event_id, "pin")
        assert row["received_at"] == RECEIVED.replace(tzinfo=None)
        assert row["reason"].split(":", 1)[0] == category, row["reason"]
        if category == "value is not UTF-8":
            assert row["value"] is None and base64.b64decode(row["value_base64"]) == value
        else:
            assert row["value_base64"] is None
            assert row["value"] == (value.decode().replace("\x00", "\ufffd") if value is not None else None)


def test_rows_are_the_shared_cleaning_of_the_events(spark, output, events):
    for name, et in EVENT_TYPES.items():
        raw = [(json.dumps(event), metadata.event_id) for event_type, event, metadata in events if event_type == name]
        frame = spark.createDataFrame(raw, "value string, event_id string")
        parsed = frame.select(F.from_json("value", spark_raw_schema(et)).alias("e"), "event_id").select("e.*", "event_id")
        reference = {row.event_id: row for row in clean(name, parsed).collect()}
        for row in output.events[name]:
            values = dict(zip(TABLE_COLUMNS[name], row))
            expected = reference[values["event_id"]]
            for column in EVENT_COLUMNS[name]:
                if column != "age_group":
                    assert values[column] == _naive_utc(expected[column]), (name, column)


def test_canonical_triple_cleaned_with_metadata(output, events):
    by_id = {name: {dict(zip(TABLE_COLUMNS[name], row))["event_id"]: dict(zip(TABLE_COLUMNS[name], row))
                    for row in rows} for name, rows in output.events.items()}
    pin, geo, user = (by_id[name][events[i][2].event_id] for i, name in enumerate(("pin", "geo", "user")))
    assert (pin["ind"], pin["poster_name"], pin["follower_count"], pin["title"]) == (7528, None, None, None)
    assert (pin["save_location"], pin["category"], pin["downloaded"]) == ("/data/mens-fashion", "mens-fashion", 0)
    assert (pin["received_at"], pin["kafka_partition"], pin["kafka_offset"]) == (RECEIVED.replace(tzinfo=None), 0, 0)
    assert (geo["country"], geo["coordinates"], geo["timestamp"]) == ("Albania", [-89.9787, -173.293], datetime(2020, 8, 28, 3, 52, 47))
    assert (user["user_name"], user["age"], user["age_group"]) == ("Abigail Ali", 20, "18-24")
    assert user["date_joined"] == datetime(2015, 10, 24, 11, 23, 51)


def _naive_utc(value):
    """PySpark returns TimestampType values in the local zone; the sink gets UTC wall-clock."""
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def test_a_duplicate_within_the_watermark_and_a_late_event_are_dropped(spark, events, tmp_path):
    """Late = older than the watermark as of the previous micro-batch (Spark's rule for late rows)."""
    name, event, metadata = events[0]
    late = RecordMetadata.new("pin", RECEIVED - timedelta(minutes=11))
    on_time = RecordMetadata.new("pin", RECEIVED - timedelta(minutes=9))
    outputs = run_stream(spark, tmp_path, [
        [kafka_row(name, event, 0, metadata)],
        [kafka_row(name, event, 1, metadata)],
        [kafka_row("pin", event, 2, late), kafka_row("pin", event, 3, on_time)],
    ])
    event_id = TABLE_COLUMNS["pin"].index("event_id")
    assert [[row[event_id] for row in output.events["pin"]] for output in outputs] == [
        [metadata.event_id], [], [on_time.event_id],
    ]


def test_nul_characters_become_replacement_characters_so_postgres_can_store_the_event():
    from streaming.source import storable

    assert storable("a\x00b") == "a\ufffdb"
    assert storable(["x\x00", "y"]) == ["x\ufffd", "y"]
    assert storable(7) == 7 and storable(None) is None and storable("plain") == "plain"
