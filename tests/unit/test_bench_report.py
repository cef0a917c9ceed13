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

    headings = {
        "ingest": "## 1-2. Ingest",
        "drain": "## 3. Kafka -> S3 drain",
        "spark": "## 4. Spark batch",
        "streaming": "## 5. Streaming",
    }
    for part, heading in headings.items():
        assert (heading in markdown) == (part in done)


def test_a_goal_with_nothing_measured_reads_none():
    streaming = RESULTS["sections"]["streaming"]
    no_rate_bounded = {
        **streaming,
        "goals": {"bounded lag at 5,000 events/s": {"value": None, "target": "5000 bounded", "met": False}},
    }

    markdown = render_markdown({**RESULTS, "sections": {"streaming": no_rate_bounded}})

    assert "| bounded lag at 5,000 events/s | none | 5000 bounded | **not met** |" in markdown


def test_the_report_shows_the_producer_ceiling_marginal_growth_and_per_event_latency():
    s = RESULTS["sections"]
    ingest = {
        **s["ingest"],
        "bare_producer": {"events_per_s": 12_789.0, "single_share": 0.054},
        "batch": {
            **s["ingest"]["batch"],
            "pin_250": {
                **s["ingest"]["batch"]["pin_250"],
                "share_of_bare_producer": 0.448,
                "share_of_lower_ceiling": 0.448,
            },
        },
    }
    summary = {
        **s["spark"]["summary"],
        "fixed_s": 60.0,
        "marginal_x2_ratios": [2.0, 1.95],
        "growth": [
            {"triples": 250_000, "wall_s": 100.0, "marginal_s": 40.0},
            {"triples": 500_000, "wall_s": 140.0, "marginal_s": 80.0},
            {"triples": 1_000_000, "wall_s": 216.0, "marginal_s": 156.0},
        ],
    }
    latency = {
        **s["streaming"]["latency_1000"],
        "sent": 300_000,
        "acknowledged": 299_990,
        "seen": 299_980,
        "unseen": 10,
        "failures": 20,
        "latency_ms": {"p50": 800.0, "p95": 1500.0, "p99": 1900.0, "max": None},
    }
    drain = {**s["drain"], "backlog": 1_000_000, "backlog_left": 0}

    markdown = render_markdown(
        {
            **RESULTS,
            "sections": {
                "ingest": ingest,
                "drain": drain,
                "spark": {**s["spark"], "summary": summary},
                "streaming": {**s["streaming"], "latency_1000": latency},
            },
        }
    )

    assert "| producer ceiling: bare kafka-python producer, the API's settings, no HTTP | 12,789 | - | - |" in markdown
    assert "| ratio batch endpoint (250 pins) / min(HTTP batch ceiling, producer ceiling) | 0.45 | - | - |" in markdown
    assert (
        "1,000,000 triples 216.0 s (marginal 156.0 s); wall per doubling" in markdown
        and "fixed cost (the same run on an empty lake) 60.0 s; marginal per doubling x2.0, x1.95" in markdown
    )
    assert "| 1,000 | 1,000 | 300 | 300,000 | 299,990 | 299,980 | 10 | 800 | 1,500 | 1,900 | - |" in markdown
    assert "| 1,000,000 | " in markdown.split("## 3. Kafka -> S3 drain")[1]
