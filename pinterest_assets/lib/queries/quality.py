"""The clean step's split and the data-quality figures its checks report (plain PySpark).

The split reads each new raw lake line once. `triage` parses its value once (a VARIANT,
pinterest_common.quarantine.parse_value), reads each field of it once, and gives the line its
quarantine `reason` (NULL: it is cleaned) and its event's fields as text (`event`), both from
those; `stage` is
`triage` keeping the whole line only where it is quarantined (what the clean step persists).
`contested_ids` and `mark_copies` set aside the later copies of a client-named event (the same
(event type, client_event_id) again: a client's retry; the first copy wins, against an index of
the first copies of earlier runs): ids seen once and unknown to the index, nearly all, need no
shuffle of the lines. From the marked lines: `cleaned_events`, `quarantine_rows` (the refused
lines whole, with the reason and when), `index_entries`, and `split_counts` (one aggregation);
`fold` merges the cleaned events into the table (the latest per key).
`lines_of` turns quarantine rows back into lake lines, so that re-cleaning them after a rule was
relaxed runs the very same code.

The figures: `table_figures` (rows, one row per key and per event_id, cleaned rows that break a
rule the cleaning claims to enforce, NULL rates, unknown categories: one aggregation),
`category_counts` (new data, worth a warning), and `accounting`: every raw line is a cleaned
row, superseded by a later version of its key, quarantined or a later copy, exactly once. It
needs no second read of the raw lake: running totals (`TOTALS`, kept in the table's state) add
up each run's lines as read, and are set against the tables as they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from pyspark.sql import Column, DataFrame, Observation, Row
from pyspark.sql import functions as F

from pinterest_common.cleaning import clean, dedup
from pinterest_common.quarantine import lake_line_problem, parse_value, variant_reason, with_value_fields
from pinterest_common.schema import CATEGORIES, EVENT_TYPES, PIN_SENTINELS

from .lake_tables import LAKE_LINE_SCHEMA, received_at_timestamp

REASON, QUARANTINED_AT, EVENT = "reason", "quarantined_at", "event"
LINE_COLUMNS = tuple(LAKE_LINE_SCHEMA.names)
QUARANTINE_COLUMNS = (*LINE_COLUMNS, REASON, QUARANTINED_AT)
KAFKA_POSITION = ("kafka_topic", "kafka_partition", "kafka_offset")
# What only a quarantined line needs kept: the rest of a line is its event's fields and metadata.
WHOLE_LINE_ONLY = ("key", "value", "key_base64", "value_base64", "headers", "kafka_timestamp")
EXAMPLES = 5
# The first copies' index: per (event type) client id, where its first copy is in Kafka.
DEDUP_ID = "dedup_id"
INDEX_COLUMNS = (DEDUP_ID, *KAFKA_POSITION)
INDEX_SCHEMA = "dedup_id string, kafka_topic string, kafka_partition int, kafka_offset bigint"
FIRST, IS_FIRST, NEW_ENTRY = "first_copy", "is_first_copy", "new_index_entry"
# A line read again from the quarantine (a recheck), not new to the lake.
REREAD = "reread"

# The running totals of a cleaned table's state: raw lines folded in, later copies set aside,
# cleaned rows superseded by a later version of their key, lines without any id (no index
# entry), and cleaned rows dropped for a NULL key (a pipeline fault).
TOTALS = ("raw_lines", "later_copies", "superseded", "without_id", "dropped_without_key")
IMBALANCES = ("unaccounted_lines", "index_entries_missing", "quarantined_twice", "dropped_without_key")


def dedup_id() -> Column:
    """What a lake line deduplicates on: its client_event_id, or its event_id for records from
    before client ids (pinterest_common.records); NULL for a line with neither (it is quarantined)."""
    return F.coalesce("client_event_id", "event_id")


def _position(prefix: str = "") -> Column:
    return F.struct(*(F.col(prefix + name).alias(name) for name in KAFKA_POSITION))


def triage(
    lines: DataFrame, event_type: str, relaxed: Iterable[str] = (), record_check: Column | None = None
) -> DataFrame:
    """The lake lines with `reason` (NULL for a line that is cleaned, else why not) and `event`
    (its fields as text), from one parse of each value. `record_check`: the check of the record
    itself (default `lake_line_problem`, which may read `received_at_ts`, the parsed received_at)."""
    et = EVENT_TYPES[event_type]
    variant, stamp = "_variant", "received_at_ts"  # lake_line_problem reads received_at_ts
    parsed = lines.select("*", received_at_timestamp().alias(stamp), parse_value(F.col("value")).alias(variant))
    parsed, fields = with_value_fields(parsed, et.field_names, variant)
    first = record_check if record_check is not None else lake_line_problem(et, LINE_COLUMNS)
    reason = variant_reason(et, F.col(variant), F.col(stamp), first, relaxed, fields)
    event = F.struct(*(fields.text[name].alias(name) for name in et.field_names))
    return parsed.select(*lines.columns, reason.alias(REASON), event.alias(EVENT))


def stage(lines: DataFrame, event_type: str, relaxed: Iterable[str] = ()) -> DataFrame:
    """`triage`, the whole line (WHOLE_LINE_ONLY) kept only where it is quarantined: the frame
    the clean step persists and derives everything from."""
    triaged = triage(lines, event_type, relaxed)
    slim = {name: F.when(F.col(REASON).isNotNull(), F.col(name)) for name in WHOLE_LINE_ONLY}
    return triaged.withColumns(slim)


def contested_ids(lines: DataFrame, index: DataFrame) -> DataFrame:
    """The ids whose first copy is not simply their one line in `lines`: an id that `lines`
    holds more than once, or that the `index` (of earlier runs) knows. Per id, FIRST: the
    position of its first copy (the index's, else the earliest line's by received_at, then
    Kafka position) and NEW_ENTRY (whether the index lacks it). Small: retries and rechecks."""
    earliest = F.min(F.struct(F.col("received_at").isNull().alias("_late"), "received_at", *KAFKA_POSITION))
    seen = (
        lines.where(dedup_id().isNotNull())
        .groupBy(dedup_id().alias(DEDUP_ID))
        .agg(F.count(F.lit(1)).alias("_lines"), earliest.alias("_earliest"))
    )
    indexed = index.select(DEDUP_ID, _position().alias("_indexed")).join(seen.select(DEDUP_ID), DEDUP_ID)
    return (
        seen.join(indexed, DEDUP_ID, "left")
        .where((F.col("_lines") > 1) | F.col("_indexed").isNotNull())
        .select(
            DEDUP_ID,
            F.coalesce("_indexed", _position("_earliest.")).alias(FIRST),
            F.col("_indexed").isNull().alias(NEW_ENTRY),
        )
    )


def mark_copies(lines: DataFrame, contested: DataFrame) -> DataFrame:
    """`lines` with DEDUP_ID, IS_FIRST (a line without an id is its own first copy) and
    NEW_ENTRY (a first copy the index lacks); `contested` from `contested_ids`, broadcast."""
    marked = lines.withColumn(DEDUP_ID, dedup_id()).join(F.broadcast(contested), DEDUP_ID, "left")
    is_first = F.col(DEDUP_ID).isNull() | F.col(FIRST).isNull() | (F.col(FIRST) == _position())
    new_entry = F.col(DEDUP_ID).isNotNull() & F.coalesce(F.col(NEW_ENTRY), F.lit(True))
    return marked.withColumns({IS_FIRST: is_first, NEW_ENTRY: new_entry & is_first}).drop(FIRST)


def first_copies(lines: DataFrame, index: DataFrame) -> tuple[DataFrame, DataFrame, DataFrame]:
    """`lines` split into (first copies, later copies), and the new index entries."""
    marked = mark_copies(lines, contested_ids(lines, index))
    return (
        marked.where(IS_FIRST).select(*lines.columns),
        marked.where(~F.col(IS_FIRST)).select(*lines.columns),
        index_entries(marked),
    )


def index_entries(marked: DataFrame) -> DataFrame:
    """The first copies of `mark_copies` that the index lacks, as index rows."""
    return marked.where(NEW_ENTRY).select(*INDEX_COLUMNS)


def split_counts(marked: DataFrame) -> dict[str, int]:
    """How the triaged, marked lines split, in one aggregation: `raw_lines` (new to the lake),
    `rechecked` (read again from the quarantine), `later_copies`, `quarantined`, `cleaned`,
    `without_id` (new lines without any id) and `new_index_entries`."""
    first, new, has_reason = F.col(IS_FIRST), ~F.col(REREAD), F.col(REASON).isNotNull()
    aggregates = {
        "raw_lines": new,
        "rechecked": ~new,
        "later_copies": ~first,
        "quarantined": first & has_reason,
        "cleaned": first & ~has_reason,
        "without_id": new & F.col(DEDUP_ID).isNull(),
        "new_index_entries": F.col(NEW_ENTRY),
    }
    row = marked.agg(*(F.count_if(condition).alias(name) for name, condition in aggregates.items())).first()
    assert row is not None  # an aggregation without groups has one row
    return {name: int(row[name]) for name in aggregates}


def quarantine_rows(triaged: DataFrame, now: datetime) -> DataFrame:
    """The refused first copies of `triage` (or `mark_copies`), whole, with their reason and
    `quarantined_at`."""
    refused = F.col(REASON).isNotNull() & (F.col(IS_FIRST) if IS_FIRST in triaged.columns else F.lit(True))
    return triaged.where(refused).select(*LINE_COLUMNS, REASON, F.lit(now).alias(QUARANTINED_AT))


def keep_first_quarantined_at(quarantined: DataFrame, earlier: DataFrame) -> DataFrame:
    """`quarantined`, where a line that `earlier` (a quarantine) holds keeps its first moment."""
    first = earlier.select(*KAFKA_POSITION, F.col(QUARANTINED_AT).alias("first_quarantined_at"))
    joined = quarantined.join(first, list(KAFKA_POSITION), "left")
    return joined.withColumn(QUARANTINED_AT, F.coalesce("first_quarantined_at", QUARANTINED_AT)).select(
        *QUARANTINE_COLUMNS
    )


def lines_of(quarantined: DataFrame) -> DataFrame:
    """Quarantine rows as the lake lines they came from."""
    return quarantined.select(*LINE_COLUMNS)


def cleaned_events(triaged: DataFrame, event_type: str, rule_changes: Observation | None = None) -> DataFrame:
    """The cleanable first copies of `triage` (or `mark_copies`), cleaned: the contract fields
    from `event`, then event_id, client_event_id (the event_id for lines from before client ids),
    received_at (a timestamp), kafka_partition and kafka_offset."""
    passing = F.col(REASON).isNull() & (F.col(IS_FIRST) if IS_FIRST in triaged.columns else F.lit(True))
    events = triaged.where(passing).select(
        f"{EVENT}.*",
        "event_id",
        F.coalesce("client_event_id", "event_id").alias("client_event_id"),
        received_at_timestamp().alias("received_at"),
        "kafka_partition",
        "kafka_offset",
    )
    return clean(event_type, events, rule_changes)


def fold(
    table: DataFrame | None, events: DataFrame, event_type: str, dropped: Observation, few: DataFrame | None = None
) -> DataFrame:
    """The cleaned `table` (None: none yet) with the cleaned `events` folded in: the latest per
    key (pinterest_common.cleaning.dedup, counting in `dropped` what it leaves out). With `few`
    (the same events, a few, unobserved: `events` may carry an Observation, which a plan must
    hold once), only the table's rows of their keys (broadcast) go through the ranking; the
    others pass as they are, with no shuffle of the table."""
    if table is None:
        return dedup(event_type, events, dropped)
    if few is None:
        return dedup(event_type, events.unionByName(table), dropped)
    key = EVENT_TYPES[event_type].key_field
    keys = F.broadcast(few.select(key).where(F.col(key).isNotNull()).distinct())
    touched = table.join(keys, key, "left_semi")
    return table.join(keys, key, "left_anti").unionByName(dedup(event_type, events.unionByName(touched), dropped))


def examples(quarantined: Sequence[Row], limit: int = EXAMPLES) -> list[dict]:
    """One quarantined line per reason (the first by Kafka position; up to `limit` reasons): the
    reason, where it was, its value's start."""
    first: dict[str, Row] = {}
    for row in sorted(quarantined, key=lambda r: tuple((r[name] is not None, r[name]) for name in KAFKA_POSITION)):
        first.setdefault(row[REASON], row)

    def start(row: Row) -> str | None:
        text = row["value"] if row["value"] is not None else row["value_base64"]
        return None if text is None else text[:120]

    return [
        {"reason": reason, **{name: row[name] for name in KAFKA_POSITION}, "value": start(row)}
        for reason, row in sorted(first.items())[:limit]
    ]


