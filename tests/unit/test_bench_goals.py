"""The benchmark's own measuring: per-event latency matching, marginal growth, and goals that a
partial or flattering result cannot meet."""

import math

from bench.drain import bare_loop_goal, drain_goal
from bench.ingest import ratio
from bench.spark_batch import empty_lake_ok, marginal_growth
from bench.streaming import goals, highest_bounded_rate, lag_bounded
from bench.streaming_latency import per_event_latency, read_answers


def test_latency_runs_from_each_events_own_2xx_and_clamps_at_zero():
    acknowledged = {"a": 10.0, "b": 10.5, "c": 12.0}
    seen = {"a": 11.0, "b": 11.0, "c": 11.5}  # c's row was visible before its answer arrived

    result = per_event_latency(3, acknowledged, seen)

    assert result["latency_ms"] == {"p50": 500.0, "p95": 1000.0, "p99": 1000.0, "max": 1000.0}
    assert (result["seen"], result["unseen"], result["failures"]) == (3, 0, 0)


def test_unseen_and_unacknowledged_events_count_as_infinitely_late():
    acknowledged = {f"e{i}": 0.0 for i in range(98)}
    seen = {f"e{i}": 0.1 for i in range(97)}  # e97 acknowledged, never seen; 2 events never acknowledged

    result = per_event_latency(100, acknowledged, seen)

    assert (result["unseen"], result["failures"]) == (1, 3)
    assert result["latency_ms"]["p95"] == 100.0
    assert result["latency_ms"]["p99"] is None and result["latency_ms"]["max"] is None


def test_nothing_seen_has_no_latency():
    assert per_event_latency(5, {}, {})["latency_ms"] == {"p50": None, "p95": None, "p99": None, "max": None}


def test_the_loadgen_record_gives_each_client_ids_own_2xx(tmp_path):
    record = tmp_path / "pin.answers"
    record.write_text("0 202 5.5\n2 503 6.0\n1 202 5.25\n3 0 7.0\n")

    assert read_answers(record, "lat-x-pin") == ({"lat-x-pin-0": 5.5, "lat-x-pin-1": 5.25}, 2)


def test_streaming_goal_needs_every_acknowledged_event_seen():
    fast_but_lossy = {"latency_ms": {"p99": 300.0}, "unseen": 1, "failures": 1}
    fast = {"latency_ms": {"p99": 300.0}, "unseen": 0, "failures": 0}
    late = {"latency_ms": {"p99": None}, "unseen": 0, "failures": 40}

    met = [next(iter(goals(latency, []).values()))["met"] for latency in (fast_but_lossy, fast, late)]

    assert met == [False, True, False]


def test_lag_is_judged_at_the_produced_rate():
    # a trend of 240/s is under 5% of the 5,000/s offered but not of the 4,600/s produced
    assert not lag_bounded(240.0, 4600.0, 3.0)
    assert lag_bounded(200.0, 4600.0, 3.0)
    assert not lag_bounded(0.0, 4600.0, None)  # never drained
    sweep = [
        {"offered_events_per_s": 5000, "produced_events_per_s": 4916.0, "bounded": True},
        {"offered_events_per_s": 6000, "produced_events_per_s": 5890.0, "bounded": False},
    ]
    assert highest_bounded_rate(sweep) == 4916.0
    latency = {"latency_ms": {"p99": 1.0}, "unseen": 0, "failures": 0}
    assert not list(goals(latency, sweep).values())[1]["met"]  # offered 5,000 but produced 4,916


def test_marginal_growth_subtracts_the_empty_lakes_fixed_cost():
    # walls 100 -> 140 -> 220 s over a 60 s fixed cost: marginal 40 -> 80 -> 160, linear
    result = marginal_growth([(250, 100.0), (500, 140.0), (1000, 220.0)], 60.0)

    assert [g["marginal_s"] for g in result["growth"]] == [40.0, 80.0, 160.0]
    assert result["x2_ratios"] == [2.0, 2.0]


def test_marginal_growth_has_no_ratio_without_a_fixed_cost_or_a_positive_marginal():
    assert marginal_growth([(1, 100.0), (2, 140.0), (4, 220.0)], None)["x2_ratios"] == [None, None]
    assert marginal_growth([(1, 50.0), (2, 140.0), (4, None)], 60.0)["x2_ratios"] == [None, None]


def test_the_empty_lake_run_counts_when_only_the_answers_non_empty_checks_failed():
    assert empty_lake_ok({"run_success": True, "failed_checks": ["top_category_per_country:non_empty"]})
    assert not empty_lake_ok({"run_success": False, "failed_checks": []})
    assert not empty_lake_ok({"run_success": True, "failed_checks": ["cleaned_pins:unique_key"]})


def _drain(**changes) -> dict:
    return {
        "events_per_s": 25_000.0,
        "ok": True,
        "events": 1_000_000,
        "backlog": 1_000_000,
        "backlog_left": 0,
        **changes,
    }


def test_the_drain_goal_needs_the_run_ok_and_the_whole_backlog_landed():
    assert drain_goal(_drain())["met"]
    assert not drain_goal(_drain(ok=False))["met"]
    assert not drain_goal(_drain(events=600_000))["met"]  # fast, but landed part of it
    assert not drain_goal(_drain(backlog_left=5))["met"]
    assert not drain_goal(_drain(events_per_s=19_999.0))["met"]


def test_the_bare_loop_goal_needs_half_the_same_run_loop_and_the_whole_backlog_landed():
    figures = _drain(share_of_bare_loop=0.6, bare_loop={"events_per_s": 41_000.0})
    assert bare_loop_goal(figures)["met"] and bare_loop_goal(figures)["value"]["share"] == 0.6
    assert not bare_loop_goal({**figures, "share_of_bare_loop": 0.49})["met"]
    assert not bare_loop_goal({**figures, "share_of_bare_loop": None})["met"]  # no ceiling measured
    assert not bare_loop_goal({**figures, "ok": False})["met"]
    assert not bare_loop_goal({**figures, "backlog_left": 1})["met"]


def test_a_ratio_without_a_ceiling_is_none():
    assert ratio(700.0, 1000.0) == 0.7
    assert ratio(700.0, 0.0) is None
    assert not math.isnan(ratio(1.0, 3.0))


def test_the_open_loop_run_offers_at_least_half_the_same_run_ceiling():
    from bench.ingest import open_loop_rate

    for ceiling in (1.0, 999.9, 4694.4, 5000.0, 37123.0):
        offered = open_loop_rate(ceiling)
        assert ceiling / 2 <= offered < ceiling / 2 + 100 and offered % 100 == 0
