"""`make bench`: every benchmark on one fresh stack of its own (free ports, a state directory
under $PINTEREST_HOME/tmp/bench-*), never the stack of `make up`; prints the tables and writes
docs/benchmarks.json and docs/BENCHMARKS.md.

    python -m bench.run [--quick] [--only ingest,drain,spark,streaming] [--output DIR]

Order: the whole stack idle (footprint), streaming (the streaming job then stops, so that it
does not compete with what follows), ingest, drain (the event topics are emptied first with
Kafka's delete-records, so it lands exactly the events it produced), Spark batch. A sampler reads the process-tree RSS of every service each second
throughout; the peaks are reported per service and per part. Until the run completes, its
results go to docs/benchmarks.partial.json (after each part), so an interrupted run leaves the
committed report as it was.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from . import charts, drain, ingest, scaling, spark_batch, streaming
from .common import (
    RESULTS_JSON,
    RESULTS_MD,
    RssSampler,
    handle_sigterm,
    home_relative,
    load_average,
    machine,
    measured,
    say,
    stack_rss_mb,
    table,
    versions,
)

PARTS = ("streaming", "ingest", "drain", "spark")
CHARTS_DIR = "bench"  # the charts' PNGs, next to BENCHMARKS.md


def idle_footprint(state_dir, seconds: float) -> dict:
    samples = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        samples.append(stack_rss_mb(state_dir))
        time.sleep(1.0)
    names = sorted({name for sample in samples for name in sample})
    per_service = {name: round(max(s.get(name, 0.0) for s in samples), 1) for name in names}
    return {"seconds": seconds, "per_service_mb": per_service, "total_mb": round(sum(per_service.values()), 1)}


def main(argv: list[str] | None = None) -> int:
    from devstack.fresh import fresh_stack, settings_stack, start_service, stop_service

    handle_sigterm()
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__ and __doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for development")
    parser.add_argument("--only", default=",".join(PARTS), help="comma-separated parts (default: all)")
    parser.add_argument(
        "--drain-events",
        type=int,
        default=None,
        help="the backlog the drain lands (default 1,000,000 events; quick 20,000)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="write benchmarks.json and BENCHMARKS.md into this directory instead of docs/",
    )
    parser.add_argument(
        "--render", action="store_true", help="only write docs/BENCHMARKS.md again from docs/benchmarks.json"
    )
    parser.add_argument(
        "--spark-triples",
        type=int,
        default=None,
        help="the largest Spark data set (default 1,000,000 triples; quick 8,000)",
    )
    parser.add_argument(
        "--small-triples",
        type=int,
        default=None,
        help="the small-files data set (default 16,667 triples = 50,001 events; quick 500)",
    )
    args = parser.parse_args(argv)
    json_path, md_path = (
        (RESULTS_JSON, RESULTS_MD)
        if args.output is None
        else (args.output / RESULTS_JSON.name, args.output / RESULTS_MD.name)
    )
    if args.render:
        results = json.loads(json_path.read_text())
        for part, section in results.get("sections", {}).items():
            failed = results.get("errors", {}).get(part)
            if section.get("run_on_its_own") and failed:
                section["run_on_its_own"]["replaces_failed_part"] = failed.strip().splitlines()[-1]
                del results["errors"][part]
        results["goals"] = all_goals(results)
        json_path.write_text(json.dumps(results, indent=1, default=str) + "\n")
        _write_report(results, md_path)
        print(f"wrote {md_path} and {scaling.write(json_path, md_path.parent / 'SCALING.md')}")
        return 0
    parts = [p for p in args.only.split(",") if p]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown part(s): {', '.join(sorted(unknown))}")

    results: dict = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": machine(),
        "versions": versions(),
        "parts": parts,
        "sections": {},
        "errors": {},
        "size_options": {
            "drain_events": args.drain_events,
            "spark_triples": args.spark_triples,
            "small_triples": args.small_triples,
        },
    }
    say(
        f"machine: {results['machine']['cores']} cores, {results['machine']['ram_gib']} GiB, "
        f"load average {results['machine']['load_average_at_start']}"
    )
    started = time.monotonic()
    texts: dict[str, str] = {}
    with fresh_stack("bench-", services=("postgres", "s3", "kafka", "api")) as settings:
        state_dir = settings_stack(settings).state_dir
        results["stack"] = {
            "state_dir": home_relative(settings, state_dir),
            "settings": {
                "api_workers": settings.api_workers,
                "api_threads": settings.api_threads,
                "topic_partitions": settings.topic_partitions,
                "kafka_heap": "512m",
                "s3proxy_heap": "256m",
                "postgres_shared_buffers": "64MB",
                "streaming_driver_memory": "512m",
                "spark_master": settings.spark_master,
                "spark_driver_memory": settings.spark_driver_memory,
            },
        }
        with RssSampler(state_dir) as sampler:
            say("starting the streaming job (the whole stack, idle) ...")
            start_service(settings, "streaming")
            sampler.phase = "idle"
            time.sleep(5)
            results["footprint_idle"] = idle_footprint(state_dir, 15 if args.quick else 60)
            say(
                f"whole stack idle: {results['footprint_idle']['total_mb']:,.0f} MB RSS "
                f"{results['footprint_idle']['per_service_mb']}"
            )
            for part, module in (
                ("streaming", streaming),
                ("ingest", ingest),
                ("drain", drain),
                ("spark", spark_batch),
            ):
                if part not in parts:
                    if part == "streaming":
                        stop_service(settings, "streaming")
                    continue
                sampler.phase = part
                results["load_average_before"] = {**results.get("load_average_before", {}), part: load_average()}
                if part == "drain":
                    import os

                    sampler.extra["bench process (drain: run_batch)"] = os.getpid()
                try:
                    extra = {}
                    if part == "spark":
                        extra = {"triples": args.spark_triples, "small_triples": args.small_triples}
                    if part == "drain":
                        # Only the drain's own events: what the earlier parts posted is deleted.
                        results.setdefault("truncated_before_drain", drain.truncate_topics(settings))
                        if args.drain_events:
                            extra = {"events": args.drain_events}
                    figures = module.run(settings, state_dir, args.quick, sampler, **extra)
                    results["sections"][part] = figures
                    texts[part] = module.report(figures)
                    print(texts[part], flush=True)
                except Exception as exc:  # noqa: BLE001 - one failed part must not lose the others
                    import traceback

                    results["errors"][part] = "".join(traceback.format_exception(exc))[-4000:]
                    say(f"{part} FAILED: {exc}")
                finally:
                    sampler.extra.pop("bench process (drain: run_batch)", None)
                    if part == "streaming":
                        stop_service(settings, "streaming")
                _save(results, sampler, partial_path(json_path))
            sampler.sample()
        _save(results, sampler, partial_path(json_path))
    results["seconds"] = round(time.monotonic() - started, 1)
    _save(results, sampler, json_path, md_path)
    partial_path(json_path).unlink(missing_ok=True)
    scaling_md = scaling.write(json_path, md_path.parent / "SCALING.md")
    say(f"done in {results['seconds'] / 60:.1f} min; results: {json_path}, {md_path}, {scaling_md}")
    print(goals_table(results))
    print(table("Goals of issue 18", ["figure", "measured", "goal", "met"], issue_goals(results)))
    return 0 if not results["errors"] else 1


def partial_path(json_path: Path) -> Path:
    """Where a run keeps its results until it completes (an interrupted run leaves the report alone)."""
    return json_path.with_name(f"{json_path.stem}.partial{json_path.suffix}")


def _save(results: dict, sampler: RssSampler, json_path: Path, md_path: Path | None = None) -> None:
    """The results as JSON, and with `md_path` the report rendered from them."""
    results["goals"] = all_goals(results)
    results["footprint_peak_mb"] = {name: round(mb, 1) for name, mb in sorted(sampler.peak.items())}
    results["footprint_peak_by_part_mb"] = {
        phase: {n: round(mb, 1) for n, mb in sorted(p.items())} for phase, p in sampler.phase_peak.items()
    }
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=1, default=str) + "\n")
    if md_path is not None:
        _write_report(results, md_path)


def _write_report(results: dict, md_path: Path) -> None:
    """BENCHMARKS.md and its charts (PNGs in CHARTS_DIR next to it)."""
    md_path.write_text(render_markdown(results, charts.render(results, md_path.parent / CHARTS_DIR)))


def goals_table(results: dict) -> str:
    return table(
        "Goals", ["goal", "measured", "target", "met"], _goal_rows(results.get("goals", {}), not_met="NOT MET")
    )


def _goal_rows(goals: dict, not_met: str) -> list[tuple]:
    """One row per goal: name, measured value (numbers as they are, nothing measured as "none"), target, met."""

    def measured(value):
        if value is None:
            return "none"
        return value if isinstance(value, (int, float)) else json.dumps(value)

    return [(name, measured(g["value"]), g["target"], "met" if g["met"] else not_met) for name, g in goals.items()]


def issue_goals(r: dict) -> list[tuple]:
    """Issue 18's goals, each with its figure from the results: (figure, measured, goal, met)."""
    m = lambda name: measured(r, name)  # noqa: E731
    rows = []

    def goal(figure_: str, value, target: str, met: bool, text: str | None = None) -> None:
        rows.append(
            (
                figure_,
                "not measured" if value is None else (text or value),
                target,
                "met" if value is not None and met else "NOT MET",
            )
        )

    share, p99, offered, ceiling = m("single_share"), m("open_loop_p99"), m("open_loop_rate"), m("single_ceiling")
    goal("single event / HTTP ceiling", share, ">= 0.8", share is not None and share >= 0.8)
    goal(
        "p99 at an offered rate of at least half the same-run ceiling",
        p99,
        "< 50 ms",
        None not in (p99, offered, ceiling) and p99 < 50 and offered >= ceiling / 2,
        f"{p99:,.1f} ms at {offered:,}/s offered (ceiling {ceiling:,.0f}/s)"
        if None not in (p99, offered, ceiling)
        else None,
    )
    batch = m("batch_share")
    goal("batch endpoint / min(HTTP batch ceiling, bare producer)", batch, ">= 0.7", batch is not None and batch >= 0.7)
    rate, loop = m("drain"), m("drain_bare_loop")
    loop_share = round(rate / loop, 3) if rate is not None and loop else None
    goal(
        "drain, run ok and backlog landed",
        rate,
        ">= 20,000 ev/s and >= 0.5 of a bare consume->gzip->PUT loop",
        rate is not None
        and rate >= 20_000
        and loop_share is not None
        and loop_share >= 0.5
        and m("drain_ok") is True
        and m("drain_left") == 0,
        None
        if rate is None
        else f"{rate:,.0f} ev/s; "
        + ("bare loop not measured" if loop_share is None else f"{loop_share} of the bare loop")
        + f"; ok {m('drain_ok')}; left {'not measured' if m('drain_left') is None else m('drain_left')}",
    )
    duck = m("spark_over_duckdb")
    goal("Spark 1M triples / DuckDB same data", duck, "<= 3x", duck is not None and duck <= 3)
    small = m("per_event_over_rolled")
    goal("one-object-per-event / ours", small, ">= 20x", small is not None and small >= 20)
    ratios = m("marginal_ratios")
    goal(
        "marginal growth per doubling",
        ratios,
        "<= 2.1x each",
        bool(ratios) and all(x is not None and x <= 2.1 for x in ratios),
        None if ratios is None else json.dumps(ratios),
    )
    fixed = m("fixed")
    goal("one refresh's fixed cost (the empty lake), s", fixed, "<= 15 s", fixed is not None and fixed <= 15)
    p99, unseen = m("streaming_p99"), m("streaming_unseen")
    latency = m("streaming_latency")
    goal(
        "streaming p99 at 1,000/s, per event, none unseen",
        latency,
        "< 2 s",
        p99 is not None and p99 < 2000 and unseen == 0,
        None
        if latency is None
        else f"{'failures (infinitely late)' if p99 is None else f'{p99:,.0f} ms'}; unseen "
        f"{'not measured' if unseen is None else unseen}",
    )
    bounded = m("streaming_bounded")
    tried = "streaming" in r.get("sections", {})
    goal(
        "highest steady rate with bounded lag (produced)",
        bounded if bounded is not None or not tried else "none of the rates tried",
        ">= 5,000/s",
        bounded is not None and bounded >= 5000,
    )
    idle = m("idle_mb")
    goal("whole stack idle, MB RSS", idle, "< 1,200 MB", idle is not None and idle < 1200)
    return rows


