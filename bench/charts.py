"""The report's charts: PNGs (matplotlib, Agg) drawn from the benchmark results, one file per chart
with a fixed name, for docs/BENCHMARKS.md to show next to its tables. A chart whose figures are not
in the results (its part not run or failed) is not drawn; `Chart.missing` says why."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - after the backend is chosen

from .common import FIGURES, measured  # noqa: E402

COLOURS = {"ours": "#c8232c", "ceiling": "#7f7f7f", "other": "#1f77b4"}


@dataclass(frozen=True)
class Chart:
    name: str  # the file's stem
    title: str
    file: str | None  # the PNG, relative to the report's directory; None when not drawn
    missing: str | None = None  # why it was not drawn


class NotDrawn(Exception):
    """The figures a chart needs are not in the results."""


def render(results: dict, directory: Path) -> dict[str, Chart]:
    """Draw every chart into `directory` (a stale PNG of a chart not drawn is removed); by name."""
    directory.mkdir(parents=True, exist_ok=True)
    charts = {}
    for name, (title, part, draw) in CHARTS.items():
        path = directory / f"{name}.png"
        try:
            fig = draw(results)
        except NotDrawn as reason:
            path.unlink(missing_ok=True)
            charts[name] = Chart(name, title, None, _why(results, part, str(reason)))
            continue
        fig.savefig(path, dpi=100, metadata={"Software": None})
        plt.close(fig)
        charts[name] = Chart(name, title, f"{directory.name}/{path.name}")
    return charts


def markdown(charts: dict[str, Chart] | None, *names: str) -> str:
    """The images of these charts for the report, or why each was not drawn ("" without charts)."""
    if not charts:
        return ""
    lines = [
        f"![{c.title}]({c.file})" if c.file else f"*No chart of {c.title}: {c.missing}.*"
        for c in (charts[name] for name in names)
    ]
    return "\n" + "\n\n".join(lines) + "\n"


def _why(results: dict, part: str, reason: str) -> str:
    if part in results.get("errors", {}):
        return f"the {part} part failed"
    if part not in results.get("sections", {}):
        return f"the {part} part was not run"
    return reason


def _need(results: dict, *keys: str) -> list:
    values = [measured(results, key) for key in keys]
    absent = [FIGURES[key] for key, value in zip(keys, values) if value is None]
    if absent:
        raise NotDrawn(f"not in the results: {', '.join(absent)}")
    return values


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.3g}"


def _bars(ax, labels: list[str], values: list[float], colours: list[str], unit: str) -> None:
    """Horizontal bars, each labelled with its value."""
    ax.barh(labels, values, color=colours)
    ax.invert_yaxis()
    for y, value in enumerate(values):
        ax.text(value, y, f" {_number(value)}", va="center", fontsize=8)
    ax.set_xlim(0, max(values) * 1.25)
    ax.set_xlabel(unit)
    ax.tick_params(labelsize=8)


def _percentile_bars(
    ax, series: dict[str, dict], percentiles: list[str], colours: list[str], scale: float = 1.0
) -> None:
    """Grouped bars: one group per percentile, one bar per series; None (a failure) marked, no bar."""
    width = 0.8 / len(series)
    for i, ((label, values), colour) in enumerate(zip(series.items(), colours)):
        xs = [p + (i - (len(series) - 1) / 2) * width for p in range(len(percentiles))]
        heights = [values.get(p) for p in percentiles]
        ax.bar(
            [x for x, h in zip(xs, heights) if h is not None],
            [h / scale for h in heights if h is not None],
            width,
            label=label,
            color=colour,
        )
        for x, h in zip(xs, heights):
            if h is None:
                ax.annotate(
                    "failures", (x, 0), xycoords=("data", "axes fraction"), ha="center", va="bottom", fontsize=7
                )
            else:
                ax.text(x, h / scale, _number(h / scale), ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(percentiles)), percentiles)
    ax.set_xlim(-0.5, len(percentiles) - 0.5)
    ax.legend(fontsize=8)


def _ingest_latency(r: dict):
    closed_ceiling, closed = _need(r, "single_ceiling_latency", "single_latency")
    series = {"HTTP ceiling (closed loop)": closed_ceiling, "through Kafka (closed loop)": closed}
    open_loop = measured(r, "open_loop_latency")
    if open_loop:
        rate = measured(r, "open_loop_rate")
        series[f"through Kafka, open loop{f', {rate:,}/s offered' if rate else ''}"] = open_loop
    fig, ax = plt.subplots(figsize=(7, 3.4), layout="constrained")
    _percentile_bars(ax, series, ["p50", "p99"], [COLOURS["ceiling"], COLOURS["ours"], COLOURS["other"]])
    ax.set_yscale("log")
    ax.set_ylabel("ms per request (log)")
    ax.set_title("Ingest: latency per request, single events", fontsize=10)
    return fig


def _ingest_throughput(r: dict):
    ceiling, single, batch_ceiling, batch = _need(r, "single_ceiling", "single", "batch_ceiling", "batch")
    producer = measured(r, "bare_producer")
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 3.6), layout="constrained")
    _bars(top, ["HTTP ceiling", "API, through Kafka"], [ceiling, single], [COLOURS["ceiling"], COLOURS["ours"]], "")
    top.set_title(f"single events: API / HTTP ceiling = {single / ceiling:.2f}", fontsize=9)
    labels, values = ["HTTP batch ceiling"], [batch_ceiling]
    if producer is not None:
        labels, values = labels + ["bare producer"], values + [producer]
    _bars(
        bottom,
        labels + ["batch endpoint"],
        values + [batch],
        [COLOURS["ceiling"]] * len(values) + [COLOURS["ours"]],
        "events/s",
    )
    bottom.set_title(
        f"batch endpoint (250 pins) / min(ceilings) = {batch / min(values):.2f}"
        + ("" if producer is not None else "; bare producer: not measured"),
        fontsize=9,
    )
    return fig


def _drain_throughput(r: dict):
    (drain,) = _need(r, "drain")
    loop = measured(r, "drain_bare_loop")
    fig, ax = plt.subplots(figsize=(7, 1.9 if loop is None else 2.3), layout="constrained")
    if loop is None:
        _bars(ax, ["drain (run_batch)"], [drain], [COLOURS["ours"]], "events/s")
        ax.set_title("Kafka -> S3 drain; bare consume->gzip->PUT loop: not measured", fontsize=9)
    else:
        _bars(
            ax,
            ["bare consume->gzip->PUT", "drain (run_batch)"],
            [loop, drain],
            [COLOURS["ceiling"], COLOURS["ours"]],
            "events/s",
        )
        ax.set_title(f"Kafka -> S3 drain / bare loop = {drain / loop:.2f}", fontsize=9)
    return fig


def _streaming_latency(r: dict):
    (latency,) = _need(r, "streaming_latency")
    rate = measured(r, "streaming_rate")
    fig, ax = plt.subplots(figsize=(7, 3.2), layout="constrained")
    _percentile_bars(
        ax,
        {"API 2xx -> row visible in PostgreSQL": latency},
        [p for p in ("p50", "p95", "p99", "max") if p in latency],
        [COLOURS["ours"]],
        scale=1000,
    )
    ax.set_ylabel("seconds")
    ax.set_title(
        f"Streaming latency{f' at {rate:,}/s' if rate else ''} (failures count as infinitely late)", fontsize=10
    )
    return fig


def _spark_growth(r: dict):
    growth, triples, spark_wall, duck = _need(r, "growth", "spark_triples", "spark_wall", "duckdb_total")
    growth = [g for g in growth if g.get("wall_s") is not None]
    if not growth:
        raise NotDrawn("no Spark run of the growth series succeeded")
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3.4), layout="constrained", width_ratios=[2, 1])
    sizes = [g["triples"] for g in growth]
    left.plot(sizes, [g["wall_s"] for g in growth], "o-", color=COLOURS["ceiling"], label="wall")
    marginal = [g.get("marginal_s") for g in growth]
    fixed = measured(r, "fixed")
    if all(m is not None for m in marginal):
        left.plot(sizes, marginal, "o-", color=COLOURS["ours"], label="marginal (wall - fixed cost)")
        left.plot(
            sizes,
            [marginal[0] * s / sizes[0] for s in sizes],
            ":",
            color=COLOURS["ours"],
            label="linear from the smallest",
        )
    if fixed is not None:
        left.axhline(fixed, color=COLOURS["other"], linestyle="--", label="fixed cost (empty lake)")
    left.set_xticks(sizes, [f"{s:,}" for s in sizes], fontsize=8)
    left.set_xlim(0, sizes[-1] * 1.05)
    left.set_xlabel("triples")
    left.set_ylabel("seconds")
    left.set_ylim(bottom=0)
    left.legend(fontsize=7)
    left.set_title("Spark batch growth" + ("" if fixed is not None else " (fixed cost not measured)"), fontsize=10)
    right.bar(["Spark", "DuckDB"], [spark_wall, duck], color=[COLOURS["ours"], COLOURS["other"]])
    for x, value in enumerate([spark_wall, duck]):
        right.text(x, value, _number(value), ha="center", va="bottom", fontsize=8)
    right.set_ylabel("seconds")
    right.set_title(f"{triples:,} triples: {spark_wall / duck:.1f}x", fontsize=10)
    return fig


# name: (title, the part it draws, how)
CHARTS = {
    "ingest_latency": ("ingest latency percentiles", "ingest", _ingest_latency),
    "ingest_throughput": ("ingest throughput against its ceilings", "ingest", _ingest_throughput),
    "drain_throughput": ("drain throughput against the bare loop", "drain", _drain_throughput),
    "streaming_latency": ("streaming latency percentiles", "streaming", _streaming_latency),
    "spark_growth": ("Spark growth and DuckDB", "spark", _spark_growth),
}
