"""pinterest_assets.queries.quality: the clean step's split, and each check's figure made to fail
by data built for it (the pipeline test, tests/integration/test_data_quality.py, shows the
blocking ones stopping the analytics)."""

from __future__ import annotations

import base64
import json
from datetime import datetime

import pytest
from pyspark.sql import Row

from ingestion_api.canonical import CANONICAL_TRIPLE
from pinterest_assets.queries import quality
from pinterest_assets.queries.lake_tables import LAKE_LINE_SCHEMA
from pinterest_common.cleaning import clean, dedup
from pinterest_assets.queries.lake_tables import raw_events_from_lines

NOW = datetime(2026, 12, 1, 12, 0, 0)
UUIDS = [f"00000000-0000-4000-8000-{i:012d}" for i in range(10)]


def line(kind="pin", offset=0, event=None, value=None, **fields):
    """A raw lake line as the drain writes it for an API record of `kind` (override any field)."""
    event = event if event is not None else CANONICAL_TRIPLE[kind]
    base = {
        "event_id": f"10000000-0000-4000-8000-{offset:012d}", "event_type": kind,
        "received_at": "2026-12-01T10:00:00.000000Z", "schema_version": 1, "kafka_topic": f"pinterest.{kind}",
        "kafka_partition": 0, "kafka_offset": offset, "kafka_timestamp": 1, "key": "k",
        "value": value if value is not None else json.dumps(event), "key_base64": None, "value_base64": None,
        "headers": None,
    }
    base.update(fields)
    return base


def frame(spark, lines):
    return spark.createDataFrame([Row(**item) for item in lines], LAKE_LINE_SCHEMA)


def pin(i, **changes):
    return {**CANONICAL_TRIPLE["pin"], "unique_id": UUIDS[i], **changes}


def test_triage_gives_each_line_its_reason(spark):
    lines = [
        line(offset=0, event=pin(0)),
        line(offset=1, event=pin(1, category="gardening")),  # new data: cleaned
        line(offset=2, value=None, value_base64=base64.b64encode(b"\xff").decode()),
        line(offset=3, event_id=None, event_type=None, received_at=None, schema_version=None),
        line(offset=4, event=pin(4, downloaded=3)),
        line(offset=5, value="{nope"),
        line(offset=6, event_type="geo"),
    ]
    rows = quality.triage(frame(spark, lines), "pin").select("kafka_offset", quality.REASON).collect()
    assert {r["kafka_offset"]: r[quality.REASON] for r in rows} == {
        0: None, 1: None, 2: "value_not_utf8", 3: "invalid_headers", 4: "downloaded_is_flag", 5: "value_not_json",
        6: "invalid_headers",
    }


def test_quarantine_rows_keep_the_line_whole_and_lines_of_gives_it_back(spark):
    lines = [line(offset=7, event=pin(7, unique_id="not-a-uuid"))]
    triaged = quality.triage(frame(spark, lines), "pin")
    quarantined = quality.quarantine_rows(triaged, NOW)
    row = quarantined.first()
    assert row[quality.REASON] == "unique_id_is_uuid" and row[quality.QUARANTINED_AT] == NOW
    assert [r.asDict() for r in quality.lines_of(quarantined).collect()] == [frame(spark, lines).first().asDict()]
    relaxed = quality.triage(quality.lines_of(quarantined), "pin", relaxed=["unique_id_is_uuid"])
    assert relaxed.first()[quality.REASON] is None


def test_a_line_quarantined_again_keeps_its_first_moment(spark):
    earlier = quality.quarantine_rows(quality.triage(frame(spark, [line(offset=1, value="x")]), "pin"), NOW)
    later = quality.quarantine_rows(
        quality.triage(frame(spark, [line(offset=1, value="x"), line(offset=2, value="y")]), "pin"), datetime(2027, 1, 1)
    )
    kept = {r["kafka_offset"]: r[quality.QUARANTINED_AT] for r in quality.keep_first_quarantined_at(later, earlier).collect()}
    assert kept == {1: NOW, 2: datetime(2027, 1, 1)}


def cleaned_pins(spark, *events):
    lines = [line(offset=i, event=event) for i, event in enumerate(events)]
    return clean("pin", raw_events_from_lines(frame(spark, lines), quality.EVENT_TYPES["pin"]))


def test_clean_data_breaks_no_rule(spark):
    assert set(quality.violations("cleaned_pins", cleaned_pins(spark, pin(0), pin(1))).values()) == {0}