def _md_table(columns, rows) -> str:
    def cell(v):
        if v is None:
            return "-"
        if isinstance(v, bool):
            return "yes" if v else "no"
        if isinstance(v, float):
            return f"{v:,.2f}" if abs(v) < 100 else f"{v:,.0f}"
        if isinstance(v, int):
            return f"{v:,}"
        return str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _producer_rows(ingest: dict) -> list[tuple]:
    """The producer ceiling's rows: a bare kafka-python producer with the API's settings, and the
    API's rates as shares of it (none in results from before it was measured)."""
    if "bare_producer" not in ingest:
        return []
    bp, pin = ingest["bare_producer"], ingest["batch"]["pin_250"]
    return [
        ("producer ceiling: bare kafka-python producer, the API's settings, no HTTP", bp["events_per_s"], None, None),
        ("ratio single event / producer ceiling", bp["single_share"], None, None),
        ("ratio batch endpoint (250 pins) / producer ceiling", pin["share_of_bare_producer"], None, None),
        (
            "ratio batch endpoint (250 pins) / min(HTTP batch ceiling, producer ceiling)",
            pin["share_of_lower_ceiling"],
            None,
            None,
        ),
    ]


def _growth(sm: dict) -> str:
    """The growth line: each size's wall and marginal time (wall - the empty lake's fixed cost)."""
    text = "- Growth: " + " -> ".join(
        f"{g['triples']:,} triples {g['wall_s']} s" + (f" (marginal {g['marginal_s']} s)" if "marginal_s" in g else "")
        for g in sm["growth"]
    )
    text += f"; wall per doubling x{sm['growth_x2_ratios'][0]}, x{sm['growth_x2_ratios'][1]}"
    if "marginal_x2_ratios" in sm:
        text += (
            f"; fixed cost (the same run on an empty lake) {sm['fixed_s']} s; marginal per doubling "
            f"x{sm['marginal_x2_ratios'][0]}, x{sm['marginal_x2_ratios'][1]} (judged)"
        )
    return text + ".\n"


