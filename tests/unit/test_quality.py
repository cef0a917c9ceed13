"""pinterest_assets.lib.queries.quality: the clean step's split, and each check's figure made to fail
by data built for it (the pipeline test, tests/integration/test_data_quality.py, shows the
blocking ones stopping the analytics)."""

from __future__ import annotations

import base64
import json
from datetime import datetime

import pytest
from pyspark.sql import Observation, Row
from pyspark.sql import functions as F

from ingestion_api.canonical import CANONICAL_TRIPLE
from pinterest_assets.lib.queries import quality
from pinterest_assets.lib.queries.lake_tables import LAKE_LINE_SCHEMA
from pinterest_common.cleaning import CLEANED_COLUMNS, dedup

NOW = datetime(2026, 12, 1, 12, 0, 0)
UUIDS = [f"00000000-0000-4000-8000-{i:012d}" for i in range(10)]


def line(kind="pin", offset=0, event=None, value=None, **fields):
    """A raw lake line as the drain writes it for an API record of `kind` (override any field)."""
    event = event if event is not None else CANONICAL_TRIPLE[kind]
    base = {
        "event_id": f"10000000-0000-4000-8000-{offset:012d}",
        "event_type": kind,
        "received_at": "2026-12-01T10:00:00.000000Z",
        "schema_version": 1,
        "client_event_id": None,
        "kafka_topic": f"pinterest.{kind}",
        "kafka_partition": 0,
        "kafka_offset": offset,
        "kafka_timestamp": 1,
        "key": "k",
        "value": value if value is not None else json.dumps(event),
        "key_base64": None,
        "value_base64": None,
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
        0: None,
        1: None,
        2: "value_not_utf8",
        3: "invalid_headers",
        4: "downloaded_is_flag",
        5: "value_not_json",
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
        quality.triage(frame(spark, [line(offset=1, value="x"), line(offset=2, value="y")]), "pin"),
        datetime(2027, 1, 1),
    )
    kept = {
        r["kafka_offset"]: r[quality.QUARANTINED_AT]
        for r in quality.keep_first_quarantined_at(later, earlier).collect()
    }
    assert kept == {1: NOW, 2: datetime(2027, 1, 1)}


def test_each_value_is_parsed_once(spark):
    lines = frame(spark, [line(offset=0, event=pin(0))])
    staged = quality.cleaned_events(quality.stage(lines, "pin"), "pin")
    plan = staged._jdf.queryExecution().optimizedPlan().toString()
    assert plan.count("parseJson(") == 1 and "JsonToStructs" not in plan and "from_json" not in plan, plan


def test_stage_keeps_the_whole_line_only_where_it_is_quarantined(spark):
    staged = quality.stage(frame(spark, [line(offset=0, event=pin(0)), line(offset=1, value="{")]), "pin")
    rows = {r["kafka_offset"]: r for r in staged.collect()}
    assert rows[0]["value"] is None and rows[0][quality.EVENT]["unique_id"] == UUIDS[0]
    assert rows[1]["value"] == "{" and rows[1][quality.REASON] == "value_not_json"


def cleaned(spark, event_type, *events):
    lines = [line(event_type, offset=i, event=event) for i, event in enumerate(events)]
    return quality.cleaned_events(quality.triage(frame(spark, lines), event_type), event_type)


def cleaned_pins(spark, *events):
    return cleaned(spark, "pin", *events)


def figures(table, frame_):
    key = {"cleaned_pins": "unique_id"}.get(table, "ind")
    event_type = {"cleaned_pins": "pin", "cleaned_geo": "geo", "cleaned_users": "user"}[table]
    return quality.table_figures(table, frame_, key, CLEANED_COLUMNS[event_type])


def violations(table, frame_):
    return figures(table, frame_)["violations"]


def test_clean_data_breaks_no_rule(spark):
    assert set(violations("cleaned_pins", cleaned_pins(spark, pin(0), pin(1))).values()) == {0}


def test_the_cleaned_fields_are_those_of_the_value(spark):
    row = cleaned_pins(spark, pin(0, follower_count="12k", title="  Hi  ")).first()
    assert (row["unique_id"], row["follower_count"], row["title"]) == (UUIDS[0], 12000, "  Hi  ")
    assert row["client_event_id"] == row["event_id"] and row["received_at"] == datetime(2026, 12, 1, 10, 0, 0)


