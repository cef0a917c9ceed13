"""The analytics queries on small hand-built cleaned tables: ties, medians, age groups."""

from __future__ import annotations

from datetime import datetime

import pytest

from pinterest_assets.lib.queries.analytics import QUESTIONS, CleanedTables, answer

PIN_COLUMNS = "ind int, unique_id string, category string, poster_name string, follower_count long"
GEO_COLUMNS = "ind int, country string, timestamp timestamp"
USER_COLUMNS = "ind int, age int, date_joined timestamp"


def ts(year: int, month: int = 6) -> datetime:
    return datetime(year, month, 1, 12, 0, 0)


# ind, category, poster, followers | country, post year | age, join year
ROWS = [
    (1, "art", "ann", 100, "Albania", 2020, 20, 2015),
    (2, "art", "bob", 300, "Albania", 2020, 30, 2015),
    (3, "travel", "cid", 300, "Albania", 2021, 40, 2016),  # ties bob for Albania's most-followed
    (4, "travel", "dee", None, "Chad", 2021, 55, 2016),  # NULL followers: ignored by medians
    (5, "quotes", "eve", 50, "Chad", 2021, 24, 2017),
    (6, "travel", "fay", 1000, "Chad", 2021, 51, 2017),
    (7, "quotes", "gus", 10, "Chad", 2021, 17, 2017),  # no age group
]


@pytest.fixture(scope="module")
def answers(spark):
    pins = spark.createDataFrame(
        [(i, f"u{i}", cat, poster, followers) for i, cat, poster, followers, *_ in ROWS], PIN_COLUMNS
    )
    geo = spark.createDataFrame([(r[0], r[4], ts(r[5])) for r in ROWS], GEO_COLUMNS)
    users = spark.createDataFrame([(r[0], r[6], ts(r[7])) for r in ROWS], USER_COLUMNS)
    tables = CleanedTables(pins, geo, users)
    return {q.name: [tuple(row) for row in answer(q, tables).collect()] for q in QUESTIONS}


def test_ties_keep_every_tied_row(answers):
    # Albania: art 2, travel 1; Chad: travel 2, quotes 2 (a tie, both kept)
    assert answers["top_category_per_country"] == [
        ("Albania", "art", 2),
        ("Chad", "quotes", 2),
        ("Chad", "travel", 2),
    ]
    assert answers["most_followed_poster_per_country"] == [
        ("Albania", "bob", 300),
        ("Albania", "cid", 300),
        ("Chad", "fay", 1000),
    ]
    assert answers["most_followed_poster_country"] == [("Chad", 1000)]


def test_post_year_and_latest_year(answers):
    assert answers["top_category_per_post_year"] == [(2020, "art", 2), (2021, "travel", 3)]
    assert answers["top_category_this_year"] == [(2021, "travel", 3)]


def test_age_groups_and_interpolating_medians(answers):
    # 18-24: ann 100, eve 50 -> 75.0; 25-35: bob 300; 36-50: cid 300; +50: fay 1000 (dee NULL ignored)
    assert answers["median_follower_count_per_age_group"] == [
        ("+50", 1000.0),
        ("18-24", 75.0),
        ("25-35", 300.0),
        ("36-50", 300.0),
    ]
    assert answers["top_category_per_age_group"] == [
        ("+50", "travel", 2),
        ("18-24", "art", 1),
        ("18-24", "quotes", 1),
        ("25-35", "art", 1),
        ("36-50", "travel", 1),
    ]


def test_joining_year_answers(answers):
    assert answers["users_joined_per_year"] == [(2015, 2), (2016, 2), (2017, 3)]
    # 2015: 100, 300 -> 200; 2016: 300 (NULL ignored); 2017: 50, 1000, 10 -> 50
    assert answers["median_follower_count_per_join_year"] == [(2015, 200.0), (2016, 300.0), (2017, 50.0)]
    assert answers["median_follower_count_per_join_year_and_age_group"] == [
        ("+50", 2017, 1000.0),
        ("18-24", 2015, 100.0),
        ("18-24", 2017, 50.0),
        ("25-35", 2015, 300.0),
        ("36-50", 2016, 300.0),
    ]