def _where(sp: dict) -> str:
    largest = max(
        (run_ for name, run_ in sp["runs"].items() if name.startswith("growth-")), key=lambda run_: run_["triples"]
    )
    st = largest["spark"]
    steps = st.get("steps_s", {})
    text = (
        f"{st['import_s']} s, then the run {st['run_s']} s: clean step {steps.get('clean_raw_events')} s, "
        f"answer step {steps.get('answer_questions')} s"
    )
    per_question = st.get("timeline", {}).get("seconds_per_question_after_the_first")
    if per_question is not None:
        text += (
            f" ({per_question} s per question: each is a collect, a Parquet write to S3 through s3a and "
            "its commit, a PostgreSQL swap and, for medians, a check query); the rest is the session start"
        )
    return text + "."


def all_goals(r: dict) -> dict:
    goals = {}
    idle = r.get("footprint_idle")
    if idle:
        goals["whole stack idle < 4 GB RSS"] = {
            "value": idle["total_mb"],
            "target": "< 4096 MB",
            "met": idle["total_mb"] < 4096,
        }
    for section in r.get("sections", {}).values():
        goals.update(section.get("goals", {}))
    return goals


def sizes(r: dict) -> str:
    s = r.get("sections", {})
    parts = []
    if "ingest" in s:
        parts.append(f"ingest {s['ingest']['settings']['seconds_per_measurement']:.0f} s per measurement")
    if "drain" in s:
        parts.append(f"drain {s['drain']['events']:,} events")
    if "spark" in s:
        sm = s["spark"]["summary"]
        parts.append(
            f"Spark {sm['triples']:,} triples, small files "
            f"{s['spark']['runs']['small-per-event']['upload']['objects']:,} events"
        )
    if "streaming" in s:
        parts.append(f"streaming {s['streaming']['settings']['latency_seconds']:.0f} s at 1,000/s")
    return ("quick: " if r.get("quick") else "") + "; ".join(parts)


