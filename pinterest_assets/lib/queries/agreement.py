"""Two pipelines, one truth: the streaming tables recomputed from the raw lake (plain PySpark and
Python), for the agreement checks (pinterest_assets/defs/streaming_tables/agreement.py).

From raw lake lines, `streamed_events` keeps what the streaming job stores (streaming/source.py,
streaming/sink.py): the records the API wrote (an event_id and a received_at; the job skips the
others, the lake quarantines them as `invalid_headers`), triaged with the clean step's code
(`quality.triage`, the record checked as the job checks it: no value, not UTF-8), cleaned
(`quality.cleaned_events`, pinterest_common.cleaning) and, per client_event_id then per
event_id, the first copy by Kafka position. No latest-per-key folding: like `experimental_data`,
every accepted event counts. `profile_popularity` and `category_trends` compute the aggregates
by streaming/aggregates.py's definitions with the contract's windows, media and score
(pinterest_common.streaming_contract).

Coverage: per partition, only the offsets below both the lake's committed offset and the
streaming job's consumed one are compared (`covered_bounds`, `covered`). A window is compared
only when it ends by the `horizon`: the earliest received_at of a record not covered yet (now,
when all are), less HORIZON_MARGIN (within a partition received_at follows the offset up to the
API's produce delay); an event is compared (per UTC day) when it was received before the
horizon. The others are "not yet comparable". `explained_lines` counts the lines the design
lets the pipelines treat apart. `compare_rows` and `compare_days` list the differences; floats
agree within REL_TOL.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from pinterest_common.quarantine import INVALID_HEADERS, lake_line_problem, record_problem
from pinterest_common.schema import EVENT_TYPES
from pinterest_common.streaming_contract import (
    IMAGE,
    POPULARITY_SCORE,
    PROFILE_WINDOWS,
    TREND_WINDOW,
    VIDEO_MEDIA,
    EventTimeWindow,
)

from . import quality
from .lake_tables import received_at_timestamp

HORIZON_MARGIN = timedelta(seconds=30)
REL_TOL = 1e-9
PROFILE_KEY = ("window_name", "window_start", "poster_name")
PROFILE_VALUES = (
    "window_end",
    "pins_posted",
    "distinct_pins",
    "latest_follower_count",
    "categories",
    "popularity_score",
)
TREND_KEY = ("category", "window_start")
TREND_VALUES = ("window_end", "events", "image_share", "video_share", "avg_follower_count")
ROW = "(row)"  # the column of a difference where a key is on one side only
ABSENT = "absent"


def api_lines() -> Column:
    """Whether a lake line is a record the streaming job reads (streaming.source.api_records)."""
    return F.col("event_id").isNotNull() & received_at_timestamp().isNotNull()


def _first(frame: DataFrame, key: Column) -> DataFrame:
    order = Window.partitionBy(key).orderBy("kafka_partition", "kafka_offset")
    return frame.withColumn("_n", F.row_number().over(order)).where("_n = 1").drop("_n")


def streamed_events(lines: DataFrame, event_type: str, relaxed: Iterable[str] = ()) -> DataFrame:
    """The cleaned events the streaming job stores for these lake lines of `event_type`: the API's
    records, triaged (record check: no value, not UTF-8), cleaned, the first copy per
    client_event_id (the event_id when it has none) and per event_id, by Kafka position."""
    record_check = record_problem(F.col("value"), F.col("value_base64").isNotNull())
    triaged = quality.triage(lines.where(api_lines()), event_type, relaxed, record_check)
    events = quality.cleaned_events(triaged, event_type)
    client = F.coalesce(F.nullif(F.col("client_event_id"), F.lit("")), F.col("event_id"))
    return _first(_first(events, client), F.col("event_id"))


def explained_lines(lines: DataFrame, event_type: str) -> dict[str, int]:
    """The lines whose treatment the design lets differ: `lines_without_api_headers` (no
    event_id or received_at: the job skips them) and `lines_streamed_with_refused_headers` (the
    job reads them; their event_id is no UUID, or their event_type or schema_version is not the
    API's). The clean step quarantines both as `invalid_headers`."""
    refused = lake_line_problem(EVENT_TYPES[event_type], quality.LINE_COLUMNS) == INVALID_HEADERS
    counts = {
        "lines_without_api_headers": ~api_lines(),
        "lines_streamed_with_refused_headers": api_lines() & F.coalesce(refused, F.lit(False)),
    }
    row = (
        lines.withColumn("received_at_ts", received_at_timestamp())
        .agg(*(F.count_if(condition).alias(name) for name, condition in counts.items()))
        .first()
    )
    return {name: int(row[name]) if row else 0 for name in counts}


def covered(bounds: Mapping[int, int]) -> Column:
    """Whether a line's offset is below its partition's bound (`covered_bounds`)."""
    condition = F.lit(False)
    for partition, bound in bounds.items():
        condition = condition | ((F.col("kafka_partition") == partition) & (F.col("kafka_offset") < bound))
    return condition


def covered_bounds(lake: Mapping[int, int], streaming: Mapping[str, int]) -> dict[int, int]:
    """Per partition, the first offset that is not both in the lake (`lake`: committed next
    offsets) and consumed by the streaming job (`streaming`: its end offsets, partitions as text)."""
    partitions = set(lake) | {int(p) for p in streaming}
    return {p: min(lake.get(p, 0), int(streaming.get(str(p), 0))) for p in sorted(partitions)}


def horizon(first_uncovered: Iterable[datetime], now: datetime) -> datetime:
    """Before this moment every record is covered: the earliest received_at of the first records
    not covered (per partition), or `now`, less HORIZON_MARGIN."""
    return min([now, *first_uncovered]) - HORIZON_MARGIN


def _windowed(frame: DataFrame, window: EventTimeWindow) -> DataFrame:
    """`frame` once per `window` holding each row's received_at: `window_name`, `window_start`,
    `window_end` (windows aligned to the epoch, as PostgreSQL's date_bin aligns them)."""
    slot = F.expr(f"div(unix_micros(received_at), {window.slide_s * 1_000_000})")
    steps = F.sequence(F.lit(0), F.lit(window.length_s // window.slide_s - 1))
    start = (slot - F.col("_k")) * window.slide_s
    return (
        frame.select("*", F.explode(steps).alias("_k"))
        .withColumns(
            {
                "window_name": F.lit(window.name),
                "window_start": F.timestamp_seconds(start),
                "window_end": F.timestamp_seconds(start + window.length_s),
            }
        )
        .drop("_k")
    )


def profile_popularity(pins: DataFrame) -> DataFrame:
    """streaming/aggregates.py's `profile_popularity` of the cleaned `pins`."""
    posted = pins.where(F.col("poster_name").isNotNull())
    windowed = _windowed(posted, PROFILE_WINDOWS[0])
    for window in PROFILE_WINDOWS[1:]:
        windowed = windowed.unionByName(_windowed(posted, window))
    with_followers = F.when(F.col("follower_count").isNotNull(), F.struct("received_at", "event_id", "follower_count"))
    return (
        windowed.groupBy(*PROFILE_KEY, "window_end")
        .agg(
            F.count(F.lit(1)).alias("pins_posted"),
            F.count_distinct("unique_id").alias("distinct_pins"),
            F.max(with_followers)["follower_count"].alias("latest_follower_count"),
            F.array_sort(F.collect_set("category")).alias("categories"),
        )
        .withColumn("popularity_score", F.expr(POPULARITY_SCORE))
    )


def category_trends(pins: DataFrame) -> DataFrame:
    """streaming/aggregates.py's `category_trends` of the cleaned `pins`."""
    media = F.col("is_image_or_video")
    return (
        _windowed(pins.where(F.col("category").isNotNull()), TREND_WINDOW)
        .groupBy(*TREND_KEY, "window_end")
        .agg(
            F.count(F.lit(1)).alias("events"),
            (F.count_if(media == IMAGE) / F.count(F.lit(1))).alias("image_share"),
            (F.count_if(media.isin(*VIDEO_MEDIA)) / F.count(F.lit(1))).alias("video_share"),
            F.avg("follower_count").alias("avg_follower_count"),
        )
    )


def collect_rows(frame: DataFrame, key: tuple[str, ...], values: tuple[str, ...]) -> dict[tuple, dict]:
    """An aggregate's rows as key -> values, timestamps as UTC datetimes (as psycopg2 reads them)."""
    times = {name for name, kind in frame.dtypes if kind.startswith("timestamp")}
    as_utc = [F.col(name).cast("timestamp_ntz").alias(name) if name in times else F.col(name) for name in frame.columns]

    def value(row, name):
        return row[name].replace(tzinfo=UTC) if name in times and row[name] is not None else row[name]

    return {
        tuple(value(row, name) for name in key): {name: value(row, name) for name in values}
        for row in frame.select(*as_utc).collect()
    }


def _same(lake, streaming) -> bool:
    if isinstance(lake, float) or isinstance(streaming, float):
        if lake is None or streaming is None:
            return lake is streaming
        return math.isclose(lake, streaming, rel_tol=REL_TOL, abs_tol=REL_TOL)
    if isinstance(lake, list | tuple) and isinstance(streaming, list | tuple):
        return sorted(lake) == sorted(streaming)
    return lake == streaming


@dataclass(frozen=True)
class Difference:
    key: tuple
    column: str
    lake: object
    streaming: object


@dataclass(frozen=True)
class Comparison:
    compared: int  # keys compared (on either side)
    not_yet_comparable: int  # keys of windows ending after the horizon (on either side)
    differences: list[Difference]

    @property
    def disagreeing_keys(self) -> int:
        return len({d.key for d in self.differences})


def compare_rows(
    lake: Mapping[tuple, Mapping], streaming: Mapping[tuple, Mapping], values: Iterable[str], until: datetime
) -> Comparison:
    """The rows of windows that end by `until` (the horizon), compared key by key."""
    keys = set(lake) | set(streaming)
    end = lambda key: (lake.get(key) or streaming[key])["window_end"]  # noqa: E731
    comparable = sorted((key for key in keys if end(key) <= until), key=str)
    differences = []
    for key in comparable:
        mine, theirs = lake.get(key), streaming.get(key)
        if mine is None or theirs is None:
            differences.append(
                Difference(key, ROW, ABSENT if mine is None else "present", ABSENT if theirs is None else "present")
            )
            continue
        differences += [Difference(key, n, mine[n], theirs[n]) for n in values if not _same(mine[n], theirs[n])]
    return Comparison(len(comparable), len(keys) - len(comparable), differences)


@dataclass(frozen=True)
class DayCount:
    day: date
    lake: int
    streaming: int
    only_in_lake: list[str]  # event ids
    only_in_streaming: list[str]


@dataclass(frozen=True)
class DayComparison:
    compared_days: int
    compared_events: int  # in the lake, received before the horizon
    not_yet_comparable_events: int  # received after it (on either side)
    differences: list[DayCount]


def compare_days(lake: Mapping[str, datetime], streaming: Mapping[str, datetime], until: datetime) -> DayComparison:
    """Event ids (`lake` and `streaming`: event_id -> received_at) received before `until`, the
    horizon, compared per UTC day (the day of the horizon up to it)."""
    per_day: dict[date, tuple[set[str], set[str]]] = {}
    later: set[str] = set()
    for side, events in enumerate((lake, streaming)):
        for event_id, received in events.items():
            if received < until:
                per_day.setdefault(received.astimezone(UTC).date(), (set(), set()))[side].add(event_id)
            else:
                later.add(event_id)
    differences = [
        DayCount(day, len(mine), len(theirs), sorted(mine - theirs), sorted(theirs - mine))
        for day, (mine, theirs) in sorted(per_day.items())
        if mine != theirs
    ]
    return DayComparison(len(per_day), sum(len(m) for m, _ in per_day.values()), len(later), differences)
