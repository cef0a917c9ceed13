"""The Kafka side: the three topics as one cleaned stream, and a micro-batch as sink rows.

Every record of `pinterest.pin|geo|user` is read with its headers (`includeHeaders`); `event_id`,
`received_at` and `client_event_id` come from the headers the API writes
(pinterest_common.records; a record from before client ids has no `client_event_id`: its
event_id stands in). Records without the first two were not written by the API and are skipped
here: the streaming tables are keyed by the API's event_id, and the batch lake keeps such records
and quarantines them (`invalid_headers`). A watermark on `received_at` bounds the only state, the
event_ids seen (`dropDuplicatesWithinWatermark`: the same record delivered twice): a record whose
`received_at` is older than the watermark of the previous micro-batch (the newest `received_at`
seen minus PINTEREST_STREAMING_WATERMARK) is late, and Spark drops it (counted in the query's
progress). A client's retries are copies with event_ids of their own and the same
`client_event_id`: they pass here, so that the sink (streaming/sink.py) keeps the first copy by
Kafka offset and counts the others.

Then, still in the streaming plan (built once, one Spark job per micro-batch), each record gets
its `quarantine_reason` from the contract's types and rules (pinterest_common.quarantine, the
batch clean step's check; PINTEREST_RELAXED_RULES relaxed): NULL for an event, else why it is
quarantined (`no_value`, `value_not_utf8`, `value_not_json`, `wrong_type:<field>`, a rule's name,
...). Its value is parsed with the shared raw schema (pinterest_common.schema.spark_raw_schema)
and cleaned by pinterest_common.cleaning.clean into a struct named after its event type (NULL for
the others); the value's bytes are kept for quarantined records only. Timestamps leave Spark as
UTC wall-clock (timestamp_ntz), so collecting them does not depend on the local time zone.

On the driver, `sink_rows` routes each collected row by that column alone: no reason, an event
row; a reason, a row of `quarantined_events` with it, never an event row.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from pyspark.sql import Column, DataFrame, Row, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import TimestampType

from pinterest_assets.queries.analytics import age_group
from pinterest_common.cleaning import clean
from pinterest_common.config import Settings
from pinterest_common.quarantine import quarantine_reason, record_problem
from pinterest_common.records import CLIENT_EVENT_ID, EVENT_ID, RECEIVED_AT, base64_if_not_utf8, utf8_text
from pinterest_common.schema import EVENT_TYPES, USER, EventType, spark_raw_schema

from .ddl import EVENT_COLUMNS, METADATA_COLUMNS

# pinterest_common.records.format_received_at in Spark's pattern language.
RECEIVED_AT_PATTERN = "yyyy-MM-dd'T'HH:mm:ss.SSSSSSX"
EVENT_TYPE_OF_TOPIC = {event_type.topic: name for name, event_type in EVENT_TYPES.items()}
QUARANTINE_REASON = "quarantine_reason"


def header(name: str) -> Column:
    """The value of the Kafka header `name` as text; NULL when absent."""
    matching = F.filter("headers", lambda h: h["key"] == name)
    return F.try_element_at(matching, F.lit(1))["value"].cast("string")


def kafka_records(spark: SparkSession, settings: Settings) -> DataFrame:
    """The stream of the three topics, as `record_columns`."""
    raw = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", settings.kafka_bootstrap_servers)
        .option("subscribe", ",".join(EVENT_TYPE_OF_TOPIC))
        .option("startingOffsets", "earliest")
        .option("includeHeaders", "true")
        .option("maxOffsetsPerTrigger", settings.streaming_max_offsets_per_trigger)
        .load()
    )
    return record_columns(raw)


def record_columns(kafka: DataFrame) -> DataFrame:
    """Kafka rows as topic, value (the bytes), event_id, received_at, the Kafka coordinates and
    client_event_id (the header; the event_id when absent or empty)."""
    event_id = header(EVENT_ID)
    return kafka.select(
        "topic",
        "value",
        event_id.alias("event_id"),
        F.try_to_timestamp(header(RECEIVED_AT), F.lit(RECEIVED_AT_PATTERN)).alias("received_at"),
        F.col("partition").alias("kafka_partition"),
        F.col("offset").alias("kafka_offset"),
        F.coalesce(F.nullif(header(CLIENT_EVENT_ID), F.lit("")), event_id).alias("client_event_id"),
    )


def deduplicated(records: DataFrame, watermark: str) -> DataFrame:
    """API records only, each event_id once within the watermark on received_at (a client's
    copies, with event_ids of their own, all pass: the sink keeps the first and counts the others)."""
    return (
        records.where(F.col("event_id").isNotNull() & F.col("received_at").isNotNull())
        .withWatermark("received_at", watermark)
        .dropDuplicatesWithinWatermark(["event_id"])
    )


def cleaned(records: DataFrame, relaxed_rules: Iterable[str] = ()) -> DataFrame:
    """`topic`, `value` (quarantined records only), the metadata columns, `quarantine_reason`
    (NULL for an event; `relaxed_rules`: PINTEREST_RELAXED_RULES) and one struct of cleaned
    columns per event type."""
    text = F.col("value").cast("string")
    reason = reason_of_topic(text, ~F.is_valid_utf8("value"), F.col("received_at"), tuple(relaxed_rules))
    df = records.select(
        "topic", *METADATA_COLUMNS,
        reason.alias(QUARANTINE_REASON),
        *(F.when(F.col("topic") == et.topic, F.from_json(text, spark_raw_schema(et))).alias(_raw(et))
          for et in EVENT_TYPES.values()),
        "value",
    )
    df = df.withColumn("value", F.when(F.col(QUARANTINE_REASON).isNotNull(), F.col("value")))
    for event_type in EVENT_TYPES.values():
        df = _cleaned_into_struct(df, event_type)
    return df.withColumn("received_at", F.col("received_at").cast("timestamp_ntz"))


def reason_of_topic(text: Column, not_utf8: Column, received_at: Column, relaxed_rules: tuple[str, ...]) -> Column:
    """pinterest_common.quarantine.quarantine_reason for the event type of the record's topic."""
    reason = F.lit(None).cast("string")
    for event_type in EVENT_TYPES.values():
        check = quarantine_reason(event_type, text, received_at, first_problem=record_problem(text, not_utf8),
                                  relaxed=relaxed_rules)
        reason = F.when(F.col("topic") == event_type.topic, check).otherwise(reason)
    return reason


