"""Range planning for the drain sensors (pinterest_assets.lib.lake.ranges): no services."""

import pytest

from pinterest_assets.lib.lake.ranges import DrainCursor, OffsetRange, chunk, plan_ranges
from pinterest_common.kafka_io import PartitionOffsets

TOPIC = "pinterest.pin"


def offsets(*ends, earliest=0):
    return {p: PartitionOffsets(earliest, end) for p, end in enumerate(ends)}


def plan(offs, landed=None, cursor=None, in_flight=None, max_records=500, max_ranges=20):
    return plan_ranges(TOPIC, offs, landed or {}, cursor or DrainCursor(), in_flight or {}, max_records, max_ranges)


def spans(result):
    return [(r.partition, r.start, r.end) for r in result.ranges]


def test_range_ids_and_run_keys_name_the_offsets():
    r = OffsetRange(TOPIC, 2, 500, 1000)
    assert (r.size, r.last) == (500, 999)
    assert r.range_id == "pinterest.pin/p2/o500-o999"
    assert r.run_key() == r.range_id
    assert r.run_key(2) == "pinterest.pin/p2/o500-o999/retry-2"
    assert str(r) == "pinterest.pin p2 [500, 1000)"


@pytest.mark.parametrize("bad", [(-1, 0, 1), (0, -1, 1), (0, 5, 5), (0, 6, 5)])
def test_empty_or_negative_ranges_are_rejected(bad):
    with pytest.raises(ValueError):
        OffsetRange(TOPIC, *bad)


def test_chunks_cover_the_span_exactly_with_at_most_max_records():
    parts = chunk(TOPIC, 0, 7, 1234, 500)
    assert [(r.start, r.end) for r in parts] == [(7, 507), (507, 1007), (1007, 1234)]
    with pytest.raises(ValueError):
        chunk(TOPIC, 0, 0, 10, 0)


def test_first_tick_plans_every_partition_from_its_earliest_offset():
    result = plan(offsets(300, 0, 1200, earliest=0))
    assert spans(result) == [(0, 0, 300), (2, 0, 500), (2, 500, 1000), (2, 1000, 1200)]
    assert result.cursor.requested == {0: 300, 1: 0, 2: 1200}
    assert result.backlog == 0


def test_planning_starts_at_the_committed_offsets():
    result = plan(offsets(300, 400, 100), landed={0: 300, 1: 120})
    assert spans(result) == [(1, 120, 400), (2, 0, 100)]
    assert result.frontier == {0: 300, 1: 120, 2: 0}


def test_ranges_are_taken_round_robin_and_the_rest_is_backlog():
    result = plan(offsets(2000, 2000), max_records=500, max_ranges=3)
    assert spans(result) == [(0, 0, 500), (1, 0, 500), (0, 500, 1000)]
    assert result.backlog == 4000 - 1500
    assert result.cursor.requested == {0: 1000, 1: 500}


def test_a_second_tick_over_the_same_offsets_plans_the_same_ranges():
    first = plan(offsets(700, 20), landed={0: 100})
    second = plan(offsets(700, 20), landed={0: 100}, cursor=first.cursor)
    assert spans(first) == spans(second) == [(0, 100, 600), (1, 0, 20), (0, 600, 700)]
    assert [r.run_key() for r in first.ranges] == [r.run_key() for r in second.ranges]


def test_the_cursor_skips_ranges_whose_runs_are_in_flight():
    first = plan(offsets(300))
    # More records arrived; the run for [0, 300) has not landed yet but is in flight.
    second = plan(offsets(450), cursor=first.cursor, in_flight={0: 300})
    assert spans(second) == [(0, 300, 450)]
    assert second.cursor.requested == {0: 450}


def test_in_flight_runs_count_even_without_a_cursor():
    result = plan(offsets(450), in_flight={0: 300})
    assert spans(result) == [(0, 300, 450)]


def test_requested_but_not_in_flight_means_the_run_died_and_its_offsets_are_planned_again():
    first = plan(offsets(300))
    again = plan(offsets(450), cursor=first.cursor)  # nothing landed, nothing in flight
    assert spans(again) == [(0, 0, 450)]


def test_landed_past_the_cursor_moves_the_frontier():
    result = plan(offsets(900), landed={0: 800}, cursor=DrainCursor({0: 500}))
    assert spans(result) == [(0, 800, 900)]
    assert result.cursor.requested == {0: 900}


def test_nothing_new_plans_nothing_and_keeps_the_cursor_at_the_committed_offset():
    result = plan(offsets(300), landed={0: 300}, cursor=DrainCursor({0: 300}))
    assert result.ranges == ()
    assert result.cursor.requested == {0: 300}


def test_offsets_gone_from_kafka_before_landing_are_reported():
    result = plan(offsets(1000, earliest=600), landed={0: 100})
    assert spans(result) == [(0, 600, 1000)]
    assert any("[100, 600) left Kafka" in w for w in result.warnings)


def test_a_committed_offset_past_the_end_is_reported_and_nothing_planned():
    result = plan(offsets(10), landed={0: 500})
    assert result.ranges == ()
    assert any("recreated" in w for w in result.warnings)


def test_cursor_round_trip_and_garbage_cursor_is_empty():
    cursor = DrainCursor({2: 30, 0: 10})
    assert cursor.to_json() == '{"requested":{"0":10,"2":30}}'
    assert DrainCursor.from_json(cursor.to_json()) == cursor
    for garbage in (None, "", "not json", "[]", '{"requested": 3}', '{"other": {}}'):
        assert DrainCursor.from_json(garbage) == DrainCursor()
