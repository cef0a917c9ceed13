"""pinterest_assets.lib.queries.agreement: the streaming tables recomputed from lake lines, on a
few hand-written lines whose aggregates are worked out by hand below, and the comparisons."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime

from pyspark.sql import Row

from ingestion_api.canonical import CANONICAL_TRIPLE
from pinterest_assets.lib.queries import agreement
from pinterest_assets.lib.queries.lake_tables import LAKE_LINE_SCHEMA

U = [f"00000000-0000-4000-8000-{i:012d}" for i in range(5)]


def pin(unique_id, poster, followers, category, media):
    return {
        **CANONICAL_TRIPLE["pin"],
        "unique_id": unique_id,
        "poster_name": poster,
        "follower_count": followers,
        "category": category,
        "save_location": f"Local save in /data/{category}",
        "is_image_or_video": media,
    }


def line(offset, received, event, partition=0, client=None, **fields):
    base = {
        "event_id": f"10000000-0000-4000-8000-{offset:012d}",
        "event_type": "pin",
        "received_at": f"2026-12-01T{received}.000000Z",
        "schema_version": 1,
        "client_event_id": client,
        "kafka_topic": "pinterest.pin",
        "kafka_partition": partition,
        "kafka_offset": offset,
        "kafka_timestamp": 1,
        "key": "k",
        "value": event if isinstance(event, str) else json.dumps(event),
        "key_base64": None,
        "value_base64": None,
        "headers": None,
    }
    return {**base, **fields}


# alice posts U0 twice (a re-post) and U1; her retried copy (offset 2, client id c1) is not
# counted; a scrape failure (no poster) and two lines that are no event complete the minute.
LINES = [
    line(0, "10:00:10", pin(U[0], "alice", "1000", "travel", "image")),
    line(1, "10:00:20", pin(U[0], "alice", "2k", "art", "video"), client="c1"),
    line(2, "10:00:25", pin(U[0], "alice", "9k", "art", "video"), client="c1"),
    line(3, "10:01:05", pin(U[1], "alice", "User Info Error", "travel", "image")),
    line(4, "10:00:30", pin(U[2], "User Info Error", "User Info Error", "travel", "multi-video(story page format)")),
    line(5, "10:00:40", "{nope"),
    line(6, "10:00:50", pin(U[3], "bob", "5", "art", "image"), event_id=None),
]


def frame(spark, lines):
    return spark.createDataFrame([Row(**item) for item in lines], LAKE_LINE_SCHEMA)


def at(clock: str) -> datetime:
    return datetime.fromisoformat(f"2026-12-01T{clock}+00:00")


def test_streamed_events_are_the_first_copies_of_the_api_records_that_clean(spark):
    events = agreement.streamed_events(frame(spark, LINES), "pin").collect()
    assert sorted(e["kafka_offset"] for e in events) == [0, 1, 3, 4]
    assert {e["kafka_offset"]: e["follower_count"] for e in events} == {0: 1000, 1: 2000, 3: None, 4: None}


def test_lines_whose_headers_the_pipelines_treat_apart_are_counted_and_streamed_as_the_job_does(spark):
    odd = [
        line(7, "10:00:00", pin(U[4], "carol", "1", "art", "image"), event_id="not-a-uuid"),
        line(8, "10:00:00", pin(U[4], "carol", "1", "art", "image"), schema_version=99),
    ]
    lines = frame(spark, LINES + odd)
    assert agreement.explained_lines(lines, "pin") == {
        "lines_without_api_headers": 1,  # offset 6
        "lines_streamed_with_refused_headers": 2,  # 7 and 8: the job stores 7, and 8 (another event_id)
    }
    offsets = sorted(e["kafka_offset"] for e in agreement.streamed_events(lines, "pin").collect())
    assert offsets == [0, 1, 3, 4, 7, 8]


def test_profile_popularity_by_hand(spark):
    pins = agreement.streamed_events(frame(spark, LINES), "pin")
    rows = agreement.collect_rows(agreement.profile_popularity(pins), agreement.PROFILE_KEY, agreement.PROFILE_VALUES)
    # Minute 10:00: offsets 0 and 1 (one unique_id), latest follower count 2000 (10:00:20).
    # Minute 10:01: offset 3 only, no follower count.
    # Rolling hours holding 10:00-10:01: those starting 09:15, 09:30, 09:45 and 10:00, all three pins.
    minute = {
        "pins_posted": 2,
        "distinct_pins": 1,
        "latest_follower_count": 2000,
        "categories": ["art", "travel"],
        "popularity_score": 1 * math.log10(10 + 2000),
    }
    hour = {
        "pins_posted": 3,
        "distinct_pins": 2,
        "latest_follower_count": 2000,  # the latest pin with one: 10:01:05 has none
        "categories": ["art", "travel"],
        "popularity_score": 2 * math.log10(10 + 2000),
    }
    expected = {
        ("1m", at("10:00:00"), "alice"): {**minute, "window_end": at("10:01:00")},
        ("1m", at("10:01:00"), "alice"): {
            "window_end": at("10:02:00"),
            "pins_posted": 1,
            "distinct_pins": 1,
            "latest_follower_count": None,
            "categories": ["travel"],
            "popularity_score": 1.0,  # 1 * log10(10 + 0)
        },
        **{
            ("1h", at(start), "alice"): {**hour, "window_end": at(end)}
            for start, end in (("09:15:00", "10:15:00"), ("09:30:00", "10:30:00"), ("09:45:00", "10:45:00"))
        },
        ("1h", at("10:00:00"), "alice"): {**hour, "window_end": at("11:00:00")},
    }
    assert rows.keys() == expected.keys()
    assert agreement.compare_rows(expected, rows, agreement.PROFILE_VALUES, at("12:00:00")).differences == []


def test_category_trends_by_hand(spark):
    pins = agreement.streamed_events(frame(spark, LINES), "pin")
    rows = agreement.collect_rows(agreement.category_trends(pins), agreement.TREND_KEY, agreement.TREND_VALUES)
    assert rows == {
        # offsets 0 (image, 1000) and 4 (story format, no follower count)
        ("travel", at("10:00:00")): {
            "window_end": at("10:01:00"),
            "events": 2,
            "image_share": 0.5,
            "video_share": 0.5,
            "avg_follower_count": 1000.0,
        },
        ("art", at("10:00:00")): {
            "window_end": at("10:01:00"),
            "events": 1,
            "image_share": 0.0,
            "video_share": 1.0,
            "avg_follower_count": 2000.0,
        },
        ("travel", at("10:01:00")): {
            "window_end": at("10:02:00"),
            "events": 1,
            "image_share": 1.0,
            "video_share": 0.0,
            "avg_follower_count": None,
        },
    }


def test_covered_lines_are_below_both_offsets_per_partition(spark):
    bounds = agreement.covered_bounds({0: 4, 1: 9}, {"0": 6, "1": 2, "2": 5})
    assert bounds == {0: 4, 1: 2, 2: 0}
    lines = [line(3, "10:00:00", "{}"), line(4, "10:00:00", "{}"), line(1, "10:00:00", "{}", partition=1)]
    kept = frame(spark, lines).where(agreement.covered(bounds)).collect()
    assert sorted((r["kafka_partition"], r["kafka_offset"]) for r in kept) == [(0, 3), (1, 1)]


def test_horizon_is_the_first_uncovered_record_or_now_less_the_margin():
    now = at("12:00:00")
    assert agreement.horizon([], now) == now - agreement.HORIZON_MARGIN
    assert agreement.horizon([at("11:00:00"), at("11:30:00")], now) == at("11:00:00") - agreement.HORIZON_MARGIN


def test_compare_rows_names_the_key_the_column_and_both_values_of_closed_windows_only():
    row = {"window_end": at("10:01:00"), "pins_posted": 2, "popularity_score": 1.0, "categories": ["a", "b"]}
    open_row = {**row, "window_end": at("11:00:00")}
    lake = {("1m", at("10:00:00"), "a"): row, ("1m", at("10:00:00"), "b"): row, ("1h", at("10:00:00"), "a"): open_row}
    streaming = {
        ("1m", at("10:00:00"), "a"): {**row, "pins_posted": 3, "popularity_score": 1.0 + 1e-12},
        ("1m", at("10:00:00"), "c"): row,
        ("1h", at("10:00:00"), "a"): {**open_row, "pins_posted": 9},
    }
    result = agreement.compare_rows(lake, streaming, ("pins_posted", "popularity_score", "categories"), at("10:30:00"))
    assert (result.compared, result.not_yet_comparable, result.disagreeing_keys) == (3, 1, 3)
    assert set(result.differences) == {
        agreement.Difference(("1m", at("10:00:00"), "a"), "pins_posted", 2, 3),
        agreement.Difference(("1m", at("10:00:00"), "b"), agreement.ROW, "present", agreement.ABSENT),
        agreement.Difference(("1m", at("10:00:00"), "c"), agreement.ROW, agreement.ABSENT, "present"),
    }


def test_compare_days_compares_the_event_ids_received_before_the_horizon_per_day():
    day1, day2 = datetime(2026, 11, 30, 23, 59, tzinfo=UTC), datetime(2026, 12, 1, 0, 1, tzinfo=UTC)
    late = datetime(2026, 12, 1, 7, tzinfo=UTC)
    lake = {"e1": day1, "e2": day1, "e3": day2, "e6": late}
    streaming = {"e1": day1, "e4": day1, "e3": day2, "e7": late}
    result = agreement.compare_days(lake, streaming, datetime(2026, 12, 1, 6, tzinfo=UTC))
    assert (result.compared_days, result.compared_events, result.not_yet_comparable_events) == (2, 3, 2)
    assert result.differences == [agreement.DayCount(date(2026, 11, 30), 2, 2, ["e2"], ["e4"])]


def test_the_demo_line_adds_up_the_agreement_checks_metadata():
    import dagster as dg

    from devstack.demo import agreement_line

    def evaluation(table, **metadata):
        return dg.AssetCheckEvaluation(asset_key=dg.AssetKey(table), check_name="c", passed=True, metadata=metadata)

    windows = {"disagreeing_windows": 0, "seconds": 12.34}
    events = {"compared_days": 1, "disagreeing_days": 0, "not_yet_comparable_events": 2, "seconds": 12.34}
    evaluations = {
        "profile_popularity": evaluation(
            "profile_popularity", compared_windows=1200, not_yet_comparable_windows=7, **windows
        ),
        "category_trends": evaluation("category_trends", compared_windows=80, not_yet_comparable_windows=3, **windows),
        "experimental_data": evaluation(
            "experimental_data",
            compared_events=100,
            lines_without_api_headers=4,
            lines_streamed_with_refused_headers=1,
            **events,
        ),
        "geo_data": evaluation(
            "geo_data",
            compared_events=101,
            lines_without_api_headers=0,
            lines_streamed_with_refused_headers=2,
            **events,
        ),
        "user_data": evaluation(
            "user_data",
            compared_events=102,
            lines_without_api_headers=0,
            lines_streamed_with_refused_headers=0,
            **events,
        ),
    }
    assert agreement_line(evaluations) == (
        "agreement: streaming = lake on 1,200 windows of profile_popularity, 80 of category_trends, 303 events "
        "over 1 day(s); 0 disagreement(s) (10 windows and 6 events not yet comparable, 7 lines whose headers the "
        "pipelines treat apart by design); check took 12.3s"
    )