@pytest.mark.parametrize(
    "changes,check",
    [
        ({"title": "No Title Data Available"}, "no_sentinel_left"),
        ({"follower_count": -5}, "follower_count_not_negative"),
        ({"save_location": "/tmp/elsewhere"}, "save_location_is_path"),
    ],
)
def test_a_cleaned_pin_that_breaks_a_rule_fails_its_check(spark, changes, check):
    # Rows as a faulty pipeline would have written them, past the cleaning functions.
    good = cleaned_pins(spark, pin(0)).first().asDict()
    bad = spark.createDataFrame([Row(**{**good, **changes})], cleaned_pins(spark, pin(0)).schema)
    assert violations("cleaned_pins", bad)[check] == 1


def test_a_geo_row_off_the_globe_fails_coordinates_in_range(spark):
    geo = cleaned(spark, "geo", CANONICAL_TRIPLE["geo"])
    bad = spark.createDataFrame([Row(**{**geo.first().asDict(), "coordinates": [95.0, 0.0]})], geo.schema)
    assert violations("cleaned_geo", geo) == {"coordinates_in_range": 0}
    assert violations("cleaned_geo", bad) == {"coordinates_in_range": 1}


def test_a_user_of_200_fails_age_in_range(spark):
    users = cleaned(spark, "user", CANONICAL_TRIPLE["user"])
    bad = spark.createDataFrame([Row(**{**users.first().asDict(), "age": 200})], users.schema)
    assert violations("cleaned_users", users) == {"age_in_range": 0}
    assert violations("cleaned_users", bad) == {"age_in_range": 1}


def test_duplicates_count_keys_and_event_ids(spark):
    def duplicates(pins):
        found = figures("cleaned_pins", pins)
        return found["duplicate_keys"], found["duplicate_event_ids"]

    pins = cleaned_pins(spark, pin(0), pin(1))
    assert duplicates(pins) == (0, 0)
    rows = [r.asDict() for r in pins.collect()]
    same_key = spark.createDataFrame([Row(**r) for r in [*rows, {**rows[0], "event_id": "other"}]], pins.schema)
    same_id = spark.createDataFrame([Row(**r) for r in [*rows, {**rows[0], "unique_id": UUIDS[5]}]], pins.schema)
    assert duplicates(same_key) == (1, 0)
    assert duplicates(same_id) == (0, 1)


def test_figures_count_rows_and_null_rates(spark):
    found = figures(
        "cleaned_pins", cleaned_pins(spark, pin(0, title="Tulips"), pin(1))
    )  # the canonical title is a sentinel
    assert found["rows"] == 2 and found["null_rates"]["title"] == 0.5 and found["null_rates"]["unique_id"] == 0.0


def test_unknown_categories_are_counted(spark):
    pins = cleaned_pins(spark, pin(0), pin(1, category="gardening"), pin(2, category="gardening"))
    assert figures("cleaned_pins", pins)["unknown_category_rows"] == 2
    assert quality.category_counts(pins) == {"gardening": 2}


def no_index(spark):
    return spark.createDataFrame([], quality.INDEX_SCHEMA)


def run(spark, lines, index=None, table=None, totals=None):
    """What one run of the clean step makes of `lines` on top of an earlier run's `index`,
    cleaned `table` and `totals`: the running totals, the cleaned table, the quarantine's new
    rows and the index (as the asset does it, without S3)."""
    index = no_index(spark) if index is None else index
    lines = lines.withColumn(quality.REREAD, F.lit(False))
    marked = quality.mark_copies(quality.stage(lines, "pin"), quality.contested_ids(lines, index))
    split = quality.split_counts(marked)
    merged = quality.cleaned_events(marked, "pin")
    folded = Observation()
    folded_table = dedup("pin", merged if table is None else merged.unionByName(table), folded).cache()
    folded_table.count()
    totals = quality.add_totals(totals or dict.fromkeys(quality.TOTALS, 0), split, folded.get)
    return (
        totals,
        folded_table,
        quality.quarantine_rows(marked, NOW).collect(),
        index.unionByName(quality.index_entries(marked)),
    )


def account(totals, table, quarantined, index):
    return quality.accounting(totals, table.count(), quarantined, index.count())


@pytest.fixture
def lake(spark):
    """A run over three pin lines: two versions of one pin and a line the contract refuses."""
    lines = frame(
        spark, [line(offset=0, event=pin(0)), line(offset=1, event=pin(0, title="v2")), line(offset=2, value="{")]
    )
    return run(spark, lines)


def test_accounting_balances_for_a_clean_split(lake):
    counts = account(*lake)
    assert quality.balanced(counts), counts
    assert (
        counts["raw_lines"],
        counts["quarantined_lines"],
        counts["cleaned_rows"],
        counts["superseded"],
        counts["later_copies"],
        counts["index_rows"],
    ) == (3, 1, 1, 1, 0, 3)  # each line its own event_id
    assert lake[1].first()["title"] == "v2"


