"""The benchmark report renders after every part, so a run that is cut short still saves what it measured."""

import json
from pathlib import Path

import pytest

from bench.run import render_markdown

RESULTS = json.loads((Path(__file__).resolve().parents[2] / "docs" / "benchmarks.json").read_text())
PARTS = sorted(RESULTS["sections"])


def test_the_published_results_hold_every_part():
    assert PARTS == ["drain", "ingest", "spark", "streaming"]


@pytest.mark.parametrize("done", [[]] + [[part] for part in PARTS], ids=lambda done: "+".join(done) or "none")
def test_a_partial_run_renders_only_the_parts_it_finished(done):
    partial = {**RESULTS, "sections": {part: RESULTS["sections"][part] for part in done}}

    markdown = render_markdown(partial)

    headings = {"ingest": "## 1-2. Ingest", "drain": "## 3. Kafka -> S3 drain",
                "spark": "## 4. Spark batch", "streaming": "## 5. Streaming"}
    for part, heading in headings.items():
        assert (heading in markdown) == (part in done)


def test_a_goal_with_nothing_measured_reads_none():
    streaming = RESULTS["sections"]["streaming"]
    no_rate_bounded = {**streaming, "goals": {"bounded lag at 5,000 events/s":
                                              {"value": None, "target": "5000 bounded", "met": False}}}

    markdown = render_markdown({**RESULTS, "sections": {"streaming": no_rate_bounded}})

    assert "| bounded lag at 5,000 events/s | none | 5000 bounded | **not met** |" in markdown