def reason_counts(quarantined: Sequence[Row]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in quarantined:
        counts[row[REASON]] = counts.get(row[REASON], 0) + 1
    return dict(sorted(counts.items()))


def _rule_aggregates(table: str) -> dict[str, Column]:
    """Per rule the cleaning enforces for `table`: the count of cleaned rows breaking it."""
    count = lambda condition: F.count_if(F.coalesce(condition, F.lit(False)))  # noqa: E731
    if table == "cleaned_pins":
        sentinel_left = F.lit(False)
        for column, sentinels in PIN_SENTINELS.items():
            sentinel_left = sentinel_left | F.col(column).cast("string").isin(list(sentinels))
        return {
            "no_sentinel_left": count(sentinel_left),
            "follower_count_not_negative": count(F.col("follower_count") < 0),
            "save_location_is_path": count(
                F.col("save_location").isNotNull() & ~F.col("save_location").startswith("/data/")
            ),
        }
    if table == "cleaned_geo":
        lat, lon = F.col("coordinates")[0], F.col("coordinates")[1]
        return {"coordinates_in_range": count(~lat.between(-90, 90) | ~lon.between(-180, 180))}
    return {"age_in_range": count(~F.col("age").between(0, 120))}


def table_figures(table: str, frame: DataFrame, key: str, columns: Sequence[str]) -> dict:
    """A cleaned table's figures in one aggregation: `rows`, `duplicate_keys` and
    `duplicate_event_ids` (rows beyond the first per key and per event_id), `violations` (per
    rule the cleaning enforces, the rows breaking it), `null_rates` (of `columns`) and, for pins,
    `unknown_category_rows` (categories outside the contract's list)."""
    rules = _rule_aggregates(table)
    aggregates = {
        "rows": F.count(F.lit(1)),
        "keys": F.count_distinct(key),
        "ids": F.count_distinct("event_id"),
        **{f"rule__{name}": expr for name, expr in rules.items()},
        **{f"null__{name}": F.count_if(F.col(name).isNull()) for name in columns},
    }
    if table == "cleaned_pins":
        aggregates["unknown"] = F.count_if(F.col("category").isNotNull() & ~F.col("category").isin(list(CATEGORIES)))
    first = frame.agg(*(expr.alias(name) for name, expr in aggregates.items())).first()
    assert first is not None  # an aggregation without groups has one row
    row = first.asDict()
    rows = row["rows"]
    figures = {
        "rows": rows,
        "duplicate_keys": rows - row["keys"],
        "duplicate_event_ids": rows - row["ids"],
        "violations": {name: int(row[f"rule__{name}"] or 0) for name in rules},
        "null_rates": {name: (row[f"null__{name}"] / rows if rows else 0.0) for name in columns},
    }
    if "unknown" in row:
        figures["unknown_category_rows"] = row["unknown"]
    return figures


def category_counts(pins: DataFrame) -> dict[str, int]:
    """Cleaned pins per category outside the contract's list, most first."""
    unknown = pins.where(F.col("category").isNotNull() & ~F.col("category").isin(list(CATEGORIES)))
    return {
        row["category"]: row["count"] for row in unknown.groupBy("category").count().orderBy(F.desc("count")).collect()
    }


def add_totals(totals: dict[str, int], split: dict[str, int], folded: dict[str, int]) -> dict[str, int]:
    """The running totals after a run: `split` (`split_counts`) and `folded` (the cleaned
    write's `superseded` and `without_key`, observed by pinterest_common.cleaning.dedup)."""
    run = {
        "raw_lines": split["raw_lines"],
        "later_copies": split["later_copies"],
        "superseded": folded["superseded"],
        "without_id": split["without_id"],
        "dropped_without_key": folded["without_key"],
    }
    return {name: totals.get(name, 0) + run[name] for name in TOTALS}


def accounting(
    totals: dict[str, int], cleaned_rows: int, quarantined: Sequence[Row], index_rows: int
) -> dict[str, int]:
    """The running `totals` set against the tables as they are: every raw line is a cleaned row,
    superseded, quarantined or a later copy (`unaccounted_lines`: raw lines minus all these, 0
    when each is counted once); every line with an id that is no later copy has its index entry
    (`index_entries_missing`); no Kafka position is quarantined twice; no cleaned row was dropped
    for a NULL key."""
    positions = {tuple(row[name] for name in KAFKA_POSITION) for row in quarantined}
    counts = {name: totals.get(name, 0) for name in TOTALS}
    counts.update(
        {
            "cleaned_rows": cleaned_rows,
            "quarantined_lines": len(quarantined),
            "index_rows": index_rows,
            "quarantined_twice": len(quarantined) - len(positions),
        }
    )
    counts["unaccounted_lines"] = counts["raw_lines"] - (
        cleaned_rows + counts["superseded"] + len(quarantined) + counts["later_copies"]
    )
    counts["index_entries_missing"] = counts["raw_lines"] - counts["later_copies"] - counts["without_id"] - index_rows
    return counts


def balanced(counts: dict[str, int]) -> bool:
    return not any(counts[name] for name in IMBALANCES)