NUL, REPLACEMENT = "\x00", "\ufffd"


def storable(value):
    """PostgreSQL text cannot hold NUL characters, which valid JSON strings may: each becomes
    U+FFFD, so that such an event is stored rather than failing its whole micro-batch."""
    if isinstance(value, str):
        return value.replace(NUL, REPLACEMENT) if NUL in value else value
    if isinstance(value, list):
        return [storable(item) for item in value]
    return value


class SinkRows(NamedTuple):
    events: dict[str, list[tuple]]  # event type -> rows in ddl.TABLE_COLUMNS order
    quarantined: list[tuple]  # rows in ddl.QUARANTINED_COLUMNS order


def sink_rows(rows: Iterable[Row]) -> SinkRows:
    """Collected rows of `cleaned` as the sink's tuples, routed by their `quarantine_reason`:
    per event type the rows without one, and the others as quarantined rows with it."""
    out = SinkRows({name: [] for name in EVENT_TYPES}, [])
    for row in rows:
        name = EVENT_TYPE_OF_TOPIC[row["topic"]]
        reason = row[QUARANTINE_REASON]
        if reason is None:
            out.events[name].append(_storable_tuple(*row[name], *(row[column] for column in METADATA_COLUMNS)))
        else:
            out.quarantined.append(_quarantined_row(row, name, reason))
    return out


def _quarantined_row(row: Row, event_type: str, reason: str) -> tuple:
    """A record that is no cleanable event: Kafka coordinates, headers, reason, value."""
    value = row["value"]
    return _storable_tuple(
        row["topic"], row["kafka_partition"], row["kafka_offset"], row["event_id"], event_type,
        row["received_at"], reason, utf8_text(value), base64_if_not_utf8(value), row["client_event_id"],
    )


def _storable_tuple(*values) -> tuple:
    return tuple(storable(v) for v in values)


def _raw(event_type: EventType) -> str:
    return f"raw_{event_type.name}"


def _cleaned_into_struct(df: DataFrame, event_type: EventType) -> DataFrame:
    passthrough = [name for name in df.columns if name != _raw(event_type)]
    events = clean(event_type.name, df.select(f"{_raw(event_type)}.*", *passthrough))
    if event_type is USER:
        events = events.withColumn("age_group", age_group(F.col("age")))
    fields = [_utc_wall_clock(events, name) for name in EVENT_COLUMNS[event_type.name]]
    is_type = F.col("topic") == event_type.topic
    return events.select(*passthrough, F.when(is_type, F.struct(*fields)).alias(event_type.name))


def _utc_wall_clock(df: DataFrame, name: str) -> Column:
    column = df[name]
    if isinstance(df.schema[name].dataType, TimestampType):
        return column.cast("timestamp_ntz").alias(name)
    return column
