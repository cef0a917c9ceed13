"""The clean step's split and the data-quality figures its checks report (plain PySpark).

`first_copies` sets aside the later copies of a client-named event (the same (event type,
client_event_id) again: a client's retry; the first copy wins, against an index of the first
copies of earlier runs); `triage` gives every other raw lake line its quarantine reason (NULL: it
is cleaned), with the contract's rules (pinterest_common.quarantine); `quarantine_rows` keeps the refused lines whole, with the
reason and when; `lines_of` turns them back into lake lines, so that re-cleaning them after a
rule was relaxed runs the very same code.

The figures: `violations` (cleaned rows that break a rule the cleaning claims to enforce: the
pipeline is wrong), `duplicates` (one row per key and per event_id), `unknown_categories` (new
data, worth a warning) and `accounting` (every raw line is a cleaned row's source or quarantined,
exactly once, or a later copy of an event that is).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from pinterest_common.cleaning import clean
from pinterest_common.quarantine import lake_line_problem, quarantine_reason
from pinterest_common.schema import CATEGORIES, EVENT_TYPES, PIN_SENTINELS

from .lake_tables import LAKE_LINE_SCHEMA, raw_events_from_lines, received_at_timestamp

REASON, QUARANTINED_AT = "reason", "quarantined_at"
LINE_COLUMNS = tuple(LAKE_LINE_SCHEMA.names)
QUARANTINE_COLUMNS = (*LINE_COLUMNS, REASON, QUARANTINED_AT)
KAFKA_POSITION = ("kafka_topic", "kafka_partition", "kafka_offset")
EXAMPLES = 5
# The first copies' index: per (event type) client id, where its first copy is in Kafka.
DEDUP_ID = "dedup_id"
INDEX_COLUMNS = (DEDUP_ID, *KAFKA_POSITION)
INDEX_SCHEMA = "dedup_id string, kafka_topic string, kafka_partition int, kafka_offset bigint"


def dedup_id() -> Column:
    """What a lake line deduplicates on: its client_event_id, or its event_id for records from
    before client ids (pinterest_common.records); NULL for a line with neither (it is quarantined)."""
    return F.coalesce("client_event_id", "event_id")


def _position(prefix: str = "") -> Column:
    return F.struct(*(F.col(prefix + name).alias(name) for name in KAFKA_POSITION))


def first_copies(lines: DataFrame, index: DataFrame) -> tuple[DataFrame, DataFrame, DataFrame]:
    """`lines` split into (first copies, later copies), and the new index entries (the first copies
    of ids the `index` did not know). A line is a first copy when the index names its position, or
    when the index does not know its id and no line of `lines` with that id came before it (by
    received_at, then Kafka position); a line without an id is its own first copy."""
    known = index.select(DEDUP_ID, _position().alias("_first"))
    earliest = Window.partitionBy(DEDUP_ID).orderBy(F.col("received_at").asc_nulls_last(), *KAFKA_POSITION)
    ranked = lines.withColumn(DEDUP_ID, dedup_id()).join(known, DEDUP_ID, "left")
    ranked = ranked.withColumn("_rank", F.when(F.col(DEDUP_ID).isNotNull(), F.row_number().over(earliest)))
    is_first = (
        F.col(DEDUP_ID).isNull()
        | (F.col("_first").isNull() & (F.col("_rank") == 1))
        | F.coalesce(F.col("_first") == _position(), F.lit(False))
    )
    ranked = ranked.withColumn("_is_first", is_first)
    new_entries = ranked.where(F.col("_is_first") & F.col(DEDUP_ID).isNotNull() & F.col("_first").isNull())
    return (
        ranked.where("_is_first").select(*LINE_COLUMNS),
        ranked.where(~F.col("_is_first")).select(*LINE_COLUMNS),
        new_entries.select(*INDEX_COLUMNS),
    )


def triage(lines: DataFrame, event_type: str, relaxed: Iterable[str] = ()) -> DataFrame:
    """The lake lines with a `reason` column: NULL for a line that is cleaned, else why not."""
    et = EVENT_TYPES[event_type]
    stamped = lines.withColumn("received_at_ts", received_at_timestamp())
    reason = quarantine_reason(et, F.col("value"), F.col("received_at_ts"), lake_line_problem(et, LINE_COLUMNS), relaxed)
    return stamped.withColumn(REASON, reason).drop("received_at_ts")


def quarantine_rows(triaged: DataFrame, now: datetime) -> DataFrame:
    """The refused lines of `triage`, whole, with their reason and `quarantined_at`."""
    return triaged.where(F.col(REASON).isNotNull()).select(*LINE_COLUMNS, REASON, F.lit(now).alias(QUARANTINED_AT))


def keep_first_quarantined_at(quarantined: DataFrame, earlier: DataFrame) -> DataFrame:
    """`quarantined`, where a line that `earlier` (a quarantine) holds keeps its first moment."""
    first = earlier.select(*KAFKA_POSITION, F.col(QUARANTINED_AT).alias("first_quarantined_at"))
    joined = quarantined.join(first, list(KAFKA_POSITION), "left")
    return joined.withColumn(QUARANTINED_AT, F.coalesce("first_quarantined_at", QUARANTINED_AT)).select(*QUARANTINE_COLUMNS)


def lines_of(quarantined: DataFrame) -> DataFrame:
    """Quarantine rows as the lake lines they came from."""
    return quarantined.select(*LINE_COLUMNS)


def cleaned_events(triaged: DataFrame, event_type: str, rule_changes=None) -> DataFrame:
    """The cleanable lines of `triage`, cleaned."""
    passing = triaged.where(F.col(REASON).isNull()).select(*LINE_COLUMNS)
    return clean(event_type, raw_events_from_lines(passing, EVENT_TYPES[event_type]), rule_changes)


def examples(quarantined: DataFrame, limit: int = EXAMPLES) -> list[dict]:
    """One quarantined line per reason (up to `limit`): the reason, where it was, its value's start."""
    first = F.min(F.struct(*KAFKA_POSITION, F.substring(F.coalesce("value", "value_base64"), 1, 120).alias("value")))
    rows = quarantined.groupBy(REASON).agg(first.alias("first")).orderBy(REASON).limit(limit).collect()
    return [{"reason": row[REASON], "kafka_topic": row["first"]["kafka_topic"],
             "kafka_partition": row["first"]["kafka_partition"], "kafka_offset": row["first"]["kafka_offset"],
             "value": row["first"]["value"]} for row in rows]


