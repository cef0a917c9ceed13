"""pinterest_common.cleaning over the contract's dirty-value catalogue and the captured samples.

Every case is one row of a small DataFrame per event type: the fixtures run one Spark action per
DataFrame and the tests assert on the collected rows. Spark runs in ANSI mode (see conftest.py),
so any conversion that could raise on bad input would fail these tests.
"""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from pyspark.sql import Observation
from pyspark.sql import functions as F
from pyspark.sql import types as T

from pinterest_common.cleaning import (
    CLEANED_COLUMNS,
    GEO_COLUMNS,
    PIN_COLUMNS,
    USER_COLUMNS,
    clean,
    clean_geo,
    clean_pins,
    clean_users,
    dedup,
    latest_per_key,
    null_rates,
    parse_follower_count,
    rule_change_counts,
)
from pinterest_common.schema import EVENT_TYPES, PIN_SENTINELS, parse_datetime, spark_raw_schema

# Captured from a public run of the original pipeline (a copy of the shared reference samples).
SAMPLES_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "samples"
T0 = datetime(2024, 1, 1, tzinfo=UTC)
METADATA = T.StructType(
    [
        T.StructField("event_id", T.StringType()),
        T.StructField("received_at", T.TimestampType()),
        T.StructField("kafka_partition", T.IntegerType()),
        T.StructField("kafka_offset", T.LongType()),
    ]
)
BLANKS = ("", "   ", "\t\n", "\u00a0\u3000")


