"""pinterest_common.quarantine: the contract's types and rules in Spark, case by case.

Each case is the canonical event with one change and the reason it must be quarantined with,
written down here (not derived from the code under test). For cases the API also sees, the test
asserts that the API's validator agrees: an EDGE rule or a type refuses at both places, a
CLEANING rule only at cleaning.
"""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from pyspark.sql import functions as F

from ingestion_api.canonical import CANONICAL_TRIPLE
from pinterest_common.quarantine import quarantine_reason, record_problem
from pinterest_common.schema import EVENT_TYPES, RELAXABLE_RULES, RULES, check_relaxable, validate

RECEIVED = datetime(2024, 6, 1, 12, 0, 0)


def changed(event_type: str, **fields) -> str:
    return json.dumps({**CANONICAL_TRIPLE[event_type], **fields})


def without(event_type: str, name: str) -> str:
    return json.dumps({k: v for k, v in CANONICAL_TRIPLE[event_type].items() if k != name})


# (event type, value text, expected reason or None, the API accepts it)
CASES = [
    ("pin", changed("pin"), None, True),
    ("geo", changed("geo"), None, True),
    ("user", changed("user"), None, True),
    ("pin", changed("pin", category="brand-new-category"), None, True),
    ("pin", changed("pin", index="7528", downloaded="1"), None, True),
    ("geo", changed("geo", latitude="-45.5", longitude=180), None, True),
    ("pin", "{not json", "value_not_json", False),
    ("pin", "[1, 2]", "value_not_object", False),
    ("pin", '"text"', "value_not_object", False),
    ("pin", without("pin", "unique_id"), "missing_field:unique_id", False),
    ("pin", without("pin", "image_src"), None, False),  # optional at cleaning (the sample capture lacks it)
    ("pin", changed("pin", title=12), "wrong_type:title", False),
    ("pin", changed("pin", title=None), "wrong_type:title", False),
    ("pin", changed("pin", index=1.5), "wrong_type:index", False),
    ("pin", changed("pin", index="12a"), "wrong_type:index", False),
    ("pin", changed("pin", index=True), "wrong_type:index", False),
    ("geo", changed("geo", latitude={"a": 1}), "wrong_type:latitude", False),
    ("geo", changed("geo", timestamp="yesterday"), "wrong_type:timestamp", False),
    ("pin", changed("pin", index=-3), "index_in_range", False),
    ("pin", changed("pin", index=2**31), "index_in_range", False),
    ("pin", changed("pin", unique_id="   "), "unique_id_not_blank", False),
    ("pin", changed("pin", unique_id="pin-42"), "unique_id_is_uuid", True),
    ("pin", changed("pin", downloaded=7), "downloaded_is_flag", True),
    ("pin", changed("pin", save_location="Somewhere else"), "save_location_is_path", True),
    ("pin", changed("pin", save_location=""), None, True),
    ("geo", changed("geo", latitude=90.5), "latitude_in_range", False),
    ("geo", changed("geo", longitude="-181"), "longitude_in_range", False),
    ("geo", changed("geo", timestamp="2024-06-03 12:00:00"), "timestamp_not_far_future", False),
    ("geo", changed("geo", timestamp="2024-06-01 13:00:00"), "timestamp_not_after_receipt", True),
    ("geo", changed("geo", timestamp="2009:12:31 23:59:59"), "timestamp_not_before_launch", True),
    ("user", changed("user", age=121), "age_plausible", False),
    ("user", changed("user", age="12"), "age_at_least_13", True),
    ("user", changed("user", date_joined="1999-01-01T00:00:00"), "date_joined_not_before_launch", True),
    ("user", changed("user", date_joined="2024-06-01 12:30:00"), "date_joined_not_after_receipt", True),
    ("user", changed("user", date_joined="2030-01-01 00:00:00"), "date_joined_not_far_future", False),
    ("user", changed("user", ind=-1, age=200), "ind_in_range", False),  # the first field's rule wins
]


@pytest.fixture(scope="module")
def reasons(spark):
    rows = [(i, event_type, value) for i, (event_type, value, _, _) in enumerate(CASES)]
    df = spark.createDataFrame(rows, "i int, event_type string, value string")
    df = df.withColumn("received_at", F.lit(RECEIVED))
    columns = [
        F.when(F.col("event_type") == name, quarantine_reason(event_type, F.col("value"), F.col("received_at")))
        for name, event_type in EVENT_TYPES.items()
    ]
    collected = df.select("i", F.coalesce(*columns).alias("reason")).collect()
    return {row["i"]: row["reason"] for row in collected}


@pytest.mark.parametrize("i", range(len(CASES)), ids=[f"{c[0]}-{c[2]}" for c in CASES])
def test_reason(reasons, i):
    assert reasons[i] == CASES[i][2]


@pytest.mark.parametrize("i", range(len(CASES)), ids=[f"{c[0]}-{c[2]}" for c in CASES])
def test_the_api_refuses_what_breaks_a_type_or_an_edge_rule(i):
    event_type, value, reason, accepted = CASES[i]
    if reason in ("value_not_json",):
        return
    assert (validate(EVENT_TYPES[event_type], json.loads(value), RECEIVED) == []) == accepted


def test_a_relaxed_rule_no_longer_quarantines(spark):
    df = spark.createDataFrame([(changed("user", age=12),)], "value string").withColumn("received_at", F.lit(RECEIVED))
    strict = quarantine_reason(EVENT_TYPES["user"], F.col("value"), F.col("received_at"))
    relaxed = quarantine_reason(EVENT_TYPES["user"], F.col("value"), F.col("received_at"), relaxed=["age_at_least_13"])
    row = df.select(strict.alias("strict"), relaxed.alias("relaxed")).first()
    assert (row["strict"], row["relaxed"]) == ("age_at_least_13", None)


def test_only_cleaning_rules_can_be_relaxed():
    assert check_relaxable(("age_at_least_13",)) == ("age_at_least_13",)
    with pytest.raises(ValueError, match="latitude_in_range"):
        check_relaxable(("latitude_in_range",))
    assert set(RELAXABLE_RULES) < set(RULES)


def test_record_problems_come_first(spark):
    df = spark.createDataFrame([(None, False), ("x", True), (changed("pin"), False)], "value string, bad boolean")
    problem = record_problem(F.col("value"), F.col("bad"))
    reason = quarantine_reason(EVENT_TYPES["pin"], F.col("value"), F.lit(RECEIVED), first_problem=problem)
    assert [r[0] for r in df.select(reason).collect()] == ["no_value", "value_not_utf8", None]
