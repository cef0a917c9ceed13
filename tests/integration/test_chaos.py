"""The fault suite end to end: `python -m devstack.chaos --scenarios 1,7` on its own throw-away
stack (the Kafka broker SIGKILLed under load; garbage in the topics), as a user runs it. It must
exit 0 and report nothing lost or duplicated in any store."""

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
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=TIMEOUT_S,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    report = output[output.index("================ chaos report"):]
    stages = re.findall(r"^\s+(Kafka|raw lake|streaming)\s+([\d,]+) of ([\d,]+) acknowledged, ([\d,]+) lost, "
                        r"([\d,]+) duplicated", report, flags=re.MULTILINE)
    assert len(stages) == 6, report  # 2 scenarios x 3 stores
    for store, found, acknowledged, lost, duplicated in stages:
        assert int(acknowledged.replace(",", "")) > 0, store
        assert (lost, duplicated) == ("0", "0"), (store, report)
        assert found == acknowledged
    rows = [line for line in report.splitlines() if re.match(r"^[17]\s", line)]
    assert len(rows) == 2 and all(row.rstrip().endswith("ok") for row in rows), report
