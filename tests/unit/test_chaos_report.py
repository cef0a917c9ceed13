"""The fault suite's verdicts and report (devstack/chaos/report.py): pure logic, no services."""

from __future__ import annotations

import argparse
import json

import pytest

from devstack.chaos.__main__ import parse_scenarios
from devstack.chaos.report import (
    KAFKA,
    RAW_LAKE,
    STREAMING,
    CleanedCheck,
    ScenarioResult,
    exit_code,
    render_details,
    render_table,
)
from devstack.reconcile import ClientCount, ClientLedger, read_client_ledger


def once(store: str, exact: bool, copies: int = 0, **counts) -> ClientCount:
    return ClientCount(store, exact, acknowledged=3, found=3, duplicated=min(copies, 3), copies=copies, **counts)


def passed(number: int = 1, retried: int = 2, kafka_copies: int = 0) -> ScenarioResult:
    result = ScenarioResult(number, "broker killed", must_retry=True, recovery_s=12.34, recovery_what="until acked")
    ledger = ClientLedger(
        {("pin", c): "acknowledged" for c in "abc"} | {("pin", "f"): "failed"},
        {("pin", c): 1 + (i < retried) for i, c in enumerate("abc")} | {("pin", "f"): 1},
    )
    result.reconciled(
        ledger, [once(KAFKA, False, kafka_copies), once(RAW_LAKE, False, kafka_copies), once(STREAMING, True)]
    )
    return result


def test_a_scenario_with_every_event_in_every_store_passes_with_copies_upstream():
    result = passed(kafka_copies=2)
    assert (result.tried, result.acknowledged, result.retried, result.unacknowledged) == (4, 3, 2, 1)
    assert result.ok and result.verdict == "ok" and result.failures() == []
    assert (result.lost, result.duplicated_downstream) == (0, 0)


def test_a_lost_event_in_one_store_fails_the_scenario():
    result = passed()
    result.stages[1] = ClientCount(RAW_LAKE, False, 3, 2, 0, 0)
    assert not result.ok and result.lost == 1
    assert result.failures() == ["raw lake: 1 acknowledged events lost"]


def test_a_duplicate_downstream_fails_the_scenario_acknowledged_or_not():
    result = passed()
    result.stages[2] = once(STREAMING, True, copies=1)
    assert not result.ok and result.duplicated_downstream == 1
    result.stages[2] = once(STREAMING, True, unacknowledged_found=1, unacknowledged_duplicated=1)
    assert result.failures() == ["streaming: 1 unacknowledged events held more than once"]
    assert result.duplicated_downstream == 1 and result.unacknowledged_arrived == 1


def test_a_scenario_that_must_retry_fails_without_retries():
    result = passed(retried=0)
    assert result.failures() == ["no event was retried: the fault caused no 503 or timeout"]
    result.must_retry = False
    assert result.ok


