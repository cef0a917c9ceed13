"""`make demo`'s module end to end on a stack of its own: exit 0 and a reconciled report."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from pinterest_common.config import REPO_ROOT

pytestmark = pytest.mark.integration


def test_the_demo_reconciles_every_stage_and_passes_every_check(isolated_full_stack):
    result = subprocess.run(
        [sys.executable, "-m", "devstack.demo", "--triples", "150", "--seed", "7", "--catch-up-timeout", "600"],
        cwd=REPO_ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=1800,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    ledger = re.search(
        r"^    ledger: ([\d,]+) events tried, ([\d,]+) acknowledged, ([\d,]+) retried$", result.stdout, re.MULTILINE
    )
    assert ledger and int(ledger.group(1).replace(",", "")) == 450, output[-6000:]  # 150 triples
    total = int(ledger.group(2).replace(",", ""))
    assert 400 < total <= 450  # ~5% invalid
    stages = re.findall(
        r"^    (Kafka topics|raw lake \(S3\)|streaming \+ quarantine)\s+([\d,]+) of ([\d,]+)"
        r" acknowledged, 0 lost, (.*?); .*  ok$",
        result.stdout,
        re.MULTILINE,
    )
    assert [stage for stage, *_ in stages] == ["Kafka topics", "raw lake (S3)", "streaming + quarantine"], output[
        -6000:
    ]
    assert {(int(found.replace(",", "")), int(of.replace(",", ""))) for _, found, of, _ in stages} == {(total, total)}
    assert stages[2][3] == "0 duplicated"  # the store after the raw lake: exactly once
    assert "FAILED" not in result.stdout
    assert re.search(r"raw_pin_events\.nothing_lost\s+passed", result.stdout)
    assert re.search(r"cleaned_pins\.unique_key\s+passed", result.stdout)
    assert re.search(r"cleaned_pins\.raw_keys_reconciled\s+passed", result.stdout)
    accounting = re.search(
        r"cleaned \+ quarantined: ([\d,]+) acknowledged = .* 0 unaccounted, 0 twice  ok$", result.stdout, re.MULTILINE
    )
    assert accounting and int(accounting.group(1).replace(",", "")) == total, output[-6000:]
    # The emulator built some accepted events to break a cleaning rule: each is quarantined, none lost.
    built = int(re.search(r"accepted [\d,]+ \(([\d,]+) built to break a cleaning rule\)", result.stdout).group(1))
    quarantined = int(re.search(r" \+ ([\d,]+) quarantined; 0 unaccounted", result.stdout).group(1))
    assert built > 0 and quarantined == built, output[-6000:]
    assert re.search(r"experimental_data\.fresh_while_events_flow\s+passed", result.stdout)
    agreement = re.search(
        r"^  agreement: streaming = lake on ([\d,]+) windows of profile_popularity, ([\d,]+) of category_trends, "
        r"([\d,]+) events over \d+ day\(s\); 0 disagreement\(s\)",
        result.stdout,
        re.MULTILINE,
    )
    assert agreement, output[-6000:]
    assert all(int(n.replace(",", "")) > 0 for n in agreement.groups()), agreement.group(0)
    for table in ("profile_popularity", "category_trends", "experimental_data", "geo_data", "user_data"):
        assert re.search(rf"{table}\.agrees_with_lake\s+passed", result.stdout), table
    assert "top live profiles" in result.stdout and "[demo] ok" in result.stdout