def reason_counts(quarantined: DataFrame) -> dict[str, int]:
    return {row[REASON]: row["count"] for row in quarantined.groupBy(REASON).count().orderBy(REASON).collect()}


def violations(table: str, frame: DataFrame) -> dict[str, int]:
    """Cleaned rows breaking each rule the cleaning enforces for `table`, in one aggregation."""
    count = lambda condition: F.count_if(F.coalesce(condition, F.lit(False)))  # noqa: E731
    if table == "cleaned_pins":
        sentinel_left = F.lit(False)
        for column, sentinels in PIN_SENTINELS.items():
            sentinel_left = sentinel_left | F.col(column).cast("string").isin(list(sentinels))
        aggregates = {
            "no_sentinel_left": count(sentinel_left),
            "follower_count_not_negative": count(F.col("follower_count") < 0),
            "save_location_is_path": count(F.col("save_location").isNotNull() & ~F.col("save_location").startswith("/data/")),
        }
    elif table == "cleaned_geo":
        lat, lon = F.col("coordinates")[0], F.col("coordinates")[1]
        aggregates = {"coordinates_in_range": count(~lat.between(-90, 90) | ~lon.between(-180, 180))}
    else:
        aggregates = {"age_in_range": count(~F.col("age").between(0, 120))}
    row = frame.agg(*(expr.alias(name) for name, expr in aggregates.items())).first()
    return {name: int(row[name] or 0) for name in aggregates}


