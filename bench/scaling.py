"""docs/SCALING.md: the arithmetic for a Pinterest-like volume from the benchmark's measured per-core
cost of each stage. Every measured input is read from the results (bench.common.FIGURES names its
path); every assumption is a named constant below; a figure the results lack is "not measured".

    python -m bench.scaling [--json docs/benchmarks.json] [--output docs/SCALING.md]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from .common import FIGURES, RESULTS_JSON, measured

# Assumptions: the volume to plan for and how it is provisioned.
EVENTS_PER_DAY = 1_000_000_000
PEAK_OVER_AVERAGE = 10
HEADROOM = 1.5  # each stage provisioned to run at 1/HEADROOM of its measured rate
CORES_PER_NODE = 16
EXECUTOR_CORES = 4  # spark.executor.cores
KAFKA_REPLICATION = 3
KAFKA_RETENTION_DAYS = 7
BATCH_WINDOW_HOURS = 2  # one day of events cleaned and answered within it
EVENT_TOPICS = 3  # pin, geo, user: each carries a third of the events
EVENTS_PER_TRIPLE = 3  # the Spark benchmark's unit: a pin, its geo and its user event
LAKE_OBJECT_MB = 128  # the gzip object size the roll limits should aim at
SECONDS_PER_DAY = 86_400

NOT_MEASURED = "not measured"

# The inputs, each one figure of the results: (name in FIGURES, what it is).
INPUTS = [
    ("cores", "cores of the benchmark machine; each stage had them all, shared with the co-located stack"),
    ("single", "API, single-event requests through Kafka, events/s"),
    ("batch", "API, batch endpoint (250 pins a request) through Kafka, events/s"),
    ("bare_producer", "a bare kafka-python producer with the API's settings (the broker's intake), events/s"),
    ("drain", "Kafka -> S3 drain (run_batch), events/s"),
    ("drain_events", "events the drain landed"),
    ("kafka_log_bytes", "Kafka log bytes of those events"),
    ("value_bytes", "JSON value bytes of those events"),
    ("lake_gzip_bytes", "gzip bytes the drain wrote to the lake for them"),
    ("drain_seconds_per_run", "seconds per landing run"),
    ("max_records_per_run", "offsets per landing run (PINTEREST_LAKE_MAX_RECORDS_PER_RUN, as run)"),
    ("roll_max_records", "lines per lake object (PINTEREST_LAKE_ROLL_MAX_RECORDS, as run)"),
    ("growth_small_triples", "Spark growth series: the second-largest size, triples"),
    ("growth_small_wall", "its wall time, s"),
    ("growth_large_triples", "Spark growth series: the largest size, triples"),
    ("growth_large_wall", "its wall time, s"),
    ("fixed", "Spark fixed cost: the same refresh on an empty lake, s"),
    ("streaming_bounded", "streaming: highest produced rate with bounded lag, events/s"),
    ("postgres_applied", "streaming: highest rate of rows applied to PostgreSQL in a run (max over the lag sweep)"),
    ("trigger_seconds", "streaming trigger (PINTEREST_STREAMING_TRIGGER_SECONDS, as run), s"),
    ("max_offsets_per_trigger", "PINTEREST_STREAMING_MAX_OFFSETS_PER_TRIGGER, as run"),
    ("api_threads", "threads per API worker (PINTEREST_API_THREADS, as run)"),
    ("producer_settings", "the API producer's settings, as run"),
]


def read_inputs(results: dict) -> dict:
    """Each input's value (None when not measured); a list input (one per run) is its maximum."""
    values = {}
    for name, _ in INPUTS:
        value = measured(results, name)
        values[name] = (max(value) if value else None) if isinstance(value, list) else value
    return values


def _div(a, b):
    return a / b if a is not None and b else None


def _mul(a, b):
    return a * b if a is not None and b is not None else None


def _minus(a, b):
    return a - b if a is not None and b is not None else None


def _up(x):
    return None if x is None else math.ceil(x - 1e-9)