@pytest.mark.parametrize("changes,check", [
    ({"title": "No Title Data Available"}, "no_sentinel_left"),
    ({"follower_count": -5}, "follower_count_not_negative"),
    ({"save_location": "/tmp/elsewhere"}, "save_location_is_path"),
])
def test_a_cleaned_pin_that_breaks_a_rule_fails_its_check(spark, changes, check):
    # Rows as a faulty pipeline would have written them, past the cleaning functions.
    good = cleaned_pins(spark, pin(0)).first().asDict()
    bad = spark.createDataFrame([Row(**{**good, **changes})], cleaned_pins(spark, pin(0)).schema)
    assert quality.violations("cleaned_pins", bad)[check] == 1


def test_a_geo_row_off_the_globe_fails_coordinates_in_range(spark):
    geo = clean("geo", raw_events_from_lines(frame(spark, [line("geo")]), quality.EVENT_TYPES["geo"]))
    bad = spark.createDataFrame([Row(**{**geo.first().asDict(), "coordinates": [95.0, 0.0]})], geo.schema)
    assert quality.violations("cleaned_geo", geo) == {"coordinates_in_range": 0}
    assert quality.violations("cleaned_geo", bad) == {"coordinates_in_range": 1}


def test_a_user_of_200_fails_age_in_range(spark):
    users = clean("user", raw_events_from_lines(frame(spark, [line("user")]), quality.EVENT_TYPES["user"]))
    bad = spark.createDataFrame([Row(**{**users.first().asDict(), "age": 200})], users.schema)
    assert quality.violations("cleaned_users", users) == {"age_in_range": 0}
    assert quality.violations("cleaned_users", bad) == {"age_in_range": 1}


def test_duplicates_count_keys_and_event_ids(spark):
    pins = cleaned_pins(spark, pin(0), pin(1))
    assert quality.duplicates(pins, "unique_id") == {"duplicate_keys": 0, "duplicate_event_ids": 0}
    rows = [r.asDict() for r in pins.collect()]
    same_key = spark.createDataFrame([Row(**r) for r in [*rows, {**rows[0], "event_id": "other"}]], pins.schema)
    same_id = spark.createDataFrame([Row(**r) for r in [*rows, {**rows[0], "unique_id": UUIDS[5]}]], pins.schema)
    assert quality.duplicates(same_key, "unique_id") == {"duplicate_keys": 1, "duplicate_event_ids": 0}
    assert quality.duplicates(same_id, "unique_id") == {"duplicate_keys": 0, "duplicate_event_ids": 1}


def test_unknown_categories_are_counted(spark):
    pins = cleaned_pins(spark, pin(0), pin(1, category="gardening"), pin(2, category="gardening"))
    assert quality.unknown_categories(pins) == {"gardening": 2}


@pytest.fixture
def lake(spark):
    """Three pin lines: two versions of one pin and a line the contract refuses."""
    lines = frame(spark, [line(offset=0, event=pin(0)), line(offset=1, event=pin(0, title="v2")), line(offset=2, value="{")])
    triaged = quality.triage(lines, "pin")
    return lines, quality.quarantine_rows(triaged, NOW), dedup("pin", quality.cleaned_events(triaged, "pin"))


def test_accounting_balances_for_a_clean_split(lake):
    counts = quality.accounting(*lake, "pin")
    assert quality.balanced(counts), counts
    assert (counts["raw_lines"], counts["quarantined_lines"], counts["cleaned_rows"]) == (3, 1, 1)


def test_accounting_finds_a_quarantined_row_twice_or_not_in_the_lake(spark, lake):
    lines, quarantined, cleaned = lake
    twice = quarantined.unionByName(quarantined)
    foreign = quarantined.unionByName(quarantined.withColumn("kafka_offset", quarantined["kafka_offset"] + 100))
    assert quality.accounting(lines, twice, cleaned, "pin")["quarantined_twice"] == 1
    assert quality.accounting(lines, foreign, cleaned, "pin")["quarantined_not_in_lake"] == 1
    assert not quality.balanced(quality.accounting(lines, twice, cleaned, "pin"))


def test_accounting_finds_a_cleaned_key_missing_or_extra(spark, lake):
    lines, quarantined, cleaned = lake
    extra = cleaned.unionByName(cleaned.limit(1).withColumn("unique_id", cleaned["unique_id"].substr(1, 3)))
    counts_missing = quality.accounting(lines, quarantined, cleaned.limit(0), "pin")
    counts_extra = quality.accounting(lines, quarantined, extra, "pin")
    assert counts_missing["cleaned_keys_missing"] == 1 and not quality.balanced(counts_missing)
    assert counts_extra["cleaned_keys_extra"] == 1 and not quality.balanced(counts_extra)
    dropped = quality.accounting(lines, quarantined.limit(0), cleaned, "pin")  # a refused line neither place
    assert dropped["quarantined_lines"] == 0
