"""The historical questions, as plain PySpark over the cleaned pin, geo and user tables.

Semantics (docs/DATA_CONTRACT.md section 3): pins join geo and user on `ind` (inner joins);
ties keep every tied row (RANK, never an arbitrary pick); medians are exact and interpolating
(PERCENTILE_CONT(0.5)) and ignore NULL follower counts; age groups are 18-24, 25-35, 36-50 and
+50 (ages under 18 belong to no group and are left out of the age-group answers).

Every question but one reads the same three-way join, `CleanedTables.joined`: built once per
`CleanedTables`, so a caller that persists it answers them all from one join.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from pinterest_common.cleaning import age_group


@dataclass(frozen=True)
class Question:
    name: str
    description: str
    columns: tuple[str, ...]
    compute: Callable[[CleanedTables], DataFrame]
    # For median questions: the rows the median is taken over (grouped by columns[:-1]).
    median_rows: Callable[[CleanedTables], DataFrame] | None = None


@dataclass(frozen=True)
class CleanedTables:
    pins: DataFrame
    geo: DataFrame
    users: DataFrame

    @cached_property
    def joined(self) -> DataFrame:
        """One row per cleaned pin with its geo and user columns (the columns the questions read);
        the same frame on every call."""
        geo = self.geo.select("ind", "country", F.year("timestamp").alias("post_year"))
        users = self.users.select("ind", "age", F.year("date_joined").alias("join_year"))
        return (
            self.pins.select("ind", "category", "poster_name", "follower_count")
            .join(geo, "ind")
            .join(users, "ind")
            .withColumn("age_group", age_group(F.col("age")))
        )


def _top_rows(frame: DataFrame, partition: list[str], order_col: str) -> DataFrame:
    """The rows with the highest `order_col` in each partition, ties kept."""
    window = Window.partitionBy(*partition).orderBy(F.col(order_col).desc())
    return frame.withColumn("_rank", F.rank().over(window)).where("_rank = 1").drop("_rank")


def _top_category(frame: DataFrame, by: str) -> DataFrame:
    counts = (
        frame.where(F.col(by).isNotNull() & F.col("category").isNotNull())
        .groupBy(by, "category")
        .agg(F.count("*").alias("category_count"))
    )
    return _top_rows(counts, [by], "category_count")


def _median_follower_count(frame: DataFrame, by: list[str]) -> DataFrame:
    rows = frame.where(F.col("follower_count").isNotNull())
    for column in by:
        rows = rows.where(F.col(column).isNotNull())
    return rows.groupBy(*by).agg(F.percentile("follower_count", 0.5).alias("median_follower_count"))


def top_category_per_country(t: CleanedTables) -> DataFrame:
    return _top_category(t.joined, "country")


def top_category_per_post_year(t: CleanedTables) -> DataFrame:
    return _top_category(t.joined, "post_year")


def _posters_by_country(t: CleanedTables) -> DataFrame:
    return (
        t.joined.where(
            F.col("country").isNotNull() & F.col("poster_name").isNotNull() & F.col("follower_count").isNotNull()
        )
        .select("country", "poster_name", "follower_count")
        .distinct()
    )


def most_followed_poster_per_country(t: CleanedTables) -> DataFrame:
    return _top_rows(_posters_by_country(t), ["country"], "follower_count")


def most_followed_poster_country(t: CleanedTables) -> DataFrame:
    leaders = _posters_by_country(t).select("country", "follower_count").distinct()
    return _top_rows(leaders, [], "follower_count")


def top_category_per_age_group(t: CleanedTables) -> DataFrame:
    return _top_category(t.joined, "age_group")


def median_follower_count_per_age_group(t: CleanedTables) -> DataFrame:
    return _median_follower_count(t.joined, ["age_group"])


def users_joined_per_year(t: CleanedTables) -> DataFrame:
    return (
        t.users.where(F.col("date_joined").isNotNull())
        .groupBy(F.year("date_joined").alias("post_year"))
        .agg(F.count("*").alias("number_users_joined"))
    )


def _joined(t: CleanedTables) -> DataFrame:
    return t.joined


def _by_join_year(t: CleanedTables) -> DataFrame:
    """The joined rows with the contract's name `post_year` standing for the joining year."""
    return t.joined.drop("post_year").withColumnRenamed("join_year", "post_year")


def median_follower_count_per_join_year(t: CleanedTables) -> DataFrame:
    return _median_follower_count(_by_join_year(t), ["post_year"])


def median_follower_count_per_join_year_and_age_group(t: CleanedTables) -> DataFrame:
    return _median_follower_count(_by_join_year(t), ["age_group", "post_year"])


def top_category_this_year(t: CleanedTables) -> DataFrame:
    """The seed's example: the most popular category in the latest post year the data holds."""
    joined = t.joined
    latest = joined.agg(F.max("post_year").alias("post_year"))
    return _top_category(joined.join(latest, "post_year"), "post_year")


QUESTIONS: tuple[Question, ...] = (
    Question(
        "top_category_per_country",
        "Most popular category per country",
        ("country", "category", "category_count"),
        top_category_per_country,
    ),
    Question(
        "top_category_per_post_year",
        "Most popular category per post year",
        ("post_year", "category", "category_count"),
        top_category_per_post_year,
    ),
    Question(
        "most_followed_poster_per_country",
        "Most-followed poster per country",
        ("country", "poster_name", "follower_count"),
        most_followed_poster_per_country,
    ),
    Question(
        "most_followed_poster_country",
        "The country of the most-followed poster",
        ("country", "follower_count"),
        most_followed_poster_country,
    ),
    Question(
        "top_category_per_age_group",
        "Most popular category per age group",
        ("age_group", "category", "category_count"),
        top_category_per_age_group,
    ),
    Question(
        "median_follower_count_per_age_group",
        "Median follower count per age group",
        ("age_group", "median_follower_count"),
        median_follower_count_per_age_group,
        _joined,
    ),
    Question(
        "users_joined_per_year", "Users joined per year", ("post_year", "number_users_joined"), users_joined_per_year
    ),
    Question(
        "median_follower_count_per_join_year",
        "Median follower count by joining year",
        ("post_year", "median_follower_count"),
        median_follower_count_per_join_year,
        _by_join_year,
    ),
    Question(
        "median_follower_count_per_join_year_and_age_group",
        "Median follower count by joining year and age group",
        ("age_group", "post_year", "median_follower_count"),
        median_follower_count_per_join_year_and_age_group,
        _by_join_year,
    ),
    Question(
        "top_category_this_year",
        "Most popular category in the latest post year",
        ("post_year", "category", "category_count"),
        top_category_this_year,
    ),
)


def answer(question: Question, tables: CleanedTables) -> DataFrame:
    """The question's answer with exactly the contract's columns, in a stable order."""
    return question.compute(tables).select(*question.columns).orderBy(*question.columns)


def medians_outside_group_range(question: Question, tables: CleanedTables, answer_frame: DataFrame) -> int:
    """How many of a median question's medians fall outside their group's min..max follower count."""
    assert question.median_rows is not None, f"{question.name} is not a median question"
    groups = list(question.columns[:-1])
    bounds = (
        question.median_rows(tables)
        .where(F.col("follower_count").isNotNull())
        .groupBy(*groups)
        .agg(F.min("follower_count").alias("low"), F.max("follower_count").alias("high"))
    )
    joined = answer_frame.join(bounds, groups, "left")
    outside = (
        F.col("low").isNull()
        | (F.col("median_follower_count") < F.col("low"))
        | (F.col("median_follower_count") > F.col("high"))
    )
    return joined.where(outside).count()
