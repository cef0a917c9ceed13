"""docs/SCALING.md: the plan's arithmetic from the benchmark's figures, checked on a hand-computed
example; a figure the results lack reads "not measured"."""

import json
from pathlib import Path

import pytest

from bench import scaling

DOCS = Path(__file__).resolve().parents[2] / "docs"

# Round figures, so that the expected plan below can be worked out by hand.
SYNTHETIC = {
    "started_at": "2030-01-01T00:00:00+00:00",
    "machine": {"cores": 2},
    "sections": {
        "ingest": {
            "single": {"kafka_events_per_s": 1000.0},
            "batch": {"pin_250": {"kafka_events_per_s": 10_000.0}},
            "bare_producer": {"events_per_s": 20_000.0, "settings": {"linger_ms": 5}},
            "settings": {"api_threads": 4},
        },
        "drain": {
            "events_per_s": 4000.0,
            "events": 1_000_000,
            "kafka_log_bytes": 400_000_000,
            "value_bytes": 300_000_000,
            "lake_gzip_bytes": 100_000_000,
            "seconds_per_run": 10.0,
            "settings": {"max_records_per_run": 50_000, "roll_max_records": 5000},
        },
        "spark": {
            "summary": {
                "fixed_s": 100.0,
                "growth": [
                    {"triples": 250_000, "wall_s": 150.0},
                    {"triples": 500_000, "wall_s": 200.0},
                    {"triples": 1_000_000, "wall_s": 300.0},
                ],
            }
        },
        "streaming": {
            "highest_bounded_rate": 3000.0,
            "settings": {"trigger_seconds": 1.0, "max_offsets_per_trigger": 20_000},
            "lag_sweep": [
                {"micro_batches": {"applied_events_per_s": 1000.0}},
                {"micro_batches": {"applied_events_per_s": 2000.0}},
            ],
        },
    },
}


def test_the_plan_on_a_hand_computed_example():
    p = scaling.plan(scaling.read_inputs(SYNTHETIC))

    # 1e9 events a day: 11,574.07/s on average, 115,740.7/s at the 10x peak; headroom 1.5
    assert p["average_events_per_s"] == pytest.approx(11_574.07, abs=0.01)
    assert p["peak_events_per_s"] == pytest.approx(115_740.74, abs=0.01)
    assert p["api_single_cores"] == 348  # 115,740.74 x 1.5 / (1,000 / 2 cores) = 347.2
    assert p["api_batch_cores"] == 35  # / 5,000 per core = 34.7
    assert (p["drain_average_cores"], p["drain_peak_cores"]) == (9, 87)  # / 2,000: 8.7 and 86.8
    assert (p["streaming_cores"], p["streaming_executors"]) == (116, 29)  # / 1,500 = 115.7; / 4 cores
    assert p["brokers"] == 4  # 115,740.74 x 3 x 1.5 / (10,000 x 16) = 3.26
    assert p["partitions_per_topic"] == 40  # max(87, 116) / 3 topics = 38.7 -> 39 -> a multiple of 4 brokers
    # Spark: (300 - 200) s / 500,000 triples x 2 cores = 400 core-s per million; 333.3 M triples a day
    assert p["spark_core_s_per_m_triples"] == pytest.approx(400.0)
    assert p["spark_core_s_per_day"] == pytest.approx(133_333.33, abs=0.01)
    assert (p["spark_cores"], p["spark_executors"]) == (28, 7)  # 133,333.3 x 1.5 / 7,200 s = 27.8
    assert p["spark_window_s"] == pytest.approx(4861.90, abs=0.01)  # 100 + 133,333.3 / 28 cores
    assert p["spark_continuous_cores"] == 3  # 133,333.3 x 1.5 / 86,400 = 2.3
    assert p["postgres_over_measured"] == pytest.approx(57.87, abs=0.01)  # 115,740.74 / 2,000
    assert p["kafka_peak_mb_per_s"] == pytest.approx(46.30, abs=0.01)  # x 400 B
    assert p["kafka_retained_tb"] == pytest.approx(8.4)  # 1e9 x 400 B x 3 x 7 days
    assert p["lake_gb_per_day"] == pytest.approx(100.0)  # 100 gzip B per event
    assert p["lake_objects_per_day"] == 200_000
    assert (p["roll_records"], p["roll_bytes_at_least"]) == (1_280_000, 384_000_000)  # 128 MB / 100 B; x 300 B
    assert p["landing_runs_per_day"] == 20_000
    assert p["max_offsets_per_trigger"] == 173_612  # 115,740.74 x 1 s x 1.5


def test_each_input_names_its_json_path_in_the_document():
    text = scaling.render(SYNTHETIC, "bench.json")

    assert "| `machine.cores` | 2 |" in text
    assert "| `sections.streaming.lag_sweep.*.micro_batches.applied_events_per_s` (max) | 2,000.00 |" in text
    assert "from `bench.json` of 2030-01-01T00:00:00+00:00" in text
    assert "not measured" not in text.split("## Inputs")[1].split("## The plan")[0]


def test_what_the_results_lack_is_not_measured():
    partial = {**SYNTHETIC, "sections": {"drain": SYNTHETIC["sections"]["drain"]}}

    p = scaling.plan(scaling.read_inputs(partial))
    text = scaling.render(partial, "bench.json")

    assert p["api_single_cores"] is None and p["streaming_cores"] is None and p["spark_executors"] is None
    assert p["drain_peak_cores"] == 87 and p["partitions_per_topic"] == 29  # the drain alone: 87 / 3
    assert "| `sections.streaming.highest_bounded_rate` | not measured |" in text
    assert "| API, single-event requests | peak x 1.5 / not measured per core | not measured |" in text
    assert "nan" not in text and "None" not in text


def test_the_published_results_render(tmp_path):
    out = scaling.write(DOCS / "benchmarks.json", tmp_path / "SCALING.md")

    text = out.read_text()
    started = json.loads((DOCS / "benchmarks.json").read_text())["started_at"]
    assert text.startswith("# Scaling") and started in text
    assert "## Where the design would change first" in text