def render_markdown(r: dict, drawn: dict[str, charts.Chart] | None = None) -> str:
    """The report; with `drawn` (charts.render), each chart next to its table."""
    m, v = r["machine"], r["versions"]
    r = {**r, "goals": all_goals(r)}
    out = [
        "# Benchmarks\n",
        f"Generated by `make bench{' BENCH_ARGS=--quick' if r.get('quick') else ''}` (`python -m bench.run`) "
        f"on {r['started_at']}; machine-readable: `docs/benchmarks.json`. Every figure below comes from that "
        "one run, on a fresh stack of real services on free ports in a state directory of its own, except the "
        'parts listed at the end under "Parts run on their own" (if any).\n',
        "Run: `make bench` (full sizes, about an hour or more on 2 cores), `make bench BENCH_ARGS=--quick` "
        "(development sizes); one part on a stack of its own: `python -m bench.ingest|drain|spark_batch|"
        'streaming [--quick]`; sizes: `BENCH_ARGS="--drain-events N --spark-triples N --small-triples N"`.\n',
        "**Read the ratios, not the absolute figures.** The machine is small and shared: other work (test "
        "suites, demos, their JVMs) ran on the same 2 cores during the run, so absolute rates and times swing "
        "with the load; figures compared in a ratio were measured in the same run, close together.\n",
        "## Machine and versions\n",
        _md_table(
            ["what", "value"],
            [
                ("cores", m["cores"]),
                ("CPU", m["cpu"]),
                ("RAM", f"{m['ram_gib']} GiB"),
                ("load average at start (1, 5, 15 min)", ", ".join(map(str, m["load_average_at_start"]))),
                (
                    "load average before each part",
                    "; ".join(f"{k}: {', '.join(map(str, x))}" for k, x in r.get("load_average_before", {}).items()),
                ),
                ("kernel", m["kernel"]),
                ("Python", m["python"]),
                *((name, value) for name, value in v.items()),
                ("whole run", f"{r.get('seconds', 0) / 60:.1f} min" if r.get("seconds") else "-"),
                ("sizes", sizes(r)),
            ],
        ),
        "\n## Stack settings\n",
        _md_table(["setting", "value"], list(r.get("stack", {}).get("settings", {}).items())),
        "\n## Goals\n",
        "The goals of issue 18, each from this run's figures:\n",
        _md_table(
            ["figure", "measured", "goal", "met"],
            [(*row[:3], "met" if row[3] == "met" else "**not met**") for row in issue_goals(r)],
        ),
        "\nEach part's own goals, as the part states them:\n",
        _md_table(["goal", "measured", "target", "met"], _goal_rows(r.get("goals", {}), not_met="**not met**")),
    ]
    missing = [c for c in (drawn or {}).values() if not c.file]
    if missing:
        out.append("\nCharts not drawn: " + "; ".join(f"{c.title} ({c.missing})" for c in missing) + ".\n")
    s = r.get("sections", {})
    if "ingest" in s:
        i = s["ingest"]
        sg, f, b = i["single"], i["open_loop"], i["batch"]
        out += [
            "\n## 1-2. Ingest\n",
            f"Emulator pins lengthened to ~{i['settings']['event_bytes_avg']} B, posted by `bench/loadgen.py` "
            f"(asyncio, keep-alive, a child process) to the API under gunicorn ({i['settings']['api_workers']} "
            f"asyncio workers, each running the Flask app in {i['settings']['api_threads']} threads), Kafka "
            f"producer acks=all, idempotent, linger {i['settings'].get('kafka_linger_ms', 0)} ms. The HTTP "
            f"ceiling is the same app factory with a publisher that acknowledges at once "
            f"(`bench/null_api.py`) under the same gunicorn configuration, measured in turns with the real one "
            f"({i['settings']['rounds']} round(s) of {i['settings']['seconds_per_measurement']:.0f} s each, "
            f"{i['settings']['connections']} connections, closed loop). Latencies are per request.\n",
            _md_table(
                ["measurement", "events/s", "p50 ms", "p99 ms"],
                [
                    (
                        "single event, HTTP ceiling (no Kafka)",
                        sg["ceiling_events_per_s"],
                        sg["ceiling_latency_ms"]["p50"],
                        sg["ceiling_latency_ms"]["p99"],
                    ),
                    (
                        "single event, through Kafka",
                        sg["kafka_events_per_s"],
                        sg["kafka_latency_ms"]["p50"],
                        sg["kafka_latency_ms"]["p99"],
                    ),
                    ("ratio Kafka / ceiling", sg["share_of_ceiling"], None, None),
                    (
                        f"variant: single event through Kafka, {sg['more_threads']['threads']} threads per worker",
                        sg["more_threads"]["kafka_events_per_s"],
                        sg["more_threads"]["kafka_latency_ms"]["p50"],
                        sg["more_threads"]["kafka_latency_ms"]["p99"],
                    ),
                    (
                        f"single event, {f['offered_events_per_s']:,}/s offered, open loop, {i['settings']['open_loop_seconds']:.0f} s",
                        f["achieved_events_per_s"],
                        f["latency_ms"]["p50"],
                        f["latency_ms"]["p99"],
                    ),
                    ("batch endpoint, 250 pins per request, ceiling", b["pin_250"]["ceiling_events_per_s"], None, None),
                    (
                        "batch endpoint, 250 pins per request, Kafka",
                        b["pin_250"]["kafka_events_per_s"],
                        b["pin_250"]["kafka_latency_ms"]["p50"],
                        b["pin_250"]["kafka_latency_ms"]["p99"],
                    ),
                    (
                        "batch endpoint, 500 geo events per request, Kafka",
                        b["geo_500"]["kafka_events_per_s"],
                        b["geo_500"]["kafka_latency_ms"]["p50"],
                        b["geo_500"]["kafka_latency_ms"]["p99"],
                    ),
                    *_producer_rows(i),
                ],
            ),
            f"\nAt {f['offered_events_per_s']:,}/s offered: statuses {f['statuses']}, connection errors {f['errors']}.\n",
            charts.markdown(drawn, "ingest_latency", "ingest_throughput"),
        ]
    if "drain" in s:
        d = s["drain"]
        p = d["profile"]
        out += [
            "\n## 3. Kafka -> S3 drain\n",
            f"`run_batch(refresh_downstream=False)` (what `make batch --land-only` runs: the drain sensors' plan, "
            f"one Dagster landing run per range of at most {d['settings']['max_records_per_run']:,} offsets, in "
            f"the Dagster instance on PostgreSQL) over a backlog of {d['produced'].get('events', 0):,} "
            f"events produced straight into Kafka with the API's keys and headers (the event topics were "
            f"emptied first with Kafka's delete-records). MB/s: the events' JSON values landed, and the gzip "
            f"bytes written to S3.\n",
            _md_table(
                [
                    "backlog",
                    "landed",
                    "left after",
                    "seconds",
                    "events/s",
                    "event MB/s (JSON values)",
                    "S3 gzip MB/s",
                    "runs",
                    "s per run",
                    "all ok",
                ],
                [
                    (
                        d.get("backlog"),
                        d["events"],
                        d.get("backlog_left"),
                        d["seconds"],
                        d["events_per_s"],
                        d.get("value_mb_per_s") or round(d["produced"].get("value_bytes", 0) / d["seconds"] / 1e6, 2),
                        d["lake_gzip_mb_per_s"],
                        d["runs"],
                        d["seconds_per_run"],
                        d["ok"],
                    )
                ],
            ),
            charts.markdown(drawn, "drain_throughput"),
            f"\nWhere the time goes: one range of {p['records']:,} pin records, stage by stage, without Dagster "
            f"({p['events_per_s_without_dagster']:,} events/s for these stages alone):\n",
            _md_table(
                ["stage", "seconds", "µs per event"],
                [(k, x, p["stages_us_per_event"][k]) for k, x in p["stages_s"].items()],
            ),
        ]
    if "spark" in s:
        sp = s["spark"]
        sm = sp["summary"]
        rows = []
        for name, run_ in sp["runs"].items():
            st = run_["spark"]
            rows.append(
                (
                    name,
                    run_.get("triples"),
                    run_["upload"]["objects"],
                    st["wall_s"],
                    st["import_s"],
                    st["run_s"],
                    st["steps_s"].get("clean_raw_events"),
                    st["steps_s"].get("answer_questions"),
                    "ok" if st["success"] else "FAILED",
                )
            )
        sa = sp["standalone"]
        rows.append(
            (
                f"{sa['local_twin']} on the standalone cluster",
                None,
                sa["upload"]["objects"],
                sa["wall_s"],
                sa["import_s"],
                sa["run_s"],
                sa["steps_s"].get("clean_raw_events"),
                sa["steps_s"].get("answer_questions"),
                "answers equal local" if sm["standalone_answers_equal"] else "ANSWERS DIFFER",
            )
        )
        dk = sp["duckdb"]
        out += [
            "\n## 4. Spark batch\n",
            f"The Dagster job `refresh_cleaned_and_analytics` (clean every raw object, the blocking checks, every "
            f"analytics question written to S3 and PostgreSQL, their checks) in a process of its own "
            f"(`bench/spark_refresh.py`): wall = process start to exit, so it includes Python, Dagster and the "
            f"Spark session start. Spark `{sp['settings']['spark_master']}`, driver {sp['settings']['driver_memory']}. "
            f"The raw objects were generated straight into S3 by the lake's own code (`bench/lakegen.py`: "
            f"{sp['settings']['roll_max_records']:,} lines per object, {sp['settings']['topic_partitions']} "
            f"partitions; a pool of emulator triples repeated with new keys, each chunk starting with every dirty "
            f"case of the contract: sentinels, blank and padded text, every follower-count form, numeric "
            f"strings, the three datetime formats, rule breakers, a client's retry and a replay). DuckDB "
            f"recomputes every answer from the same raw objects with SQL of its own (`bench/duckdb_recompute.py`: "
            f"first copies, quarantine, every cleaning rule, dedup), none of the Spark code.\n",
            _md_table(
                ["data set", "triples", "objects", "wall s", "import s", "run s", "clean step s", "answer step s", ""],
                rows,
            ),
            f"\n- Spark / DuckDB on {dk['dataset']}: {sm['spark_wall_s']} s / {dk['total_s']} s "
            f"(DuckDB {dk['threads']} threads: download {dk['download_s']} s + SQL {dk['query_s']} s) = "
            f"**{sm['spark_over_duckdb']}x**; answers equal: {sm['duckdb_answers_equal']}.\n"
            f"- Small files, {sp['runs']['small-per-event']['upload']['objects']:,} events: one object per event "
            f"{sm['per_event_wall_s']} s vs the lake's rolled objects {sm['rolled_wall_s']} s = "
            f"**{sm['per_event_over_rolled']}x**.\n"
            + _growth(sm)
            + f"- Where the time goes ({sm['triples']:,} triples): python + Dagster import {_where(sp)}\n"
            f"- Standalone cluster (a master and {sa['workers']} workers of {sa['worker_cores']} core and "
            f"{sa['worker_memory']}, from the pyspark distribution's classes): {sa['wall_s']} s vs local "
            f"{sa['local_twin_wall_s']} s on the same data; answers equal local: {sm['standalone_answers_equal']}.\n",
            charts.markdown(drawn, "spark_growth"),
        ]
        if sm.get("failed_runs"):
            out.append(
                f"- **Failed runs** (no figure is taken from them; see their logs): {', '.join(sm['failed_runs'])}.\n"
            )
    if "streaming" in s:
        st = s["streaming"]
        lat = st["latency_1000"]
        out += [
            "\n## 5. Streaming\n",
            "Latency per event, from that event's own 2xx to its own row visible in PostgreSQL "
            "(`bench/streaming_latency.py`: every event posted on its own to the single-event endpoints with an "
            f"Idempotency-Key, its row looked up by client_event_id every {lat['poll_ms']:.0f} ms), the stack's "
            f"streaming job (trigger {st['settings']['trigger_seconds']} s, {st['settings']['spark_master']}, "
            "512 MB driver). An event never acknowledged, or acknowledged and not seen within the wait, is a "
            'failure: it counts in the percentiles as infinitely late ("-").\n',
            _md_table(
                [
                    "offered/s",
                    "acknowledged/s",
                    "seconds",
                    "sent",
                    "acknowledged",
                    "seen",
                    "unseen",
                    "p50 ms",
                    "p95 ms",
                    "p99 ms",
                    "max ms",
                ],
                [
                    (
                        lat["offered_events_per_s"],
                        lat["achieved_events_per_s"],
                        lat["seconds"],
                        lat.get("sent"),
                        lat.get("acknowledged"),
                        lat.get("seen"),
                        lat.get("unseen"),
                        lat["latency_ms"]["p50"],
                        lat["latency_ms"]["p95"],
                        lat["latency_ms"]["p99"],
                        lat["latency_ms"]["max"],
                    )
                ],
            ),
            charts.markdown(drawn, "streaming_latency"),
            "\nConsumer lag by rate (events produced straight into Kafka; lag = end offsets - highest offset "
            "visible in PostgreSQL, sampled each second; bounded = its trend over the second half below 5% of "
            "the rate actually produced and drained within 60 s after; the goal reads the produced rate):\n",
            _md_table(
                ["offered/s", "produced/s", "seconds", "lag max", "lag trend /s", "caught up after s", "bounded"],
                [
                    (
                        x["offered_events_per_s"],
                        x["produced_events_per_s"],
                        x["seconds"],
                        x["lag_max"],
                        x["lag_trend_events_per_s"],
                        x["caught_up_after_s"],
                        "yes" if x["bounded"] else "no",
                    )
                    for x in st["lag_sweep"]
                ],
            ),
            (
                "\nHighest produced rate with bounded lag: none of the rates tried.\n"
                if st["highest_bounded_rate"] is None
                else f"\nHighest produced rate with bounded lag: {st['highest_bounded_rate']:,} events/s.\n"
            ),
            "\nWhere the time goes: the streaming job's micro-batches (table `streaming_batches`) during each run:\n",
            _md_table(
                [
                    "run",
                    "batches",
                    "s between batches (mean)",
                    "max",
                    "events per batch (mean)",
                    "max",
                    "applied events/s",
                ],
                [
                    (
                        name,
                        mb.get("batches"),
                        mb.get("seconds_between_batches_mean"),
                        mb.get("seconds_between_batches_max"),
                        mb.get("events_per_batch_mean"),
                        mb.get("events_per_batch_max"),
                        mb.get("applied_events_per_s"),
                    )
                    for name, mb in [("latency, 1,000/s via the API", lat.get("micro_batches", {}))]
                    + [(f"lag, {x['offered_events_per_s']:,}/s", x.get("micro_batches", {})) for x in st["lag_sweep"]]
                ],
            ),
        ]
    if "footprint_idle" in r:
        idle = r["footprint_idle"]
        peaks = r.get("footprint_peak_mb", {})
        names = sorted(set(idle["per_service_mb"]) | set(peaks))
        out += [
            "\n## 6. Footprint\n",
            f"Resident memory (RSS) of each service's process tree, sampled every second; idle = the whole stack "
            f"up with no traffic for {idle['seconds']:.0f} s (max over that window).\n",
            _md_table(
                ["service", "idle MB", "peak MB (whole run)"],
                [(n, idle["per_service_mb"].get(n), peaks.get(n)) for n in names]
                + [("**whole stack**", idle["total_mb"], None)],
            ),
            "\nPeak per part (MB):\n",
            _md_table(
                ["part", *names],
                [(phase, *(p.get(n) for n in names)) for phase, p in r.get("footprint_peak_by_part_mb", {}).items()],
            ),
        ]
    alone = [(part, sec["run_on_its_own"]) for part, sec in s.items() if sec.get("run_on_its_own")]
    if alone:
        out += [
            "\n## Parts run on their own\n",
            "These parts come from a later run of the part alone (`python -m bench.<part>`, its own fresh stack), "
            "which replaced that part's figures in this file:\n",
        ]
        out += [
            f"- {part}: {note['at']}, load average at its start "
            f"{', '.join(map(str, note.get('load_average_at_start') or []))}"
            + (
                f"; it replaces the figures of the `make bench` run, whose {part} part failed: "
                f"`{note['replaces_failed_part']}`"
                if note.get("replaces_failed_part")
                else ""
            )
            + "\n"
            for part, note in alone
        ]
    if r.get("errors"):
        out += ["\n## Errors\n"] + [
            f"- {part}: `{text.strip().splitlines()[-1]}`\n" for part, text in r["errors"].items()
        ]
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