def utc(year, month, day, hour=0, minute=0, second=0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def comparable(value):
    """Collected timestamps are naive local datetimes: make them aware so they compare to utc()."""
    return value.astimezone(UTC) if isinstance(value, datetime) else value


def raw_frame(spark, event_type: str, records: list[dict]):
    """Raw events as the jobs read them: the contract fields present in `records` as text, then
    metadata. Record i is received at T0 + i s, with kafka_offset i and (unless the record names
    one) event_id f"{i:06d}"."""
    fields = [f for f in spark_raw_schema(EVENT_TYPES[event_type]).fields if any(f.name in r for r in records)]
    rows = [
        tuple(record.get(f.name) for f in fields)
        + (
            record.get("event_id", f"{i:06d}"),
            T0 + timedelta(seconds=i),
            0,
            i,
        )
        for i, record in enumerate(records)
    ]
    return spark.createDataFrame(rows, T.StructType(fields + METADATA.fields))


# --- the dirty-value catalogue: one row per case -------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    raw: dict[str, str | None]  # overrides of the event type's base record
    expected: dict[str, object]  # cleaned values
    rules: tuple[str, ...] = ()  # the rules that change a value of this row (see BASE_RULES)


PIN_BASE = {
    "index": "2863",
    "unique_id": "9bf39437-42a6-4f02-99a0-9a0383d8cd70",
    "title": "25 Super Fun Summer Crafts for Kids - Of Life and Lisa",
    "description": "Keep the kids busy this summer with these easy diy crafts… 🎨\u00a0",
    "poster_name": "Of Life & Lisa | Lifestyle Blog",
    "follower_count": "124k",
    "tag_list": "Summer Crafts For Kids,Fun Crafts For Kids",
    "is_image_or_video": "image",
    "image_src": "https://i.pinimg.com/originals/b5/1a/0e/b51a0e.jpg",
    "downloaded": "1",
    "save_location": "Local save in /data/diy-and-crafts",
    "category": "diy-and-crafts",
}
GEO_BASE = {
    "ind": "7528",
    "timestamp": "2020-08-28 03:52:47",
    "latitude": "-89.9787",
    "longitude": "-173.293",
    "country": "Albania",
}
USER_BASE = {
    "ind": "7528",
    "first_name": "Abigail",
    "last_name": "Ali",
    "age": "20",
    "date_joined": "2015-10-24 11:23:51",
}
BASES = {"pin": PIN_BASE, "geo": GEO_BASE, "user": USER_BASE}

# Rules the base record itself triggers, by the raw field whose override replaces them.
BASE_RULES = {
    "pin": {"follower_count": "follower_count_parsed", "save_location": "save_location_path"},
    "geo": {},
    "user": {},
}
# The cleaned column a raw field ends up in.
CLEANED_NAME = {
    "pin": {"index": "ind"},
    "geo": {"latitude": "coordinates", "longitude": "coordinates"},
    "user": {"first_name": "user_name", "last_name": "user_name"},
}


def blank_cases(event_type: str) -> list[Case]:
    cases = []
    for name in EVENT_TYPES[event_type].field_names:
        if event_type == "user" and name in ("first_name", "last_name"):
            continue  # a blank name part leaves the other one: see USER_CASES
        target = CLEANED_NAME[event_type].get(name, name)
        cases += [
            Case(f"blank {name} {blank!r}", {name: blank}, {target: None}, (f"blank_to_null.{name}",))
            for blank in BLANKS
        ]
    return cases


def follower_case(text: str, count: int | None) -> Case:
    rule = "follower_count_parsed" if count is not None else "follower_count_unparseable"
    return Case(f"follower_count {text!r}", {"follower_count": text}, {"follower_count": count}, (rule,))


def unparseable(event_type: str, name: str, text: str) -> Case:
    target = CLEANED_NAME[event_type].get(name, name)
    return Case(f"unparseable {name} {text!r}", {name: text}, {target: None}, (f"unparseable_to_null.{name}",))


PIN_CASES = [
    Case(
        "clean record",
        {},
        {
            "ind": 2863,
            "unique_id": PIN_BASE["unique_id"],
            "title": PIN_BASE["title"],
            "description": PIN_BASE["description"],
            "follower_count": 124_000,
            "poster_name": PIN_BASE["poster_name"],
            "tag_list": PIN_BASE["tag_list"],
            "is_image_or_video": "image",
            "image_src": PIN_BASE["image_src"],
            "save_location": "/data/diy-and-crafts",
            "category": "diy-and-crafts",
            "downloaded": 1,
        },
    ),
    *(
        Case(f"sentinel {name} {value!r}", {name: value}, {name: None}, (f"sentinel_to_null.{name}",))
        for name, values in PIN_SENTINELS.items()
        for value in values
    ),
    Case(
        "sentinel padded with whitespace",
        {"description": " Untitled\u00a0"},
        {"description": None},
        ("sentinel_to_null.description",),
    ),
    Case("sentinels belong to their field", {"title": "Untitled"}, {"title": "Untitled"}),
    Case(
        "sentinels match the whole value",
        {"title": "No Title Data Available yet"},
        {"title": "No Title Data Available yet"},
    ),
    Case(
        "story-format scrape failure",
        {
            "title": "No Title Data Available",
            "description": "No description available Story format",
            "poster_name": "User Info Error",
            "follower_count": "User Info Error",
            "tag_list": "N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e",
            "is_image_or_video": "multi-video(story page format)",
            "downloaded": "0",
        },
        {
            "title": None,
            "description": None,
            "poster_name": None,
            "follower_count": None,
            "tag_list": None,
            "is_image_or_video": "multi-video(story page format)",
            "downloaded": 0,
        },
        tuple(
            f"sentinel_to_null.{name}" for name in ("title", "description", "poster_name", "follower_count", "tag_list")
        ),
    ),
    Case("null stays null", {"image_src": None}, {"image_src": None}),
    *blank_cases("pin"),
    *(
        follower_case(text, count)
        for text, count in [
            ("124k", 124_000),
            ("1.2k", 1_200),
            ("8M", 8_000_000),
            ("15M", 15_000_000),
            ("1.5M", 1_500_000),
            ("3B", 3_000_000_000),
            ("2.5B", 2_500_000_000),
            ("0", 0),
            ("7", 7),
            ("999", 999),
            ("124K", 124_000),
            ("8m", 8_000_000),
            ("3b", 3_000_000_000),
            (" 124k\u00a0", 124_000),
            ("1.2345k", 1_235),
            ("0.0004k", 0),
            ("12.0", 12),
            ("9223372036854775807", 9_223_372_036_854_775_807),
            ("12x", None),
            ("k", None),
            ("1.2.3k", None),
            ("-5", None),
            ("+5", None),
            ("1,234", None),
            ("1e3", None),
            ("12 k", None),
            ("12kk", None),
            (".5k", None),
            ("1.k", None),
            ("NaN", None),
            ("User Info Error!", None),
            ("9223372036854775808", None),
            ("99999999999B", None),
            ("9" * 40 + "B", None),
        ]
    ),
    Case("index as an integer string", {"index": "7528"}, {"ind": 7528}),
    Case("index padded with whitespace", {"index": " 42\u00a0"}, {"ind": 42}),
    Case("index with a sign", {"index": "+7"}, {"ind": 7}),
    *(unparseable("pin", "index", text) for text in ("4.0", "abc", "99999999999", "7528L", "0x10")),
    Case("downloaded 0", {"downloaded": "0"}, {"downloaded": 0}),
    *(unparseable("pin", "downloaded", text) for text in ("yes", "1.0", "true")),
    Case(
        "save_location path",
        {"save_location": "Local save in /data/home-decor"},
        {"save_location": "/data/home-decor"},
        ("save_location_path",),
    ),
    Case(
        "save_location padded",
        {"save_location": "  Local save in   /data/art\u00a0"},
        {"save_location": "/data/art"},
        ("save_location_path",),
    ),
    Case(
        "save_location without a path",
        {"save_location": "Local save in "},
        {"save_location": None},
        ("save_location_path",),
    ),
    Case("save_location already a path", {"save_location": "/data/art"}, {"save_location": "/data/art"}),
]

# (text, the post time it means or None). Spark must agree with the API's schema.parse_datetime.
DATETIMES = [
    ("2020-08-28 03:52:47", utc(2020, 8, 28, 3, 52, 47)),
    ("2020-08-28T03:52:47", utc(2020, 8, 28, 3, 52, 47)),
    ("2020:08:28 03:52:47", utc(2020, 8, 28, 3, 52, 47)),
    ("2020-8-28 3:52:47", utc(2020, 8, 28, 3, 52, 47)),
    ("2017-01-02T03:04:05", utc(2017, 1, 2, 3, 4, 5)),
    ("2022:12:31 23:59:59", utc(2022, 12, 31, 23, 59, 59)),
    (" 2020-08-28T03:52:47\u00a0", utc(2020, 8, 28, 3, 52, 47)),
    ("2020/08/28 03:52:47", None),
    ("2020-08-28", None),
    ("28-08-2020 03:52:47", None),
    ("2020-02-30 00:00:00", None),
    ("2020-08-28 24:00:00", None),
    ("2020-08-28 03:52:60", None),
    ("2020-08-28 03:52:47.123", None),
    ("20200-08-28 03:52:47", None),
    ("2020-08-28T03:52:47Z", None),
    ("garbage", None),
]


def datetime_case(name: str, text: str, moment: datetime | None) -> Case:
    if moment is None:
        return unparseable("geo" if name == "timestamp" else "user", name, text)
    return Case(f"{name} {text!r}", {name: text}, {name: moment})


GEO_CASES = [
    Case(
        "canonical record",
        {},
        {
            "ind": 7528,
            "country": "Albania",
            "coordinates": [-89.9787, -173.293],
            "timestamp": utc(2020, 8, 28, 3, 52, 47),
        },
    ),
    *blank_cases("geo"),
    *(datetime_case("timestamp", text, moment) for text, moment in DATETIMES),
    *(
        Case(f"coordinates {lat!r}, {lon!r}", {"latitude": lat, "longitude": lon}, {"coordinates": [la, lo]})
        for lat, lon, la, lo in [
            ("12", "-7", 12.0, -7.0),
            ("+5.5", " -0.5 ", 5.5, -0.5),
            ("1e-3", "1.0E-5", 0.001, 0.00001),
            ("89.999999", "179.999999", 89.999999, 179.999999),
        ]
    ),
    *(unparseable("geo", name, text) for name in ("latitude", "longitude") for text in ("abc", "12,5", "1.2.3")),
    *(unparseable("geo", "ind", text) for text in ("x", "1.5")),
    Case(
        "faker country names",
        {"country": "Antarctica (the territory South of 60 deg S)"},
        {"country": "Antarctica (the territory South of 60 deg S)"},
    ),
    Case("apostrophe", {"country": "Cote d'Ivoire"}, {"country": "Cote d'Ivoire"}),
]

USER_CASES = [
    Case(
        "canonical record",
        {},
        {
            "ind": 7528,
            "user_name": "Abigail Ali",
            "age": 20,
            "date_joined": utc(2015, 10, 24, 11, 23, 51),
        },
    ),
    *blank_cases("user"),
    *(
        Case(f"blank first_name {blank!r}", {"first_name": blank}, {"user_name": "Ali"}, ("blank_to_null.first_name",))
        for blank in BLANKS
    ),
    *(
        Case(f"blank last_name {blank!r}", {"last_name": blank}, {"user_name": "Abigail"}, ("blank_to_null.last_name",))
        for blank in BLANKS
    ),
    Case(
        "no name at all",
        {"first_name": " ", "last_name": ""},
        {"user_name": None},
        ("blank_to_null.first_name", "blank_to_null.last_name"),
    ),
    Case(
        "names are kept verbatim", {"first_name": "Mary Ann", "last_name": "O'Neil"}, {"user_name": "Mary Ann O'Neil"}
    ),
    Case("age 59", {"age": "59"}, {"age": 59}),
    *(unparseable("user", "age", text) for text in ("x", "20.5", "twenty")),
    *(datetime_case("date_joined", text, moment) for text, moment in DATETIMES),
]

CASES = {"pin": PIN_CASES, "geo": GEO_CASES, "user": USER_CASES}


@dataclass
class Catalogue:
    cleaned: dict[str, dict]  # event_id (= case id) -> cleaned row
    columns: list[str]
    dtypes: dict[str, str]
    counts: dict[str, int]
    positions: dict[str, int]  # case id -> row position (its kafka_offset)


@pytest.fixture(scope="module")
def catalogue(spark) -> dict[str, Catalogue]:
    catalogues = {}
    for event_type, cases in CASES.items():
        ids = [case.id for case in cases]
        assert len(set(ids)) == len(ids), "case ids must be unique"
        raw = raw_frame(spark, event_type, [BASES[event_type] | case.raw | {"event_id": case.id} for case in cases])
        cleaned = clean(event_type, raw)
        catalogues[event_type] = Catalogue(
            cleaned={row["event_id"]: row.asDict() for row in cleaned.collect()},
            columns=cleaned.columns,
            dtypes=dict(cleaned.dtypes),
            counts=rule_change_counts(event_type, raw),
            positions={case_id: i for i, case_id in enumerate(ids)},
        )
    return catalogues


@pytest.mark.parametrize(
    "event_type, case",
    [(event_type, case) for event_type, cases in CASES.items() for case in cases],
    ids=lambda value: value if isinstance(value, str) else value.id,
)
def test_catalogue_case_cleans_to_the_expected_values(catalogue, event_type, case):
    row = catalogue[event_type].cleaned[case.id]
    assert {name: comparable(row[name]) for name in case.expected} == case.expected
    assert (row["kafka_partition"], row["kafka_offset"]) == (0, catalogue[event_type].positions[case.id])


@pytest.mark.parametrize("event_type", CASES)
def test_rule_change_counts_count_every_change_of_the_catalogue(catalogue, event_type):
    expected = Counter()
    for case in CASES[event_type]:
        expected.update(case.rules)
        expected.update(rule for name, rule in BASE_RULES[event_type].items() if name not in case.raw)
    counts = catalogue[event_type].counts
    assert {rule: n for rule, n in counts.items() if n} == dict(expected)
    fields = EVENT_TYPES[event_type].field_names
    assert {f"blank_to_null.{name}" for name in fields} <= counts.keys()


@pytest.mark.parametrize(
    "event_type, types",
    [
        (
            "pin",
            [
                "int",
                "string",
                "string",
                "string",
                "bigint",
                "string",
                "string",
                "string",
                "string",
                "string",
                "string",
                "int",
            ],
        ),
        ("geo", ["int", "string", "array<double>", "timestamp"]),
        ("user", ["int", "string", "int", "timestamp"]),
    ],
)
def test_cleaned_columns_follow_the_contract_then_the_metadata(catalogue, event_type, types):
    result = catalogue[event_type]
    assert result.columns == [*CLEANED_COLUMNS[event_type], *METADATA.fieldNames()]
    assert [result.dtypes[name] for name in CLEANED_COLUMNS[event_type]] == types
    assert [result.dtypes[name] for name in METADATA.fieldNames()] == ["string", "timestamp", "int", "bigint"]


def test_column_orders_are_the_contracts():
    assert PIN_COLUMNS == (
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
    assert GEO_COLUMNS == ("ind", "country", "coordinates", "timestamp")
    assert USER_COLUMNS == ("ind", "user_name", "age", "date_joined")


@pytest.mark.parametrize("text, moment", DATETIMES)
def test_datetime_catalogue_agrees_with_the_api_validation(text, moment):
    parsed = parse_datetime(text.strip())
    assert (parsed.replace(tzinfo=UTC) if parsed else None) == moment


# --- numbers as JSON numbers or as numeric strings ---------------------------------------------

CANONICAL_TRIPLE = {
    "pin": {
        "index": 7528,
        "unique_id": "fbe53c66-3442-4773-b19e-d3ec6f54dddf",
        "title": "No Title Data Available",
        "description": "No description available Story format",
        "poster_name": "User Info Error",
        "follower_count": "User Info Error",
        "tag_list": "N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e",
        "is_image_or_video": "multi-video(story page format)",
        "image_src": "Image src error.",
        "downloaded": 0,
        "save_location": "Local save in /data/mens-fashion",
        "category": "mens-fashion",
    },
    "geo": {
        "ind": 7528,
        "timestamp": "2020-08-28 03:52:47",
        "latitude": -89.9787,
        "longitude": -173.293,
        "country": "Albania",
    },
    "user": {"ind": 7528, "first_name": "Abigail", "last_name": "Ali", "age": 20, "date_joined": "2015-10-24 11:23:51"},
}
CANONICAL_CLEANED = {
    "pin": {
        "ind": 7528,
        "unique_id": "fbe53c66-3442-4773-b19e-d3ec6f54dddf",
        "title": None,
        "description": None,
        "follower_count": None,
        "poster_name": None,
        "tag_list": None,
        "is_image_or_video": "multi-video(story page format)",
        "image_src": None,
        "save_location": "/data/mens-fashion",
        "category": "mens-fashion",
        "downloaded": 0,
    },
    "geo": {
        "ind": 7528,
        "country": "Albania",
        "coordinates": [-89.9787, -173.293],
        "timestamp": utc(2020, 8, 28, 3, 52, 47),
    },
    "user": {"ind": 7528, "user_name": "Abigail Ali", "age": 20, "date_joined": utc(2015, 10, 24, 11, 23, 51)},
}


@pytest.mark.parametrize("event_type", CANONICAL_TRIPLE)
def test_json_numbers_and_numeric_strings_clean_alike(spark, event_type):
    as_numbers = CANONICAL_TRIPLE[event_type]
    as_strings = {name: str(value) for name, value in as_numbers.items()}
    json_events = spark.createDataFrame([(json.dumps(as_numbers),), (json.dumps(as_strings),)], "value string")
    raw = json_events.select(F.from_json("value", spark_raw_schema(EVENT_TYPES[event_type])).alias("event")).select(
        "event.*", F.lit("e").alias("event_id"), F.lit(T0).alias("received_at")
    )
    rows = clean(event_type, raw).collect()
    for row in rows:
        assert {name: comparable(row[name]) for name in CLEANED_COLUMNS[event_type]} == CANONICAL_CLEANED[event_type]


def test_parse_follower_count_is_a_reusable_column_expression(spark):
    frame = spark.createDataFrame([("1.2k",), ("3B",), ("12x",)], "followers string")
    rows = frame.select(parse_follower_count("followers"), parse_follower_count(F.col("followers")) * 2).collect()
    assert [tuple(row) for row in rows] == [(1200, 2400), (3_000_000_000, 6_000_000_000), (None, None)]


# --- the captured samples ------------------------------------------------------------------------


def python_follower_count(text: str) -> int | None:
    """An independent reading of the follower_count rule, for the samples."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmMbB]?)", text.strip())
    if not match:
        return None
    factor = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9}[match[2].lower()]
    return int((Decimal(match[1]) * factor).to_integral_value(ROUND_HALF_UP))


@dataclass
class Samples:
    records: list[dict]
    cleaned: list[dict]
    latest_event_ids: set[str]


@dataclass
class PinSamplesAccounting:
    counts: dict[str, int]
    null_rates: dict[str, float]


@pytest.fixture(scope="module")
def sample_frames(spark):
    """The captured records and their raw DataFrames, per event type."""
    frames = {}
    for event_type in ("pin", "geo", "user"):
        records = json.loads((SAMPLES_DIR / f"{event_type}_capture.json").read_text())
        frames[event_type] = (records, raw_frame(spark, event_type, records))
    return frames


@pytest.fixture(scope="module")
def samples(sample_frames) -> dict[str, Samples]:
    loaded = {}
    for event_type, clean_events in (("pin", clean_pins), ("geo", clean_geo), ("user", clean_users)):
        records, raw = sample_frames[event_type]
        cleaned = clean_events(raw)
        loaded[event_type] = Samples(
            records=records,
            cleaned=[row.asDict() for row in cleaned.orderBy("kafka_offset").collect()],
            latest_event_ids={row.event_id for row in dedup(event_type, cleaned).select("event_id").collect()},
        )
    return loaded


@pytest.fixture(scope="module")
def pin_accounting(sample_frames) -> PinSamplesAccounting:
    _, raw = sample_frames["pin"]
    return PinSamplesAccounting(rule_change_counts("pin", raw), null_rates(clean_pins(raw), PIN_COLUMNS))


def test_samples_all_clean(samples, pin_accounting):
    assert [len(samples[event_type].cleaned) for event_type in ("pin", "geo", "user")] == [634, 632, 632]
    assert {name: n for name, n in pin_accounting.counts.items() if n and "unparseable" in name} == {}
    assert all(row["ind"] is not None for sample in samples.values() for row in sample.cleaned)
    for event_type in ("geo", "user"):  # no dirty values there
        assert all(value is not None for row in samples[event_type].cleaned for value in row.values())


def test_canonical_sample_record_7528(samples):
    for event_type, expected in CANONICAL_CLEANED.items():
        first = samples[event_type].cleaned[0]
        assert {name: comparable(first[name]) for name in CLEANED_COLUMNS[event_type]} == expected


def test_pin_sample_nulls_are_exactly_the_sentinels_and_blanks(samples, pin_accounting):
    sample, counts = samples["pin"], pin_accounting.counts
    for name in ("title", "description", "poster_name", "tag_list", "unique_id", "is_image_or_video", "category"):
        values = [record[name].strip() for record in sample.records]
        sentinels = [v for v in values if v in PIN_SENTINELS.get(name, ())]
        blanks = [v for v in values if v == ""]
        assert sum(row[name] is None for row in sample.cleaned) == len(sentinels) + len(blanks), name
        assert counts.get(f"sentinel_to_null.{name}", 0) == len(sentinels), name
        assert counts[f"blank_to_null.{name}"] == len(blanks), name
    # The samples hold every pin sentinel but image_src's (the capture lost image_src).
    assert counts["sentinel_to_null.follower_count"] == counts["sentinel_to_null.poster_name"] == 13
    assert counts["sentinel_to_null.title"] == 13
    assert counts["sentinel_to_null.description"] == 39 + 5 + 5  # story format, "No description available", "Untitled"
    assert counts["sentinel_to_null.tag_list"] == 21
    assert all(row["image_src"] is None for row in sample.cleaned)  # absent from the capture


def test_pin_sample_follower_counts_match_an_independent_parser(samples, pin_accounting):
    sample = samples["pin"]
    expected = [python_follower_count(record["follower_count"]) for record in sample.records]
    assert [row["follower_count"] for row in sample.cleaned] == expected
    assert pin_accounting.counts["follower_count_parsed"] == sum(count is not None for count in expected) == 621
    assert pin_accounting.counts["follower_count_unparseable"] == 0


def test_pin_sample_save_locations_and_types(samples, pin_accounting):
    sample = samples["pin"]
    assert pin_accounting.counts["save_location_path"] == 634
    for record, row in zip(sample.records, sample.cleaned):
        assert row["save_location"] == "/data/" + record["category"]
        assert row["ind"] == int(record["index"])
        assert row["downloaded"] == int(record["downloaded"])


def test_geo_and_user_samples_clean_field_by_field(samples):
    for record, row in zip(samples["geo"].records, samples["geo"].cleaned):
        assert row["coordinates"] == [float(record["latitude"]), float(record["longitude"])]
        assert comparable(row["timestamp"]) == parse_datetime(record["timestamp"]).replace(tzinfo=UTC)
        assert row["country"] == record["country"]
    for record, row in zip(samples["user"].records, samples["user"].cleaned):
        assert row["user_name"] == f"{record['first_name']} {record['last_name']}"
        assert row["age"] == int(record["age"])
        assert comparable(row["date_joined"]) == parse_datetime(record["date_joined"]).replace(tzinfo=UTC)


def test_samples_dedup_keeps_the_last_replay_per_key(samples):
    for event_type, sample in samples.items():
        key = "unique_id" if event_type == "pin" else "ind"
        last = {record[key]: i for i, record in enumerate(sample.records)}
        assert sample.latest_event_ids == {f"{i:06d}" for i in last.values()}
        assert len(sample.latest_event_ids) == 193


def test_null_rates_of_the_cleaned_pin_samples(samples, pin_accounting):
    cleaned, rates = samples["pin"].cleaned, pin_accounting.null_rates
    assert rates == {name: sum(row[name] is None for row in cleaned) / len(cleaned) for name in PIN_COLUMNS}
    assert list(rates) == list(PIN_COLUMNS)
    assert rates["image_src"] == 1.0 and rates["ind"] == 0.0
    assert 0 < rates["title"] < 0.1


# --- dedup ---------------------------------------------------------------------------------------


def test_latest_per_key_latest_received_wins_ties_go_to_the_greater_event_id(spark):
    at = lambda seconds: T0 + timedelta(seconds=seconds)  # noqa: E731
    frame = spark.createDataFrame(
        [
            ("a", at(1), "e1", "first post"),
            ("a", at(3), "e2", "latest replay"),
            ("a", at(2), "e3", "late arrival of an older replay"),
            ("b", at(5), "e4", "tie, smaller event id"),
            ("b", at(5), "e5", "tie, greater event id"),
            ("c", None, "e6", "no received_at"),
            ("c", at(0), "e7", "received"),
            ("d", at(9), "e8", "only one"),
            (None, at(9), "e9", "no key"),
            (None, at(8), "e10", "no key either"),
        ],
        "unique_id string, received_at timestamp, event_id string, note string",
    )
    kept = {row.unique_id: row.event_id for row in latest_per_key(frame, "unique_id").collect()}
    assert kept == {"a": "e2", "b": "e5", "c": "e7", "d": "e8"}


def test_dedup_keys_and_cleaned_replays(spark):
    """Pins are one per unique_id whatever their ind; geo (like user) events one per ind."""
    replays = [PIN_BASE | {"follower_count": "1k"}, PIN_BASE | {"follower_count": "2k"}, PIN_BASE | {"index": "1"}]
    pins = dedup("pin", clean_pins(raw_frame(spark, "pin", replays))).collect()
    assert [(row.ind, row.follower_count, row.event_id) for row in pins] == [(1, 124_000, "000002")]
    geo = [GEO_BASE, GEO_BASE | {"country": "Chad"}, GEO_BASE | {"ind": "1"}]
    kept = sorted((row.ind, row.country) for row in dedup("geo", clean_geo(raw_frame(spark, "geo", geo))).collect())
    assert kept == [(1, "Albania"), (7528, "Chad")]


# --- shape of the API ----------------------------------------------------------------------------


def spark_jobs(spark, action) -> int:
    """How many Spark jobs `action` runs."""
    context = spark.sparkContext
    group = f"test-{uuid.uuid4()}"
    context.setJobGroup(group, group)
    try:
        action()
    finally:
        context.setLocalProperty("spark.jobGroup.id", None)
    return len(context.statusTracker().getJobIdsForGroup(group))


def test_accounting_takes_one_aggregation(spark):
    raw = raw_frame(spark, "pin", [PIN_BASE, PIN_BASE | {"title": ""}])
    one_aggregation = spark_jobs(spark, lambda: raw.agg(F.count(F.lit(1))).first())
    assert spark_jobs(spark, lambda: rule_change_counts("pin", raw)) == one_aggregation
    assert spark_jobs(spark, lambda: null_rates(clean_pins(raw))) == one_aggregation


@pytest.mark.parametrize("event_type", CASES)
def test_clean_counts_the_rule_changes_while_it_writes(spark, tmp_path, event_type):
    raw = raw_frame(
        spark, event_type, [BASES[event_type] | case.raw | {"event_id": case.id} for case in CASES[event_type]]
    )
    rule_changes = Observation(f"rule_changes_{event_type}")
    cleaned = clean(event_type, raw, rule_changes)
    dedup(event_type, cleaned).write.parquet(str(tmp_path / "cleaned"))
    assert rule_changes.get == rule_change_counts(event_type, raw)
    assert any(rule_changes.get.values())


def test_null_rates_of_an_empty_frame_are_zero(spark):
    assert null_rates(spark.createDataFrame([], "a string, b int")) == {"a": 0.0, "b": 0.0}


def test_cleaning_is_row_wise_and_runs_on_a_stream(spark, tmp_path):
    for event_type in ("pin", "geo", "user"):
        raw_schema = spark_raw_schema(EVENT_TYPES[event_type])
        stream = spark.readStream.schema(T.StructType(raw_schema.fields + METADATA.fields)).json(str(tmp_path))
        cleaned = clean(event_type, stream)
        assert cleaned.isStreaming
        assert cleaned.columns == [*CLEANED_COLUMNS[event_type], *METADATA.fieldNames()]


def test_missing_columns_and_clashing_metadata_are_refused(spark):
    without_image_src = raw_frame(spark, "pin", [{k: v for k, v in PIN_BASE.items() if k != "image_src"}])
    assert "image_src" in clean_pins(without_image_src).columns
    without_title = without_image_src.drop("title")
    with pytest.raises(ValueError, match="title"):
        clean_pins(without_title)
    with pytest.raises(ValueError, match="ind"):
        clean_pins(without_image_src.withColumn("ind", F.lit(1)))
