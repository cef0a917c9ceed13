"""The Kafka side: the three topics as one cleaned stream, each record a line for PostgreSQL's COPY.

Every record of `pinterest.pin|geo|user` is read with its headers (`includeHeaders`); `event_id`,
`received_at` and `client_event_id` come from the headers the API writes
(pinterest_common.records; a record from before client ids has no `client_event_id`: its
event_id stands in). Records without the first two were not written by the API and are skipped
here (`api_records`): the streaming tables are keyed by the API's event_id, and the batch lake
keeps such records and quarantines them (`invalid_headers`). The plan keeps no state: a record
delivered twice (one event_id) and a client's retries (copies with event_ids of their own and
the same `client_event_id`) all pass, and the sink's keys keep one row (streaming/sink.py). No
record is late either: one that arrives after its window was written is stored and its windows
recomputed (streaming/aggregates.py), as the batch lake does.

Then, still in the streaming plan (built once, one Spark job per micro-batch), each record gets
its `quarantine_reason` from the contract's types and rules (pinterest_common.quarantine, the
batch clean step's check; PINTEREST_RELAXED_RULES relaxed): NULL for an event, else why it is
quarantined (`no_value`, `value_not_utf8`, `value_not_json`, `wrong_type:<field>`, a rule's name,
...). Its value is parsed once (a VARIANT) and each field read once as text, as the batch clean
step does, and cleaned by pinterest_common.cleaning.clean into a struct named after its event
type (NULL for the others). `copy_lines` routes each record by that reason alone: `target` its
event type (a row of ddl.TABLE_COLUMNS) or `quarantined` (a row of ddl.QUARANTINED_COLUMNS with the reason,
never an event row), and `line` that row in COPY's text format, timestamps as UTC wall-clock. The
driver only groups the lines by target (`lines_by_target`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, DataType, StringType, StructType, TimestampType

from pinterest_common.cleaning import age_group, clean
from pinterest_common.config import Settings
from pinterest_common.quarantine import parse_value, record_problem, variant_reason, with_value_fields
from pinterest_common.records import CLIENT_EVENT_ID, EVENT_ID, RECEIVED_AT
from pinterest_common.schema import EVENT_TYPES, USER, EventType

from .ddl import EVENT_COLUMNS, METADATA_COLUMNS, QUARANTINED_COLUMNS

# pinterest_common.records.format_received_at in Spark's pattern language.
RECEIVED_AT_PATTERN = "yyyy-MM-dd'T'HH:mm:ss.SSSSSSX"
EVENT_TYPE_OF_TOPIC = {event_type.topic: name for name, event_type in EVENT_TYPES.items()}
QUARANTINE_REASON = "quarantine_reason"
QUARANTINED = "quarantined"  # the target of the records quarantined_events holds
TARGETS = (*EVENT_TYPES, QUARANTINED)
_VARIANT = "_variant"  # the value parsed (pinterest_common.quarantine.parse_value)
COPY_NULL = "\\N"
# COPY's text format escapes these; PostgreSQL text cannot hold NUL at all: U+FFFD stands in.
COPY_ESCAPES = (("\\", "\\\\"), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"), ("\x00", "\ufffd"))


def header(name: str) -> Column:
    """The value of the Kafka header `name` as text; NULL when absent."""
    matching = F.filter("headers", lambda h: h["key"] == name)
    return F.try_element_at(matching, F.lit(1))["value"].cast("string")


def kafka_records(spark: SparkSession, settings: Settings) -> DataFrame:
    """The stream of the three topics, as `record_columns`."""
    raw = (
        spark.readStream.format("kafka")
        .options(**settings.kafka.spark_options())
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


def api_records(records: DataFrame) -> DataFrame:
    """The records the API wrote: those with an event_id and a received_at."""
    return records.where(F.col("event_id").isNotNull() & F.col("received_at").isNotNull())


def cleaned(records: DataFrame, relaxed_rules: Iterable[str] = ()) -> DataFrame:
    """`topic`, `value`, the metadata columns, `quarantine_reason` (NULL for an event;
    `relaxed_rules`: PINTEREST_RELAXED_RULES) and one struct of cleaned columns per event type.
    Each value is parsed once and each field read once, into columns of their own (as the batch
    clean step does, pinterest_common.quarantine.with_value_fields), which the checks of every
    event type and the cleaning share."""
    text = F.col("value").cast("string")
    parsed = records.select("*", parse_value(text).alias(_VARIANT))
    names = [name for event_type in EVENT_TYPES.values() for name in event_type.field_names]
    parsed, fields = with_value_fields(parsed, names, _VARIANT)
    first_problem = record_problem(text, ~F.is_valid_utf8("value"))
    reason = F.lit(None).cast("string")
    for event_type in EVENT_TYPES.values():
        check = variant_reason(
            event_type, F.col(_VARIANT), F.col("received_at"), first_problem, tuple(relaxed_rules), fields
        )
        reason = F.when(F.col("topic") == event_type.topic, check).otherwise(reason)
    df = parsed.select(
        "topic",
        *METADATA_COLUMNS,
        reason.alias(QUARANTINE_REASON),
        *(
            F.struct(*(fields.text[name].alias(name) for name in et.field_names)).alias(_raw(et))
            for et in EVENT_TYPES.values()
        ),
        "value",
    )
    for event_type in EVENT_TYPES.values():
        df = _cleaned_into_struct(df, event_type)
    return df.withColumn("received_at", F.col("received_at").cast("timestamp_ntz"))


def copy_lines(df: DataFrame) -> DataFrame:
    """Rows of `cleaned` as `target` (one of TARGETS) and `line`, the row of that target's table
    in COPY's text format: an event row when there is no quarantine reason, else a row of
    quarantined_events with the value as text (`value_base64` when it is not UTF-8)."""
    types = {field.name: field.dataType for field in df.schema.fields}
    reason, topic = F.col(QUARANTINE_REASON), F.col("topic")
    metadata = {name: copy_field(F.col(name), types[name]) for name in METADATA_COLUMNS}
    event_type = F.lit(None).cast("string")
    for name, et in EVENT_TYPES.items():
        event_type = F.when(topic == et.topic, F.lit(name)).otherwise(event_type)
    utf8 = F.is_valid_utf8("value")
    value, value_base64 = F.when(utf8, F.col("value").cast("string")), F.when(~utf8, F.base64("value"))
    quarantined = {
        **metadata,
        **{
            name: copy_field(column, StringType())
            for name, column in (
                ("kafka_topic", topic),
                ("event_type", event_type),
                ("reason", reason),
                ("value", value),
                ("value_base64", value_base64),
            )
        },
    }
    quarantined_line = _line(*(quarantined[name] for name in QUARANTINED_COLUMNS))
    target, line = F.when(reason.isNotNull(), F.lit(QUARANTINED)), F.when(reason.isNotNull(), quarantined_line)
    for name, et in EVENT_TYPES.items():
        struct = cast(StructType, types[name])  # each event type's cleaned columns, in one struct
        fields = [copy_field(F.col(name)[field.name], field.dataType) for field in struct.fields]
        target = target.when(topic == et.topic, F.lit(name))
        line = line.when(topic == et.topic, _line(*fields, *metadata.values()))
    return df.select(target.alias("target"), line.alias("line"))


def copy_field(column: Column, data_type: DataType) -> Column:
    """`column` as a field of COPY's text format: text escaped, an array of numbers as
    `{a,b}`, NULL as `\\N`."""
    if isinstance(data_type, StringType):
        text = column
        for char, escaped in COPY_ESCAPES:
            text = F.replace(text, F.lit(char), F.lit(escaped))
    elif isinstance(data_type, ArrayType):
        text = F.concat(F.lit("{"), F.array_join(column.cast("array<string>"), ",", "NULL"), F.lit("}"))
    else:
        text = column.cast("string")
    return F.coalesce(text, F.lit(COPY_NULL))


def lines_by_target(rows: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """Collected rows of `copy_lines` as target -> its lines."""
    out: dict[str, list[str]] = {target: [] for target in TARGETS}
    for target, line in rows:
        out[target].append(line)
    return out


def _line(*fields: Column) -> Column:
    return F.concat_ws("\t", *fields)


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
