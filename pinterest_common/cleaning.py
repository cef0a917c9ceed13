"""The contract's cleaning rules (docs/DATA_CONTRACT.md, section 2) in plain PySpark.

One implementation for the batch assets and the streaming job:

- `clean(event_type, df)` (or `clean_pins`, `clean_geo`, `clean_users`) works row by row, so it
  runs on a streaming micro-batch as well as on a batch DataFrame;
- `dedup` / `latest_per_key` keep the latest received event per key (and can count the rows
  they leave out);
- `rule_change_counts` and `null_rates` report what the rules did, each in one aggregation
  (`clean` can count the rule changes on the way, see its `rule_changes`).

Input: raw events with every contract field as text (`schema.spark_raw_schema`) plus metadata
columns (`event_id`, `received_at`, Kafka coordinates, ...), carried through after the cleaned
columns. Only built-in Spark SQL functions are used and every conversion is a `try_*` one, so
under ANSI mode a bad value becomes NULL (and is counted) instead of failing the job.
Datetimes carry no zone and are read in the session time zone (UTC, see `spark.spark_conf`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Observation, Window
from pyspark.sql import functions as F

from .records import EVENT_ID, RECEIVED_AT
from .schema import EVENT_TYPES, GEO, PIN, PIN_SENTINELS, USER, EventType, spark_raw_schema

PIN_COLUMNS = (
    "ind",
    "unique_id",
    "title",
    "description",
    "follower_count",
    "poster_name",
    "tag_list",
    "is_image_or_video",
    "image_src",
    "save_location",
    "category",
    "downloaded",
)
GEO_COLUMNS = ("ind", "country", "coordinates", "timestamp")
USER_COLUMNS = ("ind", "user_name", "age", "date_joined")
CLEANED_COLUMNS = {PIN.name: PIN_COLUMNS, GEO.name: GEO_COLUMNS, USER.name: USER_COLUMNS}

# Raw fields the input may lack; they are then NULL (the sample capture lost image_src).
OPTIONAL_RAW_FIELDS = {PIN.name: ("image_src",), GEO.name: (), USER.name: ()}

# schema.DATETIME_FORMATS in Spark's pattern language. One-letter fields accept one or two
# digits, as strptime (the API's validation) does.
SPARK_DATETIME_FORMATS = ("yyyy-M-d H:m:s", "yyyy-M-d'T'H:m:s", "yyyy:M:d H:m:s")

# The characters str.strip() removes (the last is U+3000): "blank" means only these, and a
# sentinel matches whatever whitespace surrounds it.
WHITESPACE = "".join(ch for ch in map(chr, range(0x3001)) if ch.isspace())

_FOLLOWER_COUNT = r"^(\d+(?:\.\d+)?)([kKmMbB]?)$"
_FOLLOWER_MULTIPLIERS = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9}
_SAVE_LOCATION_PREFIX = r"^Local save in\s*"
_ROW_NUMBER = "__row_number"


def parse_follower_count(value: Column | str) -> Column:
    """`124k` -> 124000, `1.2k` -> 1200, `8M`, `3B`, `999` as a bigint; anything else is NULL.

    Suffixes in either case, decimals rounded half up, surrounding whitespace ignored.
    """
    text = strip(value)
    number = F.regexp_extract(text, _FOLLOWER_COUNT, 1).try_cast("decimal(38,9)")
    suffix = F.lower(F.regexp_extract(text, _FOLLOWER_COUNT, 2))
    multipliers = F.create_map(*(F.lit(item) for pair in _FOLLOWER_MULTIPLIERS.items() for item in pair))
    return F.round(F.try_multiply(number, F.try_element_at(multipliers, suffix))).try_cast("bigint")


def parse_timestamp(value: Column | str) -> Column:
    """A timestamp from any of the three source formats; anything else is NULL.

    The separators tell the format, so each value is parsed once: a failed parse is costly.
    """
    text = strip(value)
    dashes_space, dashes_t, colons_space = (F.try_to_timestamp(text, F.lit(fmt)) for fmt in SPARK_DATETIME_FORMATS)
    year_separator = F.substring(text, 5, 1)  # the year has four digits
    return F.when(year_separator == ":", colons_space).when(text.contains("T"), dashes_t).otherwise(dashes_space)


def clean(event_type: str, df: DataFrame, rule_changes: Observation | None = None) -> DataFrame:
    """Cleaned events: CLEANED_COLUMNS[event_type] in that order, then the metadata columns.

    With `rule_changes`, the first action over the result also fills that Observation with
    `rule_change_counts(event_type, df)` (batch frames only): no second pass over the raw data.
    """
    raw, metadata = _conform(EVENT_TYPES[event_type], df)
    cleaned = _CLEANINGS[event_type]()
    if rule_changes is not None:
        raw = raw.observe(rule_changes, *_rule_change_aggregates(cleaned))
    return raw.select(*(cleaned.columns[name].alias(name) for name in CLEANED_COLUMNS[event_type]), *metadata)


def clean_pins(df: DataFrame) -> DataFrame:
    """`clean("pin", df)`."""
    return clean(PIN.name, df)


def clean_geo(df: DataFrame) -> DataFrame:
    """`clean("geo", df)`."""
    return clean(GEO.name, df)


def clean_users(df: DataFrame) -> DataFrame:
    """`clean("user", df)`."""
    return clean(USER.name, df)


def latest_per_key(df: DataFrame, key: str, dropped: Observation | None = None) -> DataFrame:
    """One row per non-NULL `key`: the latest `received_at` wins, a tie goes to the greater
    `event_id`. Rows whose key is NULL are dropped: they identify nothing.

    With `dropped`, the first action over the result also fills that Observation with the rows
    left out: `superseded` (an earlier version of a key) and `without_key`.
    """
    latest_first = Window.partitionBy(key).orderBy(
        F.col(RECEIVED_AT).desc_nulls_last(), F.col(EVENT_ID).desc_nulls_last()
    )
    if dropped is None:
        df = df.where(F.col(key).isNotNull())
    ranked = df.withColumn(_ROW_NUMBER, F.row_number().over(latest_first))
    if dropped is not None:
        has_key = F.col(key).isNotNull()
        ranked = ranked.observe(
            dropped,
            F.count_if(has_key & (F.col(_ROW_NUMBER) > 1)).alias("superseded"),
            F.count_if(~has_key).alias("without_key"),
        )
    return ranked.where(F.col(key).isNotNull() & (F.col(_ROW_NUMBER) == 1)).drop(_ROW_NUMBER)


def dedup(event_type: str, cleaned_df: DataFrame, dropped: Observation | None = None) -> DataFrame:
    """The latest cleaned event per key: `unique_id` for pins, `ind` for geo and user events
    (`dropped`: see `latest_per_key`)."""
    return latest_per_key(cleaned_df, EVENT_TYPES[event_type].key_field, dropped)


def rule_change_counts(event_type: str, raw_df: DataFrame) -> dict[str, int]:
    """How many values each cleaning rule changes in `raw_df`, computed in one aggregation.

    Keys: `blank_to_null.<raw field>`, `sentinel_to_null.<raw field>`,
    `unparseable_to_null.<raw field>` (typed fields), and for pins `follower_count_parsed`,
    `follower_count_unparseable` and `save_location_path`. Zero counts are included.
    """
    raw, _ = _conform(EVENT_TYPES[event_type], raw_df)
    cleaning = _CLEANINGS[event_type]()
    row = raw.agg(*_rule_change_aggregates(cleaning)).first()
    assert row is not None  # an aggregation without groups has one row
    return {rule: row[rule] for rule in cleaning.changes}


def null_rates(df: DataFrame, columns: Iterable[str] | None = None) -> dict[str, float]:
    """The fraction of NULL values per column (all by default), in one aggregation.

    An empty DataFrame has no NULLs: every rate is 0.0.
    """
    names = df.columns if columns is None else list(columns)
    row = df.agg(F.count(F.lit(1)), *(F.count_if(df[name].isNull()) for name in names)).first()
    assert row is not None  # an aggregation without groups has one row
    rows = row[0]
    return {name: (row[i + 1] / rows if rows else 0.0) for i, name in enumerate(names)}


@dataclass(frozen=True)
class _Cleaning:
    """How one event type is cleaned: each output column, and per rule when it changes a value."""

    columns: dict[str, Column]
    changes: dict[str, Column]


def _rule_change_aggregates(cleaning: _Cleaning) -> list[Column]:
    return [F.count_if(changed).alias(rule) for rule, changed in cleaning.changes.items()]


def strip(value: Column | str) -> Column:
    return F.btrim(F.col(value) if isinstance(value, str) else value, F.lit(WHITESPACE))


def _text(field: str, sentinels: tuple[str, ...] = ()) -> tuple[Column, dict[str, Column]]:
    """The raw text, or NULL when it is blank or one of `sentinels`."""
    stripped = strip(field)
    changes = {f"blank_to_null.{field}": stripped == ""}
    if sentinels:
        changes[f"sentinel_to_null.{field}"] = stripped.isin(*sentinels)
    # One isin, not `blank | sentinel`: Spark would strip twice, the right side being conditional.
    return F.when(~stripped.isin("", *sentinels), F.col(field)), changes


def _typed(field: str, parse: Callable[[Column], Column]) -> tuple[Column, dict[str, Column]]:
    """`parse` applied to the stripped text; blank or unparseable text becomes NULL."""
    stripped = strip(field)
    value = parse(stripped)
    return value, {
        f"blank_to_null.{field}": stripped == "",
        f"unparseable_to_null.{field}": (stripped != "") & value.isNull(),
    }


def _as(spark_type: str) -> Callable[[Column], Column]:
    return lambda text: text.try_cast(spark_type)


def _follower_count() -> tuple[Column, dict[str, Column]]:
    text, changes = _text("follower_count", PIN_SENTINELS["follower_count"])
    count = parse_follower_count(text)
    changes["follower_count_parsed"] = count.isNotNull()
    changes["follower_count_unparseable"] = text.isNotNull() & count.isNull()
    return count, changes


def _save_location() -> tuple[Column, dict[str, Column]]:
    _, changes = _text("save_location")
    stripped = strip("save_location")
    changes["save_location_path"] = stripped.rlike(_SAVE_LOCATION_PREFIX)
    return F.nullif(F.regexp_replace(stripped, _SAVE_LOCATION_PREFIX, ""), F.lit("")), changes


def _cleaning(**rules: tuple[Column, dict[str, Column]]) -> _Cleaning:
    changes: dict[str, Column] = {}
    for _, rule_changes in rules.values():
        changes.update(rule_changes)
    return _Cleaning({name: column for name, (column, _) in rules.items()}, changes)


def _pin_cleaning() -> _Cleaning:
    return _cleaning(
        ind=_typed("index", _as("int")),
        unique_id=_text("unique_id"),
        title=_text("title", PIN_SENTINELS["title"]),
        description=_text("description", PIN_SENTINELS["description"]),
        follower_count=_follower_count(),
        poster_name=_text("poster_name", PIN_SENTINELS["poster_name"]),
        tag_list=_text("tag_list", PIN_SENTINELS["tag_list"]),
        is_image_or_video=_text("is_image_or_video"),
        image_src=_text("image_src", PIN_SENTINELS["image_src"]),
        save_location=_save_location(),
        category=_text("category"),
        downloaded=_typed("downloaded", _as("int")),
    )


def _geo_cleaning() -> _Cleaning:
    latitude, latitude_changes = _typed("latitude", _as("double"))
    longitude, longitude_changes = _typed("longitude", _as("double"))
    # Half a coordinate pair locates nothing: NULL unless both parse.
    coordinates = F.when(latitude.isNotNull() & longitude.isNotNull(), F.array(latitude, longitude))
    return _cleaning(
        ind=_typed("ind", _as("int")),
        country=_text("country"),
        coordinates=(coordinates, latitude_changes | longitude_changes),
        timestamp=_typed("timestamp", parse_timestamp),
    )


def _user_cleaning() -> _Cleaning:
    first_name, first_name_changes = _text("first_name")
    last_name, last_name_changes = _text("last_name")
    # The parts that exist (concat_ws skips NULLs); NULL only when both are missing.
    user_name = F.nullif(F.concat_ws(" ", first_name, last_name), F.lit(""))
    return _cleaning(
        ind=_typed("ind", _as("int")),
        user_name=(user_name, first_name_changes | last_name_changes),
        age=_typed("age", _as("int")),
        date_joined=_typed("date_joined", parse_timestamp),
    )


def age_group(age: Column) -> Column:
    """The age groups the questions and the live user table cut by: 18-24, 25-35, 36-50, +50
    (NULL below 18 or unknown)."""
    return (
        F.when(age.between(18, 24), "18-24")
        .when(age.between(25, 35), "25-35")
        .when(age.between(36, 50), "36-50")
        .when(age > 50, "+50")
    )


_CLEANINGS = {PIN.name: _pin_cleaning, GEO.name: _geo_cleaning, USER.name: _user_cleaning}


def _conform(event_type: EventType, df: DataFrame) -> tuple[DataFrame, list[str]]:
    """`df` with every raw field as text (an absent optional one as NULL), then its metadata."""
    missing = [name for name in event_type.field_names if name not in df.columns]
    required = [name for name in missing if name not in OPTIONAL_RAW_FIELDS[event_type.name]]
    if required:
        raise ValueError(f"{event_type.name} events lack the column(s) {', '.join(required)}")
    metadata = [name for name in df.columns if name not in event_type.field_names]
    clashing = [name for name in metadata if name in CLEANED_COLUMNS[event_type.name]]
    if clashing:
        raise ValueError(f"metadata column(s) {', '.join(clashing)} clash with cleaned {event_type.name} columns")
    text = [
        (F.lit(None) if field.name in missing else df[field.name]).cast(field.dataType).alias(field.name)
        for field in spark_raw_schema(event_type).fields
    ]
    return df.select(*text, *(df[name] for name in metadata)), metadata