def plan(v: dict) -> dict:
    """The arithmetic: rates, cores, processes and bytes for the volume (None where an input is missing)."""
    avg = EVENTS_PER_DAY / SECONDS_PER_DAY
    peak = avg * PEAK_OVER_AVERAGE
    per_core = {
        stage: _div(v[stage], v["cores"])
        for stage in ("single", "batch", "drain", "streaming_bounded", "bare_producer", "postgres_applied")
    }

    def cores(rate, stage):
        return _up(_div(rate * HEADROOM, per_core[stage]))

    # Spark: the slope between the two largest sizes (the fixed cost cancels), in core-seconds.
    slope = _div(
        _minus(v["growth_large_wall"], v["growth_small_wall"]),
        _minus(v["growth_large_triples"], v["growth_small_triples"]),
    )
    core_s_per_m_triples = _mul(_mul(slope, 1e6), v["cores"])
    m_triples_per_day = EVENTS_PER_DAY / EVENTS_PER_TRIPLE / 1e6
    spark_core_s_per_day = _mul(core_s_per_m_triples, m_triples_per_day)
    spark_cores = _up(_div(_mul(spark_core_s_per_day, HEADROOM), BATCH_WINDOW_HOURS * 3600))
    spark_executors = _up(_div(spark_cores, EXECUTOR_CORES))
    spark_window_s = (
        None
        if spark_core_s_per_day is None or not spark_executors
        else (v["fixed"] or 0) + spark_core_s_per_day / (spark_executors * EXECUTOR_CORES)
    )

    streaming_cores = cores(peak, "streaming_bounded")
    drain_peak_cores = cores(peak, "drain")
    kafka_bytes_per_event = _div(v["kafka_log_bytes"], v["drain_events"])
    gzip_bytes_per_event = _div(v["lake_gzip_bytes"], v["drain_events"])
    value_bytes_per_event = _div(v["value_bytes"], v["drain_events"])
    brokers = _up(_div(peak * KAFKA_REPLICATION * HEADROOM, _mul(per_core["bare_producer"], CORES_PER_NODE)))
    brokers = None if brokers is None else max(brokers, KAFKA_REPLICATION)
    # A consumer group reads each partition with one consumer: a topic needs as many partitions as
    # the consumers that read it at once (drain processes and streaming tasks at the peak).
    consumers = [c for c in (drain_peak_cores, streaming_cores) if c is not None]
    partitions = _up(max(consumers) / EVENT_TOPICS) if consumers else None
    if partitions is not None and brokers:
        partitions = _mul(brokers, _up(partitions / brokers))  # leaders spread evenly over the brokers
    roll_records = _up(_div(LAKE_OBJECT_MB * 1e6, gzip_bytes_per_event))
    return {
        "average_events_per_s": avg,
        "peak_events_per_s": peak,
        "per_core": per_core,
        "api_single_cores": cores(peak, "single"),
        "api_batch_cores": cores(peak, "batch"),
        "drain_average_cores": cores(avg, "drain"),
        "drain_peak_cores": drain_peak_cores,
        "spark_core_s_per_m_triples": core_s_per_m_triples,
        "spark_m_triples_per_day": m_triples_per_day,
        "spark_core_s_per_day": spark_core_s_per_day,
        "spark_cores": spark_cores,
        "spark_executors": spark_executors,
        "spark_window_s": spark_window_s,
        "spark_continuous_cores": _up(_div(_mul(spark_core_s_per_day, HEADROOM), SECONDS_PER_DAY)),
        "streaming_cores": streaming_cores,
        "streaming_executors": _up(_div(streaming_cores, EXECUTOR_CORES)),
        "postgres_rows_per_s_peak": peak,
        "postgres_over_measured": _div(peak, v["postgres_applied"]),
        "kafka_bytes_per_event": kafka_bytes_per_event,
        "kafka_peak_mb_per_s": _mul(kafka_bytes_per_event, peak / 1e6),
        "kafka_retained_tb": _mul(
            kafka_bytes_per_event, EVENTS_PER_DAY * KAFKA_REPLICATION * KAFKA_RETENTION_DAYS / 1e12
        ),
        "brokers": brokers,
        "partitions_per_topic": partitions,
        "lake_gzip_bytes_per_event": gzip_bytes_per_event,
        "lake_gb_per_day": _mul(gzip_bytes_per_event, EVENTS_PER_DAY / 1e9),
        "lake_objects_per_day": _up(_div(EVENTS_PER_DAY, v["roll_max_records"])),
        "roll_records": roll_records,
        "roll_bytes_at_least": _up(_mul(roll_records, value_bytes_per_event)),
        "landing_runs_per_day": _up(_div(EVENTS_PER_DAY, v["max_records_per_run"])),
        "max_offsets_per_trigger": _up(_mul(v["trigger_seconds"], peak * HEADROOM)),
    }


