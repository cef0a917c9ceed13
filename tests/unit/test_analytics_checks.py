"""The analytics assets' checks made to fail: `non_empty` and `medians_within_group_range`
(pinterest_assets/defs/analytics/assets.py, logic in pinterest_assets/lib/queries/analytics.py). The
assets run in Dagster on the local Spark over cleaned tables built for the case; their Parquet
and PostgreSQL writes are replaced by fakes. Neither check blocks: they are leaves, an ERROR
failure makes `make batch` exit 1."""

from __future__ import annotations

from datetime import datetime

import dagster as dg
import pytest
from pyspark.sql import functions as F

from pinterest_assets.defs.analytics import assets as analytics_assets
from pinterest_assets.defs.analytics.assets import MEDIANS_IN_RANGE, NON_EMPTY, analytics_tables
from pinterest_assets.lib.queries.analytics import QUESTIONS, CleanedTables, answer, medians_outside_group_range

PIN_COLUMNS = "ind int, unique_id string, category string, poster_name string, follower_count long"
GEO_COLUMNS = "ind int, country string, timestamp timestamp"
USER_COLUMNS = "ind int, age int, date_joined timestamp"
MEDIAN_QUESTIONS = [q for q in QUESTIONS if q.median_rows is not None]
# ind, category, poster, followers | country, post year | age, join year
ROWS = [
    (1, "art", "ann", 100, "Albania", 2020, 20, 2015),
    (2, "art", "bob", 300, "Albania", 2020, 30, 2015),
    (3, "travel", "cid", 500, "Chad", 2021, 40, 2016),
    (4, "quotes", "dee", 50, "Chad", 2021, 55, 2016),
]


def tables(spark, rows=ROWS, geo_offset: int = 0) -> CleanedTables:
    """Cleaned tables from `rows`; `geo_offset` moves the geo and user rows to other ind values."""
    pins = spark.createDataFrame([(r[0], f"u{r[0]}", r[1], r[2], r[3]) for r in rows], PIN_COLUMNS)
    geo = spark.createDataFrame([(r[0] + geo_offset, r[4], datetime(r[5], 6, 1)) for r in rows], GEO_COLUMNS)
    users = spark.createDataFrame([(r[0] + geo_offset, r[6], datetime(r[7], 6, 1)) for r in rows], USER_COLUMNS)
    return CleanedTables(pins, geo, users)


# The median check's logic ----------------------------------------------------------------------
def test_a_median_above_or_below_its_group_or_of_a_group_with_no_rows_is_counted(spark):
    cleaned = tables(spark)
    question = next(q for q in QUESTIONS if q.name == "median_follower_count_per_join_year")
    # 2015: follower counts 100 and 300; 2016: 500 and 50; no row joined in 2019
    doctored = spark.createDataFrame(
        [(2015, 301.0), (2016, 49.0), (2019, 10.0)], "post_year int, median_follower_count double"
    )
    assert medians_outside_group_range(question, cleaned, doctored) == 3
    within = spark.createDataFrame([(2015, 300.0), (2016, 50.0)], "post_year int, median_follower_count double")
    assert medians_outside_group_range(question, cleaned, within) == 0


# The checks, run by Dagster ----------------------------------------------------------------------
class NoS3:
    """No cleaned table has a state yet (CleanedTable.read_state finds no _state.json)."""

    class exceptions:  # noqa: N801 (boto3's spelling)
        class NoSuchKey(Exception):
            pass

    def get_client(self) -> NoS3:
        return self

    def get_object(self, Bucket: str, Key: str):  # noqa: N803
        raise self.exceptions.NoSuchKey(Key)


class Publisher:
    def connect_publisher(self, database: str) -> Publisher:
        return self

    def close(self) -> None:
        pass


class Spark:
    def __init__(self, session):
        self.spark_session = session


class Lake:
    bucket = "pinterest-data-lake"


@pytest.fixture
def published(monkeypatch) -> dict[str, list]:
    """The asset's Parquet and PostgreSQL writes, replaced: the rows published per question."""
    rows: dict[str, list] = {}
    monkeypatch.setattr(analytics_assets, "write_parquet", lambda *args: None)
    monkeypatch.setattr(
        analytics_assets, "replace_table", lambda conn, table, columns, values: rows.update({table: values})
    )
    return rows


def run_analytics(spark, monkeypatch, cleaned: CleanedTables | None) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    """Every analytics asset and check in one Dagster run over `cleaned` (None: the cleaned
    tables as they are before anything was cleaned); the evaluations by (question, check)."""
    if cleaned is not None:
        frames = {"pin": cleaned.pins, "geo": cleaned.geo, "user": cleaned.users}
        monkeypatch.setattr(
            analytics_assets, "read_cleaned", lambda session, table, event_type, version: frames[event_type]
        )
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [analytics_tables],
            instance=instance,
            resources={"pyspark": Spark(spark), "s3": NoS3(), "postgres": Publisher(), "raw_lake": Lake()},
        )
    assert result.success  # failed checks fail no run: none of them blocks
    evaluations = {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()}
    assert len(evaluations) == len(QUESTIONS) + len(MEDIAN_QUESTIONS)
    return evaluations


def test_the_checks_pass_for_pins_that_join_their_geo_and_users(spark, monkeypatch, published):
    checks = run_analytics(spark, monkeypatch, tables(spark))
    assert all(check.passed for check in checks.values())
    assert all(published[q.name] for q in QUESTIONS)


def test_before_anything_is_cleaned_every_answer_is_empty_and_fails_non_empty(spark, monkeypatch, published):
    checks = run_analytics(spark, monkeypatch, None)  # the real read_cleaned: no version yet, empty tables
    for question in QUESTIONS:
        check = checks[(question.name, NON_EMPTY)]
        assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
        assert check.metadata["rows"].value == 0 and published[question.name] == []


def test_pins_that_join_no_geo_or_user_fail_non_empty_for_every_question_over_the_join(spark, monkeypatch, published):
    checks = run_analytics(spark, monkeypatch, tables(spark, geo_offset=100))
    failed = {name for (name, check), evaluation in checks.items() if check == NON_EMPTY and not evaluation.passed}
    assert failed == {q.name for q in QUESTIONS} - {"users_joined_per_year"}  # that one reads the users alone
    assert all(checks[(q.name, MEDIANS_IN_RANGE)].passed for q in MEDIAN_QUESTIONS)  # no median, none outside


def test_a_median_off_its_group_fails_medians_within_group_range(spark, monkeypatch, published):
    def off_by_a_million(question, cleaned):
        frame = answer(question, cleaned)
        if question.median_rows is None:
            return frame
        return frame.withColumn("median_follower_count", F.col("median_follower_count") + 1e6)

    monkeypatch.setattr(analytics_assets, "answer", off_by_a_million)
    checks = run_analytics(spark, monkeypatch, tables(spark))
    for question in MEDIAN_QUESTIONS:
        check = checks[(question.name, MEDIANS_IN_RANGE)]
        assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
        assert check.metadata["medians_outside_range"].value == len(published[question.name]) > 0
    assert all(checks[(q.name, NON_EMPTY)].passed for q in QUESTIONS)