def test_accounting_finds_a_quarantined_row_twice_or_missing(lake):
    totals, table, quarantined, index = lake
    twice = account(totals, table, quarantined * 2, index)
    assert twice["quarantined_twice"] == 1 and not quality.balanced(twice)
    missing = account(totals, table, [], index)
    assert missing["unaccounted_lines"] == 1 and not quality.balanced(missing)


def test_accounting_finds_a_cleaned_row_planted_or_dropped(spark, lake):
    totals, table, quarantined, index = lake
    planted = table.unionByName(table.withColumn("unique_id", F.lit(UUIDS[9])))
    assert account(totals, planted, quarantined, index)["unaccounted_lines"] == -1
    assert account(totals, table.limit(0), quarantined, index)["unaccounted_lines"] == 1
    assert not quality.balanced(account(totals, planted, quarantined, index))


def test_accounting_finds_a_missing_index_entry_or_a_row_dropped_without_key(lake):
    totals, table, quarantined, index = lake
    unindexed = account(totals, table, quarantined, index.limit(1))
    assert unindexed["index_entries_missing"] == 2 and not quality.balanced(unindexed)
    keyless = account({**totals, "dropped_without_key": 1}, table, quarantined, index)
    assert not quality.balanced(keyless)


def test_running_totals_add_up_over_runs(spark, lake):
    totals, table, quarantined, index = lake
    later = frame(
        spark, [line(offset=3, event=pin(1)), line(offset=4, event=pin(0, title="v3")), line(offset=5, value="[")]
    )
    totals, table, more, index = run(spark, later, index, table, totals)
    counts = account(totals, table, quarantined + more, index)
    assert quality.balanced(counts), counts
    assert (counts["raw_lines"], counts["cleaned_rows"], counts["superseded"], counts["quarantined_lines"]) == (
        6,
        2,
        2,
        2,
    )


def test_folding_few_events_ranks_only_their_keys_with_the_same_outcome(spark, lake):
    _, table, _, _ = lake
    events = cleaned_pins(spark, pin(0, title="v3"), pin(1), pin(1, title="again"))
    outcomes = []
    for few in (None, events):
        dropped, rule_changes = Observation(), Observation()  # the asset observes the events' rule changes too
        observed = quality.cleaned_events(
            quality.triage(
                frame(
                    spark,
                    [
                        line(offset=i, event=e)
                        for i, e in enumerate([pin(0, title="v3"), pin(1), pin(1, title="again")])
                    ],
                ),
                "pin",
            ),
            "pin",
            rule_changes,
        )
        rows = sorted(
            (r["unique_id"], r["title"]) for r in quality.fold(table, observed, "pin", dropped, few).collect()
        )
        outcomes.append((rows, dropped.get, rule_changes.get))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][1] == {"superseded": 2, "without_key": 0} and len(outcomes[0][0]) == 2


def retried(offset, client_id, event, minute):
    return line(
        offset=offset, event=event, client_event_id=client_id, received_at=f"2026-12-01T10:{minute:02d}:00.000000Z"
    )


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
    counts = account(*run(spark, lines))
    assert quality.balanced(counts) and counts["later_copies"] == 1 and counts["cleaned_rows"] == 1, counts


def test_a_copy_arriving_in_a_later_run_is_found_through_the_index(spark):
    first = frame(spark, [retried(0, "a", pin(0), 0)])
    _, _, index = quality.first_copies(first, no_index(spark))
    firsts, copies, new_entries = quality.first_copies(frame(spark, [retried(5, "a", pin(0), 3)]), index)
    assert (firsts.count(), copies.count(), new_entries.count()) == (0, 1, 0)
    # The first copy itself, read again (a quarantine recheck), is still the first copy.
    firsts, copies, _ = quality.first_copies(first, index)
    assert (firsts.count(), copies.count()) == (1, 0)


def test_lines_without_any_id_are_their_own_first_copies_and_old_lines_use_the_event_id(spark):
    lines = frame(
        spark,
        [
            line(offset=0, event_id=None, event_type=None, received_at=None, schema_version=None),
            line(offset=1, event_id=None, event_type=None, received_at=None, schema_version=None),
            line(offset=2, event=pin(2)),
            line(offset=3, event=pin(2), event_id=line(offset=2)["event_id"]),
        ],
    )
    firsts, copies, index = quality.first_copies(lines, no_index(spark))
    assert sorted(r["kafka_offset"] for r in firsts.collect()) == [0, 1, 2]
    assert [r["kafka_offset"] for r in copies.collect()] == [3]  # same event_id, no client id: a Kafka-level copy
    assert index.count() == 1
