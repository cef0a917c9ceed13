"""The streaming job's Spark plan, run as a stream over Kafka-shaped rows (parquet files, one
micro-batch each): headers (client_event_id too), no record dropped (neither twice nor late), the
shared cleaning, the sink's COPY lines (read back by a parser of COPY's text format written
here), and records the contract's types and rules refuse as quarantined rows with their reason
(relaxed rules no longer refuse)."""

from __future__ import annotations

import base64
import json
import os
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ingestion_api.canonical import CANONICAL_TRIPLE
from ingestion_api.emulator import generate_triples
from pinterest_common.cleaning import clean
from pinterest_common.records import RecordMetadata
from pinterest_common.schema import EVENT_TYPES, record_key, spark_raw_schema
from streaming.ddl import EVENT_COLUMNS, QUARANTINED_COLUMNS, TABLE_COLUMNS
from streaming.source import QUARANTINED, api_records, cleaned, copy_lines, lines_by_target, record_columns

KAFKA_SCHEMA = T.StructType(
    [
        T.StructField("key", T.BinaryType()),
        T.StructField("value", T.BinaryType()),
        T.StructField("topic", T.StringType()),
        T.StructField("partition", T.IntegerType()),
        T.StructField("offset", T.LongType()),
        T.StructField(
            "headers",
            T.ArrayType(
                T.StructType(
                    [
                        T.StructField("key", T.StringType()),
                        T.StructField("value", T.BinaryType()),
                    ]
                )
            ),
        ),
    ]
)
RECEIVED = datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)


def changed(event_type: str, **fields) -> bytes:
    return json.dumps({**CANONICAL_TRIPLE[event_type], **fields}).encode()


# Records with the API's headers that are no cleanable event: (event type, value, the reason),
# the reason written down here, not derived from the code under test.
GARBAGE = [
    ("pin", b"{not json", "value_not_json"),
    ("pin", b"\xff\xfe{}", "value_not_utf8"),
    ("pin", changed("pin", downloaded=True), "wrong_type:downloaded"),
    ("pin", b"[1, 2]", "value_not_object"),
    ("pin", b'{"title": "a\x00b"}', "value_not_json"),  # a raw control character; stored with U+FFFD
    ("pin", b"[" * 100_000, "value_not_json"),  # nested too deeply
    ("pin", None, "no_value"),  # a tombstone
    ("geo", changed("geo", latitude=91), "latitude_in_range"),  # an EDGE rule
]
# Events the API accepts that break a CLEANING rule: quarantined unless the rule is relaxed.
BREAKING_CLEANING_RULES = [
    ("pin", changed("pin", unique_id="not-a-uuid"), "unique_id_is_uuid"),
    ("geo", changed("geo", timestamp="2005-06-01 10:00:00"), "timestamp_not_before_launch"),
    ("user", changed("user", age=12), "age_at_least_13"),
]


def kafka_row(event_type: str, event: dict, offset: int, metadata: RecordMetadata | None) -> tuple:
    et = EVENT_TYPES[event_type]
    headers = metadata.headers() if metadata else None
    return (record_key(et, event), json.dumps(event).encode(), et.topic, offset % 3, offset, headers)


def garbage_row(event_type: str, value: bytes | None, offset: int, metadata: RecordMetadata) -> tuple:
    return (b"garbage", value, EVENT_TYPES[event_type].topic, offset % 3, offset, metadata.headers())


@pytest.fixture(scope="module")
def garbage():
    """Offset -> (event type, value, reason, headers) of the GARBAGE and BREAKING_CLEANING_RULES records."""
    return {
        200 + i: (event_type, value, reason, RecordMetadata.new(event_type, RECEIVED))
        for i, (event_type, value, reason) in enumerate(GARBAGE + BREAKING_CLEANING_RULES)
    }


@pytest.fixture(scope="module")
def events():
    """The canonical triple and five generated ones, as the API writes them."""
    triples = [CANONICAL_TRIPLE] + [dict(t.events()) for t in generate_triples(5, seed=3)]
    return [(name, triple[name], RecordMetadata.new(name, RECEIVED)) for triple in triples for name in EVENT_TYPES]


