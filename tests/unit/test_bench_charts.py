"""The report's charts: drawn from the published results, and a part not run or failed gives no
chart and says why."""

import json
from pathlib import Path

from bench import charts
from bench.run import render_markdown

RESULTS = json.loads((Path(__file__).resolve().parents[2] / "docs" / "benchmarks.json").read_text())
PNG = b"\x89PNG\r\n\x1a\n"


def test_every_chart_is_drawn_from_the_published_results(tmp_path):
    drawn = charts.render(RESULTS, tmp_path / "bench")

    assert sorted(drawn) == sorted(charts.CHARTS)
    for chart in drawn.values():
        assert chart.file == f"bench/{chart.name}.png"
        assert (tmp_path / chart.file).read_bytes().startswith(PNG)


def test_the_same_results_draw_the_same_files(tmp_path):
    charts.render(RESULTS, tmp_path / "a")
    charts.render(RESULTS, tmp_path / "b")

    for name in charts.CHARTS:
        assert (tmp_path / "a" / f"{name}.png").read_bytes() == (tmp_path / "b" / f"{name}.png").read_bytes()


def test_a_part_not_run_or_failed_has_no_chart_and_the_report_says_why(tmp_path):
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "spark_growth.png").write_bytes(PNG)  # from an earlier run
    partial = {
        **RESULTS,
        "sections": {"ingest": RESULTS["sections"]["ingest"]},
        "errors": {"spark": "Traceback ...\nRuntimeError: boom"},
    }

    drawn = charts.render(partial, tmp_path / "bench")
    markdown = render_markdown(partial, drawn)

    assert {name for name, chart in drawn.items() if chart.file} == {"ingest_latency", "ingest_throughput"}
    assert drawn["spark_growth"].missing == "the spark part failed"
    assert drawn["drain_throughput"].missing == "the drain part was not run"
    assert not (tmp_path / "bench" / "spark_growth.png").exists()
    assert "![ingest latency percentiles](bench/ingest_latency.png)" in markdown
    assert "Spark growth and DuckDB (the spark part failed)" in markdown


def test_a_figure_missing_from_a_part_that_ran_is_named(tmp_path):
    ingest = {**RESULTS["sections"]["ingest"], "single": {}}

    drawn = charts.render({**RESULTS, "sections": {"ingest": ingest}}, tmp_path)

    assert drawn["ingest_throughput"].missing == (
        "not in the results: sections.ingest.single.ceiling_events_per_s, sections.ingest.single.kafka_events_per_s"
    )
    assert "*No chart of ingest throughput against its ceilings: not in the results" in charts.markdown(
        drawn, "ingest_throughput"
    )


def test_without_charts_the_report_has_no_chart_lines():
    assert "![" not in render_markdown(RESULTS)
