"""The fault suite end to end: `python -m devstack.chaos --scenarios 1,7` on its own throw-away
stack (the Kafka broker SIGKILLed under load; garbage in the topics), as a user runs it. It must
exit 0 and report nothing lost in any store, nothing held twice in the streaming store, events
retried while the broker was down, and, after its full batch pass, every acknowledged event of both
scenarios accounted for once in the cleaned tables (garbage included in the pass)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from pinterest_common.config import REPO_ROOT

pytestmark = pytest.mark.integration

EVENTS = 90  # per scenario: enough to put the faults under load, small for a busy machine
TIMEOUT_S = 1800


def test_broker_killed_and_garbage_scenarios_lose_and_duplicate_nothing():
    result = subprocess.run(
        [sys.executable, "-m", "devstack.chaos", "--scenarios", "1,7", "--events", str(EVENTS)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    report = output[output.index("================ chaos report") :]
    stages = re.findall(
        r"^\s+(Kafka|raw lake|streaming)\s+([\d,]+) of ([\d,]+) acknowledged, ([\d,]+) lost, "
        r"([\d,]+) (duplicated|extra copies)",
        report,
        flags=re.MULTILINE,
    )
    assert len(stages) == 6, report  # 2 scenarios x 3 stores
    for store, found, acknowledged, lost, duplicated, kind in stages:
        assert int(acknowledged.replace(",", "")) > 0, store
        assert lost == "0" and found == acknowledged, (store, report)
        assert kind == ("duplicated" if store == "streaming" else "extra copies"), (store, report)
        if store == "streaming":
            assert duplicated == "0", report
    rows = {line.split()[0]: line.split() for line in report.splitlines() if re.match(r"^[17]\s", line)}
    assert set(rows) == {"1", "7"} and all(row[-1] == "ok" for row in rows.values()), report
    # tried, acked, retried, Kafka copies, lost, dup downstream, unacked arrived, recovery, verdict
    assert int(rows["1"][-7].replace(",", "")) > 0, report  # the broker's outage made the emulator retry
    assert rows["1"][-4] == rows["7"][-4] == "0", report
    cleaned = re.search(
        r"^cleaned tables \(scenarios 1, 7; .*: ([\d,]+) acknowledged = .*; "
        r"([\d,]+) unaccounted, ([\d,]+) twice  ok$",
        report,
        flags=re.MULTILINE,
    )
    assert cleaned and int(cleaned[1].replace(",", "")) > 0 and cleaned[2] == cleaned[3] == "0", report