# Columns the sink writes that are no text, by how COPY's text format spells them.
INTEGERS = {"ind", "follower_count", "downloaded", "age", "kafka_partition", "kafka_offset"}
TIMESTAMPS = {"received_at", "timestamp", "date_joined"}
ARRAYS = {"coordinates"}
ESCAPED = {"n": "\n", "r": "\r", "t": "\t"}


def copy_value(field: str, column: str):
    """One field of a line in COPY's text format (PostgreSQL's documentation) as a Python value."""
    if field == "\\N":
        return None
    text = re.sub(r"\\(.)", lambda m: ESCAPED.get(m.group(1), m.group(1)), field)
    if column in INTEGERS:
        return int(text)
    if column in TIMESTAMPS:
        return datetime.fromisoformat(text)
    if column in ARRAYS:
        return [float(item) for item in text.strip("{}").split(",")]
    return text


def parsed(target: str, line: str) -> dict:
    columns = QUARANTINED_COLUMNS if target == QUARANTINED else TABLE_COLUMNS[target]
    fields = line.split("\t")
    assert len(fields) == len(columns) and "\n" not in line, line
    return {column: copy_value(field, column) for column, field in zip(columns, fields)}


def run_stream(spark, directory, micro_batches: list[list[tuple]], relaxed_rules: tuple[str, ...] = ()) -> list[dict]:
    """Per micro-batch, target -> its rows (dicts by column), through record_columns ->
    api_records -> cleaned -> copy_lines and read back from the COPY lines."""
    source = directory / "kafka"
    for number, rows in enumerate(micro_batches):
        spark.createDataFrame(rows, KAFKA_SCHEMA).coalesce(1).write.parquet(str(source / f"batch={number}"))
        for path in (source / f"batch={number}").glob("*.parquet"):
            os.utime(path, (1_700_000_000 + number, 1_700_000_000 + number))  # the order files are read in
    stream = spark.readStream.schema(KAFKA_SCHEMA).option("maxFilesPerTrigger", 1).option("recursiveFileLookup", "true")
    outputs: list[dict] = []

    def collect(batch, _):
        lines = lines_by_target(batch.collect())
        outputs.append({target: [parsed(target, line) for line in lines[target]] for target in lines})

    query = (
        copy_lines(cleaned(api_records(record_columns(stream.parquet(str(source)))), relaxed_rules))
        .writeStream.foreachBatch(collect)
        .option("checkpointLocation", str(directory / "checkpoint"))
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination()
    return outputs


@pytest.fixture(scope="module")
def output(spark, events, garbage, tmp_path_factory):
    rows = [kafka_row(name, event, offset, metadata) for offset, (name, event, metadata) in enumerate(events)]
    rows.append(rows[0])  # the same record delivered twice
    rows.append(kafka_row("pin", CANONICAL_TRIPLE["pin"], 99, None))  # not written by the API
    rows += [
        garbage_row(event_type, value, offset, metadata) for offset, (event_type, value, _, metadata) in garbage.items()
    ]
    (first,) = run_stream(spark, tmp_path_factory.mktemp("stream"), [rows])
    return first


def test_every_api_record_reaches_the_sink_and_records_without_headers_are_skipped(output, events):
    """Only the API's events: the quarantined records and the one without headers are no event
    row; the record delivered twice is offered twice (the sink's key stores it once)."""
    for name in EVENT_TYPES:
        expected = sorted(metadata.event_id for event_type, _, metadata in events if event_type == name)
        if name == events[0][0]:
            expected = sorted([*expected, events[0][2].event_id])
        assert sorted(row["event_id"] for row in output[name]) == expected


def test_records_that_are_no_cleanable_event_become_quarantined_rows_with_the_reason(output, garbage):
    quarantined = {row["kafka_offset"]: row for row in output[QUARANTINED]}
    assert len(output[QUARANTINED]) == len(quarantined) and quarantined.keys() == garbage.keys()
    for offset, (event_type, value, reason, metadata) in garbage.items():
        row = quarantined[offset]
        assert (row["kafka_topic"], row["kafka_partition"], row["event_id"], row["event_type"]) == (
            EVENT_TYPES[event_type].topic,
            offset % 3,
            metadata.event_id,
            event_type,
        )
        assert (row["received_at"], row["client_event_id"]) == (RECEIVED.replace(tzinfo=None), metadata.event_id)
        assert row["reason"] == reason
        if reason == "value_not_utf8":
            assert row["value"] is None and base64.b64decode(row["value_base64"]) == value
        else:
            assert row["value_base64"] is None
            assert row["value"] == (value.decode().replace("\x00", "\ufffd") if value is not None else None)


def test_relaxed_cleaning_rules_no_longer_quarantine(spark, tmp_path):
    relaxed = tuple(reason for _, _, reason in BREAKING_CLEANING_RULES)
    records = [
        (event_type, value, RecordMetadata.new(event_type, RECEIVED))
        for event_type, value, _ in (*BREAKING_CLEANING_RULES, GARBAGE[0], GARBAGE[-1])
    ]
    rows = [
        garbage_row(event_type, value, offset, metadata) for offset, (event_type, value, metadata) in enumerate(records)
    ]
    (output,) = run_stream(spark, tmp_path, [rows], relaxed_rules=relaxed)
    for event_type, _, metadata in records[:3]:
        assert [row["event_id"] for row in output[event_type]] == [metadata.event_id]
    by_id = {row["event_id"]: row["reason"] for row in output[QUARANTINED]}
    assert by_id == {
        records[3][2].event_id: "value_not_json",
        records[4][2].event_id: "latitude_in_range",
    }  # EDGE stays
    assert output["user"][0]["age"] == 12


def test_rows_are_the_shared_cleaning_of_the_events(spark, output, events):
    for name, et in EVENT_TYPES.items():
        raw = [(json.dumps(event), metadata.event_id) for event_type, event, metadata in events if event_type == name]
        frame = spark.createDataFrame(raw, "value string, event_id string")
        parsed = frame.select(F.from_json("value", spark_raw_schema(et)).alias("e"), "event_id").select(
            "e.*", "event_id"
        )
        reference = {row.event_id: row for row in clean(name, parsed).collect()}
        for values in output[name]:
            expected = reference[values["event_id"]]
            for column in EVENT_COLUMNS[name]:
                if column != "age_group":
                    assert values[column] == _naive_utc(expected[column]), (name, column)


def test_canonical_triple_cleaned_with_metadata(output, events):
    by_id = {name: {row["event_id"]: row for row in output[name]} for name in EVENT_TYPES}
    pin, geo, user = (by_id[name][events[i][2].event_id] for i, name in enumerate(("pin", "geo", "user")))
    assert (pin["ind"], pin["poster_name"], pin["follower_count"], pin["title"]) == (7528, None, None, None)
    assert (pin["save_location"], pin["category"], pin["downloaded"]) == ("/data/mens-fashion", "mens-fashion", 0)
    assert (pin["received_at"], pin["kafka_partition"], pin["kafka_offset"]) == (RECEIVED.replace(tzinfo=None), 0, 0)
    assert (geo["country"], geo["coordinates"], geo["timestamp"]) == (
        "Albania",
        [-89.9787, -173.293],
        datetime(2020, 8, 28, 3, 52, 47),
    )
    assert (user["user_name"], user["age"], user["age_group"]) == ("Abigail Ali", 20, "18-24")
    assert user["date_joined"] == datetime(2015, 10, 24, 11, 23, 51)


def _naive_utc(value):
    """PySpark returns TimestampType values in the local zone; the sink gets UTC wall-clock."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def test_no_record_is_dropped_neither_one_delivered_twice_nor_a_late_one(spark, events, tmp_path):
    """The plan keeps no state: the sink's keys store a record once, and a late event is stored
    and its windows recomputed."""
    name, event, metadata = events[0]
    late = RecordMetadata.new("pin", RECEIVED - timedelta(days=2))
    outputs = run_stream(
        spark,
        tmp_path,
        [
            [kafka_row(name, event, 0, metadata)],
            [kafka_row(name, event, 1, metadata)],
            [kafka_row("pin", event, 2, late)],
        ],
    )
    assert [[row["event_id"] for row in output["pin"]] for output in outputs] == [
        [metadata.event_id],
        [metadata.event_id],
        [late.event_id],
    ]
    assert outputs[2]["pin"][0]["received_at"] == (RECEIVED - timedelta(days=2)).replace(tzinfo=None)


def test_text_with_copys_special_characters_and_nul_survives_the_copy_line(spark, events, tmp_path):
    """Backslashes, tabs, newlines and carriage returns are escaped; PostgreSQL text cannot hold
    NUL, so each becomes U+FFFD and the event is stored rather than failing its micro-batch."""
    title = "a\\N\tb\nc\rd\\e \x00 \\."
    value = changed("pin", title=title)
    (output,) = run_stream(spark, tmp_path, [[garbage_row("pin", value, 0, RecordMetadata.new("pin", RECEIVED))]])
    assert [row["title"] for row in output["pin"]] == [title.replace("\x00", "\ufffd")]


def test_client_copies_all_reach_the_sink_with_their_client_event_id_and_older_records_name_themselves(
    spark, events, tmp_path
):
    """A client's retries are copies with event_ids of their own: none is dropped here (the sink
    keeps the first and counts the others); a record without the header, or with an empty one, is
    named by its event_id."""
    _, event, _ = events[0]
    copies = [RecordMetadata.new("pin", RECEIVED, client_event_id="order-7") for _ in range(3)]
    older = replace(RecordMetadata.new("pin", RECEIVED), client_event_id=None)
    empty = replace(RecordMetadata.new("pin", RECEIVED), client_event_id="")
    assert "client_event_id" not in dict(older.headers()) and dict(empty.headers())["client_event_id"] == b""
    first, second = run_stream(
        spark,
        tmp_path,
        [
            [kafka_row("pin", event, offset, metadata) for offset, metadata in enumerate([*copies[:2], older, empty])],
            [kafka_row("pin", event, 4, copies[2])],
        ],
    )
    named = {row["event_id"]: row["client_event_id"] for output in (first, second) for row in output["pin"]}
    assert named == {
        **{copy.event_id: "order-7" for copy in copies},
        older.event_id: older.event_id,
        empty.event_id: empty.event_id,
    }


def test_a_checkpoint_with_the_dedup_state_of_earlier_releases_resumes_where_it_stopped(spark, events, tmp_path):
    """Earlier releases deduplicated in Spark; Spark refuses a plan without that operator on their
    checkpoint until its state is removed, then the query resumes after its last batch."""
    from streaming.job import drop_dedup_state

    name, event, metadata = events[0]
    source, checkpoint = tmp_path / "kafka", str(tmp_path / "checkpoint")
    stream = spark.readStream.schema(KAFKA_SCHEMA).option("maxFilesPerTrigger", 1).option("recursiveFileLookup", "true")
    seen: list[int] = []

    def run(frame) -> None:
        frame.writeStream.foreachBatch(lambda batch, _: seen.append(batch.count())).option(
            "checkpointLocation", checkpoint
        ).trigger(availableNow=True).start().awaitTermination()

    for number in range(2):
        row = kafka_row(name, event, number, RecordMetadata.new(name, RECEIVED))
        spark.createDataFrame([row], KAFKA_SCHEMA).write.parquet(str(source / f"batch={number}"))
        records = api_records(record_columns(stream.parquet(str(source))))
        if number == 0:  # as the earlier releases ran
            run(records.withWatermark("received_at", "10 minutes").dropDuplicatesWithinWatermark(["event_id"]))
            assert (tmp_path / "checkpoint" / "state").is_dir()
        else:
            drop_dedup_state(spark, checkpoint)
            assert not (tmp_path / "checkpoint" / "state").exists()
            run(copy_lines(cleaned(records)))
    assert [count for count in seen if count] == [1, 1]  # the second run read the second file alone
