"""The fault suite's verdicts and report (devstack/chaos/report.py): pure logic, no services."""

from __future__ import annotations

import argparse
from collections import Counter

import pytest

from devstack.chaos.__main__ import parse_scenarios
from devstack.chaos.report import KAFKA, RAW_LAKE, STREAMING, ScenarioResult, exit_code, render_details, render_table
from devstack.reconcile import StageCount, count_stage


def passed(number: int = 1) -> ScenarioResult:
    return ScenarioResult(number, "broker killed", acknowledged=3, recovery_s=12.34, recovery_what="until acked",
                          stages=[StageCount(store, 3, 3, 0) for store in (KAFKA, RAW_LAKE, STREAMING)])


def test_a_scenario_with_every_event_once_everywhere_passes():
    result = passed()
    assert result.ok and result.verdict == "ok" and result.failures() == []
    assert (result.lost, result.duplicated) == (0, 0)


def test_a_lost_event_in_one_store_fails_the_scenario():
    result = passed()
    result.stages[1] = count_stage(RAW_LAKE, ["a", "b", "c"], Counter({"a": 1, "b": 1}))
    assert not result.ok and result.lost == 1
    assert result.failures() == ["raw lake: 1 lost, 0 duplicated"]


def test_a_duplicated_event_fails_the_scenario():
    result = passed()
    result.stages[2] = count_stage(STREAMING, ["a", "b", "c"], Counter({"a": 2, "b": 1, "c": 1}))
    assert not result.ok and result.duplicated == 1 and result.lost == 0


def test_events_a_store_holds_beyond_the_ledger_do_not_count():
    stage = count_stage(KAFKA, ["a"], Counter({"a": 1, "earlier-scenario": 5}))
    assert stage.ok and stage.found == 1


def test_a_scenario_expectation_or_an_error_fails_it_even_with_exact_stores():
    result = passed()
    result.problems.append("the emulator gave up on 2 events")
    assert not result.ok and "the emulator gave up on 2 events" in result.failures()
    crashed = ScenarioResult(4, "driver killed", error="TimeoutError: streaming did not become ready")
    assert not crashed.ok and crashed.failures() == ["error: TimeoutError: streaming did not become ready"]


def test_nothing_acknowledged_or_nothing_reconciled_is_not_a_pass():
    assert ScenarioResult(1, "x", stages=[StageCount(KAFKA, 0, 0, 0)]).failures() == ["the API acknowledged no event"]
    assert ScenarioResult(1, "x", acknowledged=5).failures() == ["no store was reconciled"]


def test_notes_do_not_fail_a_scenario():
    result = passed()
    result.notes.append("5 garbage records with forged headers stored as rows")
    assert result.ok


def test_the_table_has_a_row_per_scenario_with_lost_and_duplicated_per_store():
    cluster = ScenarioResult(2, "cluster", acknowledged=3, stages=[StageCount(KAFKA, 3, 3, 0), StageCount(RAW_LAKE, 3, 2, 1)])
    table = render_table([passed(), cluster]).splitlines()
    assert table[0].split()[:3] == ["#", "scenario", "acked"]
    assert set(table[1]) <= {"-", " "}
    first, second = table[2], table[3]
    assert first.startswith("1") and "0/0" in first and "12.3" in first and first.endswith("ok")
    # not reconciled against streaming: "-"; the raw lake lost one and duplicated one
    assert second.split()[-4:] == ["1/1", "-", "-", "FAILED"]


def test_details_say_why_a_scenario_failed():
    result = passed()
    result.stages[0] = StageCount(KAFKA, 3, 2, 0)
    details = render_details([result])
    assert "FAILED: Kafka: 1 lost, 0 duplicated" in details and "recovery 12.3s: until acked" in details


def test_exit_code_is_1_when_any_scenario_failed_or_none_ran():
    assert exit_code([passed(1), passed(4)]) == 0
    failing = passed(7)
    failing.problems.append("garbage not in the raw lake exactly once")
    assert exit_code([passed(1), failing]) == 1
    assert exit_code([]) == 1


def test_scenario_selection():
    assert parse_scenarios("7,1, 3") == [1, 3, 7]
    for bad in ("", "1,9", "one"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_scenarios(bad)