def duplicates(frame: DataFrame, key: str) -> dict[str, int]:
    """Rows beyond the first per `key` and per event_id."""
    row = frame.agg(
        F.count(F.lit(1)).alias("rows"), F.count_distinct(key).alias("keys"), F.count_distinct("event_id").alias("ids")
    ).first()
    return {"duplicate_keys": row["rows"] - row["keys"], "duplicate_event_ids": row["rows"] - row["ids"]}


def unknown_categories(pins: DataFrame) -> dict[str, int]:
    """Cleaned pins per category outside the contract's list."""
    unknown = pins.where(F.col("category").isNotNull() & ~F.col("category").isin(list(CATEGORIES)))
    return {row["category"]: row["count"] for row in unknown.groupBy("category").count().orderBy(F.desc("count")).collect()}


def accounting(lines: DataFrame, quarantined: DataFrame, cleaned: DataFrame, index: DataFrame,
               event_type: str) -> dict[str, int]:
    """How the raw lake's lines are accounted for: `lines` (the whole raw lake), `quarantined` (the
    quarantine), `cleaned` (the cleaned table) and `index` (the first copies). A line with an id is
    its id's first copy (the index names its position) or a later copy; every first copy (and
    line without an id) is quarantined or cleaned: a quarantined row is a line of the lake, once;
    the keys of the other lines are exactly the cleaned table's keys (a later version of a key
    supersedes an earlier one)."""
    key = EVENT_TYPES[event_type].key_field
    key = "ind" if key == "index" else key
    firsts = index.select(DEDUP_ID, _position().alias("_first"))
    keyed = lines.withColumn(DEDUP_ID, dedup_id()).join(firsts, DEDUP_ID, "left")
    later_copy = F.col(DEDUP_ID).isNotNull() & F.col("_first").isNotNull() & (F.col("_first") != _position())
    keyed = keyed.withColumn("_later_copy", later_copy).withColumn(
        "_not_indexed", F.col(DEDUP_ID).isNotNull() & F.col("_first").isNull())
    positions = quarantined.groupBy(*KAFKA_POSITION).agg(F.count(F.lit(1)).alias("copies"))
    marked = keyed.withColumn("in_lake", F.lit(True)).join(positions, list(KAFKA_POSITION), "full_outer")
    counts = marked.agg(
        F.count_if(F.col("in_lake")).alias("raw_lines"),
        F.count_if(F.col("in_lake") & F.col("copies").isNotNull()).alias("quarantined_lines"),
        F.count_if(F.col("_later_copy")).alias("later_copies"),
        F.count_if(F.col("_not_indexed")).alias("lines_not_indexed"),
        F.count_if(F.col("_later_copy") & F.col("copies").isNotNull()).alias("later_copies_quarantined"),
        F.count_if(F.col("in_lake").isNull()).alias("quarantined_not_in_lake"),
        F.count_if(F.col("copies") > 1).alias("quarantined_twice"),
    ).first().asDict()
    passing = marked.where(F.col("in_lake") & F.col("copies").isNull() & ~F.col("_later_copy")).select(*LINE_COLUMNS)
    passing_keys = clean(event_type, raw_events_from_lines(passing, EVENT_TYPES[event_type])).select(key).distinct()
    cleaned_keys = cleaned.select(key).distinct()
    counts["cleaned_rows"] = cleaned.count()
    counts["cleaned_keys_missing"] = passing_keys.join(cleaned_keys, key, "left_anti").count()
    counts["cleaned_keys_extra"] = cleaned_keys.join(passing_keys, key, "left_anti").count()
    return counts


IMBALANCES = (
    "quarantined_not_in_lake", "quarantined_twice", "cleaned_keys_missing", "cleaned_keys_extra", "lines_not_indexed",
    "later_copies_quarantined",
)


def balanced(counts: dict[str, int]) -> bool:
    return not any(counts[name] for name in IMBALANCES)
