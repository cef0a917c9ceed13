"""pinterest_assets.queries.quality: the clean step's split, and each check's figure made to fail
by data built for it (the pipeline test, tests/integration/test_data_quality.py, shows the
blocking ones stopping the analytics)."""

from __future__ import annotations

import base64
import json
from datetime import datetime

import pytest
from pyspark.sql import Row
from pyspark.sql import functions as F

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
        "received_at": "2026-12-01T10:00:00.000000Z", "schema_version": 1, "client_event_id": None,
        "kafka_topic": f"pinterest.{kind}",
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


def no_index(spark):
    return spark.createDataFrame([], quality.INDEX_SCHEMA)


@pytest.fixture
def lake(spark):
    """Three pin lines: two versions of one pin and a line the contract refuses; and its index."""
    lines = frame(spark, [line(offset=0, event=pin(0)), line(offset=1, event=pin(0, title="v2")), line(offset=2, value="{")])
    firsts, copies, index = quality.first_copies(lines, no_index(spark))
    assert copies.count() == 0
    triaged = quality.triage(firsts, "pin")
    return lines, quality.quarantine_rows(triaged, NOW), dedup("pin", quality.cleaned_events(triaged, "pin")), index


def test_accounting_balances_for_a_clean_split(lake):
    lines, quarantined, cleaned, index = lake
    counts = quality.accounting(lines, quarantined, cleaned, index, "pin")
    assert quality.balanced(counts), counts
    assert (counts["raw_lines"], counts["quarantined_lines"], counts["cleaned_rows"], counts["later_copies"]) == (3, 1, 1, 0)


def test_accounting_finds_a_quarantined_row_twice_or_not_in_the_lake(spark, lake):
    lines, quarantined, cleaned, index = lake
    twice = quarantined.unionByName(quarantined)
    foreign = quarantined.unionByName(quarantined.withColumn("kafka_offset", quarantined["kafka_offset"] + 100))
    assert quality.accounting(lines, twice, cleaned, index, "pin")["quarantined_twice"] == 1
    assert quality.accounting(lines, foreign, cleaned, index, "pin")["quarantined_not_in_lake"] == 1
    assert not quality.balanced(quality.accounting(lines, twice, cleaned, index, "pin"))


def test_accounting_finds_a_cleaned_key_missing_or_extra(spark, lake):
    lines, quarantined, cleaned, index = lake
    extra = cleaned.unionByName(cleaned.limit(1).withColumn("unique_id", cleaned["unique_id"].substr(1, 3)))
    counts_missing = quality.accounting(lines, quarantined, cleaned.limit(0), index, "pin")
    counts_extra = quality.accounting(lines, quarantined, extra, index, "pin")
    assert counts_missing["cleaned_keys_missing"] == 1 and not quality.balanced(counts_missing)
    assert counts_extra["cleaned_keys_extra"] == 1 and not quality.balanced(counts_extra)
    dropped = quality.accounting(lines, quarantined.limit(0), cleaned, index, "pin")  # a refused line neither place
    assert dropped["quarantined_lines"] == 0


def retried(offset, client_id, event, minute):
    return line(offset=offset, event=event, client_event_id=client_id, received_at=f"2026-12-01T10:{minute:02d}:00.000000Z")


def test_a_retry_is_a_later_copy_and_never_supersedes_a_newer_version(spark):
    """A (client id a), then B, a newer version of the same pin (b), then A's retry (a again): the
    retry is set aside, so B stays the pin's row; the index names each id's first copy."""
    a, b = pin(0, title="A"), pin(0, title="B")
    lines = frame(spark, [retried(0, "a", a, 0), retried(1, "b", b, 1), retried(2, "a", a, 2)])
    firsts, copies, index = quality.first_copies(lines, no_index(spark))
    assert [r["kafka_offset"] for r in firsts.orderBy("kafka_offset").collect()] == [0, 1]
    assert [r["kafka_offset"] for r in copies.collect()] == [2]
    assert sorted((r["dedup_id"], r["kafka_offset"]) for r in index.collect()) == [("a", 0), ("b", 1)]
    cleaned = dedup("pin", quality.cleaned_events(quality.triage(firsts, "pin"), "pin"))
    assert [(r["title"], r["client_event_id"]) for r in cleaned.collect()] == [("B", "b")]
    counts = quality.accounting(lines, quality.quarantine_rows(quality.triage(firsts, "pin"), NOW), cleaned, index, "pin")
    assert quality.balanced(counts) and counts["later_copies"] == 1, counts


def test_a_copy_arriving_in_a_later_run_is_found_through_the_index(spark):
    first = frame(spark, [retried(0, "a", pin(0), 0)])
    _, _, index = quality.first_copies(first, no_index(spark))
    firsts, copies, new_entries = quality.first_copies(frame(spark, [retried(5, "a", pin(0), 3)]), index)
    assert (firsts.count(), copies.count(), new_entries.count()) == (0, 1, 0)
    # The first copy itself, read again (a quarantine recheck), is still the first copy.
    firsts, copies, _ = quality.first_copies(first, index)
    assert (firsts.count(), copies.count()) == (1, 0)


def test_lines_without_any_id_are_their_own_first_copies_and_old_lines_use_the_event_id(spark):
    lines = frame(spark, [
        line(offset=0, event_id=None, event_type=None, received_at=None, schema_version=None),
        line(offset=1, event_id=None, event_type=None, received_at=None, schema_version=None),
        line(offset=2, event=pin(2)), line(offset=3, event=pin(2), event_id=line(offset=2)["event_id"]),
    ])
    firsts, copies, index = quality.first_copies(lines, no_index(spark))
    assert sorted(r["kafka_offset"] for r in firsts.collect()) == [0, 1, 2]
    assert [r["kafka_offset"] for r in copies.collect()] == [3]  # same event_id, no client id: a Kafka-level copy
    assert index.count() == 1


def test_accounting_finds_a_line_the_index_does_not_know_or_a_copy_in_the_quarantine(spark, lake):
    lines, quarantined, cleaned, index = lake
    unknown = quality.accounting(lines, quarantined, cleaned, index.limit(0), "pin")
    assert unknown["lines_not_indexed"] == 3 and not quality.balanced(unknown)
    moved = index.withColumn("kafka_offset", F.when(F.col("kafka_offset") == 2, 99).otherwise(F.col("kafka_offset")))
    copy_quarantined = quality.accounting(lines, quarantined, cleaned, moved, "pin")
    assert copy_quarantined["later_copies_quarantined"] == 1 and not quality.balanced(copy_quarantined)