def test_the_retries_are_counted_from_the_ledger_the_emulator_and_the_probe_wrote(tmp_path):
    path = tmp_path / "ledger.jsonl"
    lines = [
        {
            "client_event_id": "emu-1",
            "event_type": "geo",
            "outcome": "acknowledged",
            "status": 202,
            "attempts": 4,
            "event_id": "e1",
            "topic": "pinterest.geo",
            "partition": 0,
            "offset": 1,
        },
        {
            "client_event_id": "probe-1",
            "event_type": "pin",
            "outcome": "acknowledged",
            "status": 202,
            "attempts": 1,
            "event_id": "e2",
            "topic": "pinterest.pin",
            "partition": 1,
            "offset": 7,
        },
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = ScenarioResult(2, "cluster", must_retry=True)
    result.reconciled(read_client_ledger([path]), [ClientCount(KAFKA, False, 2, 2, 0, 0)])
    assert (result.tried, result.acknowledged, result.retried) == (2, 2, 1) and result.ok


def test_a_scenario_expectation_or_an_error_fails_it_even_with_exact_stores():
    result = passed()
    result.problems.append("the emulator gave up on 2 events")
    assert not result.ok and "the emulator gave up on 2 events" in result.failures()
    crashed = ScenarioResult(4, "driver killed", must_retry=True, error="TimeoutError: streaming did not become ready")
    assert not crashed.ok and crashed.failures() == ["error: TimeoutError: streaming did not become ready"]


def test_nothing_acknowledged_or_nothing_reconciled_is_not_a_pass():
    nothing = ScenarioResult(1, "x", stages=[ClientCount(KAFKA, False, 0, 0, 0, 0)])
    assert nothing.failures() == ["the API acknowledged no event"]
    assert ScenarioResult(1, "x", acknowledged=5).failures() == ["no store was reconciled"]


def test_notes_do_not_fail_a_scenario():
    result = passed()
    result.notes.append("5 garbage records with forged headers stored as rows")
    assert result.ok


def test_the_table_has_a_row_per_scenario_with_retries_copies_and_downstream_duplicates():
    failing = passed(5, kafka_copies=4)
    failing.stages[2] = once(STREAMING, True, copies=1)
    table = render_table([passed(kafka_copies=2), failing]).splitlines()
    assert table[0].split()[:5] == ["#", "scenario", "tried", "acked", "retried"]
    assert set(table[1]) <= {"-", " "}
    first, second = table[2].split(), table[3].split()
    # tried, acked, retried, Kafka copies, lost, dup downstream, unacked arrived/unacknowledged, recovery, verdict
    assert first[-9:] == ["4", "3", "2", "2", "0", "0", "0/1", "12.3", "ok"]
    assert second[-9:] == ["4", "3", "2", "4", "0", "1", "0/1", "12.3", "FAILED"]


def test_a_scenario_without_a_store_that_keeps_one_copy_shows_no_downstream_figure():
    upstream = ScenarioResult(3, "drain", recovery_s=None)
    upstream.reconciled(
        ClientLedger({("pin", "a"): "acknowledged"}, {("pin", "a"): 1}), [ClientCount(KAFKA, False, 1, 1, 0, 0)]
    )
    assert upstream.duplicated_downstream is None
    assert render_table([upstream]).splitlines()[2].split()[-4:] == ["-", "0/0", "-", "ok"]


def test_details_say_why_a_scenario_failed():
    result = passed()
    result.stages[0] = ClientCount(KAFKA, False, 3, 2, 0, 0)
    details = render_details([result])
    assert "FAILED: Kafka: 1 acknowledged events lost" in details and "recovery 12.3s: until acked" in details
    assert "ledger: 4 tried, 3 acknowledged, 2 retried, 1 unacknowledged" in details


def test_exit_code_is_1_when_any_scenario_failed_or_none_ran():
    assert exit_code([passed(1), passed(4)]) == 0
    failing = passed(7)
    failing.problems.append("garbage not in the raw lake exactly once")
    assert exit_code([passed(1), failing]) == 1
    assert exit_code([]) == 1


ACCOUNTING_OK = (
    "24/12/06 WARN NativeCodeLoader: ...\n"
    "cleaned + quarantined: 290 acknowledged = 270 cleaned (+ 3 superseded by a later version of "
    "their key) + 17 quarantined; 0 unaccounted, 0 twice  ok\n      quarantine reasons: schema-invalid 17\n"
)


def cleaned(batch: int | None = 0, accounting: int | None = 0, output: str = ACCOUNTING_OK) -> CleanedCheck:
    return CleanedCheck(
        [3, 4],
        batch,
        95.4,
        accounting,
        output if accounting is not None else "",
        40.2,
        ["/w/drain-full-batch.log", "/w/accounting.log"],
    )


def test_the_cleaned_tables_line_is_the_accounting_result_and_passes():
    check = cleaned()
    assert check.ok and check.failures() == []
    lines = check.render().splitlines()
    assert lines[0] == (
        "cleaned tables (scenarios 3, 4; batch pass 95s, accounting 40s): 290 acknowledged = 270 "
        "cleaned (+ 3 superseded by a later version of their key) + 17 quarantined; "
        "0 unaccounted, 0 twice  ok"
    )
    assert lines[1:] == ["      quarantine reasons: schema-invalid 17"]
    assert exit_code([passed(3), passed(4)], check) == 0


def test_a_failed_batch_pass_fails_the_suite_and_skips_the_accounting():
    check = cleaned(batch=1, accounting=None)
    assert check.failures() == ["the batch pass exited 1"]
    rendered = check.render()
    assert "no accounting" in rendered and "FAILED: the batch pass exited 1" in rendered
    assert "logs: /w/drain-full-batch.log" in rendered
    assert exit_code([passed(3), passed(4)], check) == 1


def test_an_accounting_not_ok_or_without_a_result_fails_the_suite():
    mismatch = ACCOUNTING_OK.replace("0 unaccounted", "2 unaccounted").replace("twice  ok", "twice  MISMATCH")
    check = cleaned(accounting=1, output=mismatch)
    assert check.failures() == ["the accounting exited 1 (unaccounted or twice, or an error)"]
    assert "2 unaccounted, 0 twice  MISMATCH" in check.render().splitlines()[0]
    assert exit_code([passed(3)], check) == 1
    assert cleaned(output="Traceback ...\n").failures() == ["the accounting printed no result"]


def test_a_check_that_did_not_run_or_raised_fails_the_suite():
    assert cleaned(batch=None, accounting=None).failures() == ["the batch pass did not run"]
    assert cleaned(accounting=None).failures() == ["the accounting did not run"]
    raised = cleaned(accounting=None)
    raised.error = "TimeoutExpired: ... timed out after 600 seconds"
    assert raised.failures() == ["error: TimeoutExpired: ... timed out after 600 seconds"]
    assert exit_code([passed(3)], raised) == 1


def test_scenario_selection():
    assert parse_scenarios("7,1, 3") == [1, 3, 7]
    for bad in ("", "1,9", "one"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_scenarios(bad)