def _n(value, digits: int = 0, unit: str = "") -> str:
    """A number for the text; "not measured" for None."""
    if value is None:
        return NOT_MEASURED
    return f"{value:,.{digits}f}{unit}"


def _nodes(cores) -> str:
    return NOT_MEASURED if cores is None else f"{cores:,} cores = {_up(cores / CORES_PER_NODE):,} nodes"


def render(results: dict, json_name: str) -> str:
    v = read_inputs(results)
    p = plan(v)
    pc = p["per_core"]
    when = results.get("updated_at") or results.get("started_at", "?")
    out = [
        "# Scaling: a Pinterest-like volume\n",
        f"Generated by `python -m bench.scaling --json {json_name}` (also run at the end of `make bench`) from "
        f"`{json_name}` of {results.get('started_at', '?')}"
        + (f" (a part re-run on its own: {when})" if when != results.get("started_at") else "")
        + "; do not edit by hand. Every measured figure below is read from that file (the table of inputs names "
        "its path); every assumption is a named constant of `bench/scaling.py`. A figure the file lacks reads "
        f'"{NOT_MEASURED}", and so does everything computed from it.\n',
        "**How far to trust it.** The per-core rates come from one small machine with the whole stack co-located "
        "(load generator, API, Kafka, S3, PostgreSQL and Spark sharing its cores), so they are conservative per "
        "core, and they assume each stage scales out linearly, which holds only up to the limits listed at the "
        "end.\n",
        "## Assumptions\n",
        "| constant | value | meaning |",
        "|---|---|---|",
        f"| EVENTS_PER_DAY | {EVENTS_PER_DAY:,} | the volume |",
        f"| PEAK_OVER_AVERAGE | {PEAK_OVER_AVERAGE} | peak rate / average rate |",
        f"| HEADROOM | {HEADROOM} | each stage provisioned to run at 1/{HEADROOM} of its measured rate |",
        f"| CORES_PER_NODE | {CORES_PER_NODE} | cores of one node |",
        f"| EXECUTOR_CORES | {EXECUTOR_CORES} | cores of one Spark executor |",
        f"| KAFKA_REPLICATION | {KAFKA_REPLICATION} | the topics' replication factor |",
        f"| KAFKA_RETENTION_DAYS | {KAFKA_RETENTION_DAYS} | how long Kafka keeps the events |",
        f"| BATCH_WINDOW_HOURS | {BATCH_WINDOW_HOURS} | one day of events cleaned and answered within it |",
        f"| EVENT_TOPICS | {EVENT_TOPICS} | pin, geo and user topics, a third of the events each |",
        f"| EVENTS_PER_TRIPLE | {EVENTS_PER_TRIPLE} | the Spark benchmark's unit: a pin, its geo and user event |",
        f"| LAKE_OBJECT_MB | {LAKE_OBJECT_MB} | the gzip size a lake object should reach |",
        "",
        f"Average {_n(p['average_events_per_s'])} events/s; peak {_n(p['peak_events_per_s'])} events/s. "
        "The API and the streaming job must keep up with the peak; the drain and Spark may run at the average "
        "(Kafka holds the peak's backlog for them).\n",
        "## Inputs (from the benchmark JSON)\n",
        "| input | JSON path | value |",
        "|---|---|---|",
        *(
            f"| {what} | `{FIGURES[name]}`{' (max)' if '*' in FIGURES[name] else ''} | {_value(v[name])} |"
            for name, what in INPUTS
        ),
        "",
        "Per core = the measured rate / cores: "
        + "; ".join(
            f"{label} {_n(pc[key], unit='/s')}"
            for key, label in (
                ("single", "API single events"),
                ("batch", "API batch endpoint"),
                ("drain", "drain"),
                ("streaming_bounded", "streaming with bounded lag"),
                ("bare_producer", "Kafka intake (bare producer)"),
                ("postgres_applied", "PostgreSQL rows applied"),
            )
        )
        + ".\n",
        "## The plan\n",
        "| stage | arithmetic | result |",
        "|---|---|---|",
        f"| API, single-event requests | peak x {HEADROOM} / {_n(pc['single'])} per core | "
        f"{_nodes(p['api_single_cores'])} |",
        f"| API, batch endpoint | peak x {HEADROOM} / {_n(pc['batch'])} per core | {_nodes(p['api_batch_cores'])} |",
        f"| Kafka brokers | peak x {KAFKA_REPLICATION} replicas x {HEADROOM} / ({_n(pc['bare_producer'])} per core x "
        f"{CORES_PER_NODE}), at least {KAFKA_REPLICATION} | {_n(p['brokers'], unit=' brokers')} |",
        f"| Kafka partitions per topic | the most consumers reading at once (drain at peak, streaming tasks) / "
        f"{EVENT_TOPICS} topics, a multiple of the brokers | {_n(p['partitions_per_topic'])} |",
        f"| Kafka bytes | {_n(p['kafka_bytes_per_event'])} B per event in the log: peak intake "
        f"{_n(p['kafka_peak_mb_per_s'], 1)} MB/s; {KAFKA_RETENTION_DAYS} days x {KAFKA_REPLICATION} replicas | "
        f"{_n(p['kafka_retained_tb'], 1)} TB retained |",
        f"| drain (landing) processes | average x {HEADROOM} / {_n(pc['drain'])} per core; at the peak | "
        f"{_n(p['drain_average_cores'])}; {_n(p['drain_peak_cores'])} at the peak (one process per core) |",
        f"| landing runs | {EVENTS_PER_DAY:,} / {_n(v['max_records_per_run'])} offsets per run | "
        f"{_n(p['landing_runs_per_day'])} a day ({_n(v['drain_seconds_per_run'], 1, ' s')} per run measured) |",
        f"| lake | {_n(p['lake_gzip_bytes_per_event'], 1)} gzip B per event | {_n(p['lake_gb_per_day'], 1)} GB a day, "
        f"{_n(_mul(p['lake_gb_per_day'], 365 / 1000), 1)} TB a year; "
        f"{_n(p['lake_objects_per_day'])} objects a day at {_n(v['roll_max_records'])} lines each |",
        f"| Spark batch | ({_n(v['growth_large_wall'], 1)} - {_n(v['growth_small_wall'], 1)}) s / "
        f"({_n(v['growth_large_triples'])} - {_n(v['growth_small_triples'])}) triples x {_n(v['cores'])} cores = "
        f"{_n(p['spark_core_s_per_m_triples'])} core-s per million triples; x {p['spark_m_triples_per_day']:,.1f} M "
        f"triples a day = {_n(p['spark_core_s_per_day'])} core-s | {BATCH_WINDOW_HOURS} h window: "
        f"{_n(p['spark_cores'])} cores = {_n(p['spark_executors'])} executors of {EXECUTOR_CORES}, a run of "
        f"{_n(_div(p['spark_window_s'], 60), unit=' min')} ("
        f"{'fixed cost ' + _n(v['fixed'], unit=' s') + ' included' if v['fixed'] is not None else 'fixed cost not measured, left out'}); spread over the day (hourly "
        f"increments): {_n(p['spark_continuous_cores'])} cores |",
        f"| streaming | peak x {HEADROOM} / {_n(pc['streaming_bounded'])} per core (bounded lag) | "
        f"cores: {_n(p['streaming_cores'])}; executors of {EXECUTOR_CORES} cores: {_n(p['streaming_executors'])} |",
        f"| PostgreSQL writes | one row per event at the peak | {_n(p['postgres_rows_per_s_peak'])} rows/s = "
        f"{_n(p['postgres_over_measured'], 1)}x the highest rate measured ({_n(v['postgres_applied'])} rows/s on "
        f"{_n(v['cores'])} cores) |",
        "",
        "## Configuration each engine needs\n",
        "The settings the project already reads (`pinterest_common/config.py`), for this plan:\n",
        "| setting | value | why |",
        "|---|---|---|",
        f"| `KAFKA_BOOTSTRAP_SERVERS` | the brokers' host:port ({_n(p['brokers'])}), comma-separated | the Kafka "
        "cluster |",
        f"| `PINTEREST_TOPIC_PARTITIONS` | {_n(p['partitions_per_topic'])} | one partition per consumer reading at "
        "once; partitions can be added later but not removed, and adding them moves keys |",
        f"| `PINTEREST_API_WORKERS` | {CORES_PER_NODE} | one gunicorn worker per core of an API node (the plan counts "
        "API cores) |",
        f"| `PINTEREST_API_THREADS` | {_n(v['api_threads'])} | as measured |",
        f"| `PINTEREST_API_KAFKA_LINGER_MS`, `PINTEREST_API_KAFKA_BATCH_BYTES`, `PINTEREST_API_KAFKA_COMPRESSION` | "
        f"{_value(v['producer_settings'])} | as measured |",
        f"| `PINTEREST_LAKE_MAX_RUNS_PER_TICK` | at least {_n(p['drain_peak_cores'])} | the landing runs in flight at "
        "the peak |",
        f"| `PINTEREST_LAKE_ROLL_MAX_RECORDS` | {_n(p['roll_records'])} | {LAKE_OBJECT_MB} MB gzip objects at "
        f"{_n(p['lake_gzip_bytes_per_event'], 1, ' B')} per event |",
        f"| `PINTEREST_LAKE_MAX_RECORDS_PER_RUN` | at least {_n(p['roll_records'])} | a landing run's range bounds "
        "its objects |",
        f"| `PINTEREST_LAKE_ROLL_MAX_BYTES` | at least {_n(p['roll_bytes_at_least'])} | that many values "
        "uncompressed, so that the record limit decides |",
        f"| `SPARK_MASTER` | a cluster manager (`spark://...`, `k8s://...`, `yarn`) | batch executors: {_n(p['spark_executors'])}, "
        f"streaming executors: {_n(p['streaming_executors'])}, of {EXECUTOR_CORES} cores "
        "(spark.executor.cores/instances: Spark's own configuration) |",
        f"| `PINTEREST_STREAMING_TRIGGER_SECONDS` | {_n(v['trigger_seconds'], 1)} | as measured |",
        f"| `PINTEREST_STREAMING_MAX_OFFSETS_PER_TRIGGER` | at least {_n(p['max_offsets_per_trigger'])} (measured with "
        f"{_n(v['max_offsets_per_trigger'])}) | one trigger takes the peak's arrivals with the headroom |",
        "| `PINTEREST_STREAMING_CHECKPOINT` | an `s3a://` URL | executors on many nodes; the driver may move |",
        "",
        "## Where the design would change first\n",
        f"1. **PostgreSQL, one writer.** The streaming job applies each micro-batch from the driver in one "
        f"transaction, with its batch id: one writer at a time. The peak needs {_n(p['postgres_rows_per_s_peak'])} "
        f"rows/s, {_n(p['postgres_over_measured'], 1)}x the highest rate measured here; a larger primary does not "
        "remove the single writer. First change: write per partition (one transaction per Kafka partition and "
        "its offsets) into tables partitioned by event type and time, or serve the streaming answers from "
        "aggregates instead of one row per event.",
        f"2. **Driver-side collection.** Every row of a micro-batch passes through the one driver process, so "
        f"more streaming executors ({_n(p['streaming_executors'])} in this plan) do not raise the apply rate; the executors "
        "must write their partitions themselves (per-partition `COPY`), the driver committing only the batch id.",
        f"3. **Per-partition landing runs.** {_n(p['landing_runs_per_day'])} Dagster runs a day at "
        f"{_n(v['max_records_per_run'])} offsets each ({_n(v['drain_seconds_per_run'], 1, ' s')} per run measured: the drain's "
        "wall time / its runs): run launch and its process become the cost. Larger ranges per run, or a "
        "long-running consumer per partition group that only reports to Dagster.",
        f"4. **Spark's fixed cost per refresh** ({_n(v['fixed'], unit=' s')}) bounds how often the batch can "
        "refresh; at this volume the refresh must read only the new raw objects (never the whole lake) and "
        "append to the cleaned tables.",
        "",
    ]
    return "\n".join(out)


def _value(value) -> str:
    if value is None:
        return NOT_MEASURED
    if isinstance(value, dict):
        return ", ".join(f"{k} {x}" for k, x in value.items())
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def write(json_path: Path, output: Path) -> Path:
    """Render the plan from the results at `json_path` into `output`."""
    results = json.loads(json_path.read_text())
    try:
        name = json_path.resolve().relative_to(output.resolve().parent.parent).as_posix()
    except ValueError:
        name = json_path.as_posix()
    output.write_text(render(results, name))
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scaling", description=__doc__ and __doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=RESULTS_JSON, help="the benchmark results (docs/benchmarks.json)")
    parser.add_argument("--output", type=Path, default=RESULTS_JSON.parent / "SCALING.md", help="docs/SCALING.md")
    args = parser.parse_args(argv)
    print(f"wrote {write(args.json, args.output)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
