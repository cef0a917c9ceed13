"""Spark batch benchmarks: the batch assets (clean + every analytics question, published) over
1,000,000 triples with wall time including the session start; the same answers by DuckDB from the
same raw objects; the small-files penalty (one object per event vs the lake's rolled objects on
50,000 events); growth 250k -> 500k -> 1M triples, judged on marginal time (each size's wall
minus the fixed cost: the same run on an empty lake); one refresh of a small increment (500
triples landed on the largest lake after its run); and the same assets on a Spark standalone
cluster (a master and two workers) with answers equal to the local run.

    python -m bench.spark_batch [--quick]     # on a fresh stack of its own (PostgreSQL, S3)

The raw objects are generated straight into S3 in the lake's format (bench.lakegen, with the
lake's own code) into one bucket per data set, and each run of the assets is
`python -m bench.spark_refresh` in a process of its own with PINTEREST_S3_BUCKET set to it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from pinterest_assets.lib.lake.objects import RollLimits
from pinterest_common.config import REPO_ROOT, Settings
from pinterest_common.s3 import s3_client
from pinterest_common.spark import spark_conf

from .common import home_relative, log_dir, say, table
from .lakegen import cached_lake, upload

SEED = 2024
# The small-files data set: 16,667 triples = 50,001 events, one object each in the per-event layout.
FULL = {"chunk": 250_000, "chunks": 4, "small_triples": 16_667, "standalone_chunks": 1}
GROWTH_LIMIT = 2.1  # per doubling of the data: linear plus a margin for noise
DUCKDB_LIMIT = 3.0  # Spark's wall over DuckDB's (download + SQL) on the largest data set
INCREMENT = 500  # triples: the small increment, the last (short) chunk of the growth lake
INCREMENT_LIMIT_S = 15.0
QUICK = {"chunk": 2_000, "chunks": 4, "small_triples": 500, "standalone_chunks": 1}


def refresh_in_child(settings: Settings, bucket: str, log_dir: Path, master: str | None = None, sampler=None) -> dict:
    env = {**os.environ, "PINTEREST_S3_BUCKET": bucket}
    if master:
        env["SPARK_MASTER"] = master
    log = log_dir / f"spark-refresh-{bucket}-{'standalone' if master else 'local'}.log"
    start = time.monotonic()
    with open(log, "w") as out:
        child = subprocess.Popen(
            [sys.executable, "-m", "bench.spark_refresh"], cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
        if sampler is not None:
            sampler.extra["spark batch driver (bench child)"] = child.pid
        try:
            child.wait(timeout=3600)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
            if sampler is not None:
                sampler.extra.pop("spark batch driver (bench child)", None)
    wall = time.monotonic() - start
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.startswith("BENCH-RESULT ")]
    if not lines:
        raise RuntimeError(
            f"the refresh run on {bucket} printed no result (exit {child.returncode}); see {home_relative(settings, log)}"
        )
    result = json.loads(lines[-1][len("BENCH-RESULT ") :])
    result["wall_s"] = round(wall, 2)
    result["timeline"] = timeline(log.read_text(errors="replace"))
    result["log"] = home_relative(settings, log)
    return result


def timeline(text: str) -> dict:
    """Seconds between the run's log lines for each cleaned table and each published answer:
    where the run's time goes (the log has a resolution of one second)."""
    import re
    from datetime import datetime

    pattern = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) \+0000 - dagster - \w+ - [^ ]+ - [^ ]+ - (\w+) - (.*)$")
    marks = []
    for line in text.splitlines():
        match = pattern.match(line)
        if match and ("new raw object(s)" in match.group(3) or "row(s) published" in match.group(3)):
            marks.append((datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S"), match.group(3).split(":")[0]))
    steps = {name: (later - at).total_seconds() for (at, name), (later, _) in zip(marks, marks[1:])}
    published = [(at, name) for at, name in marks if not name.startswith("cleaned_")]
    per_question = [(later - at).total_seconds() for (at, _), (later, _) in zip(published, published[1:])]
    return {
        "between_marks_s": steps,
        "seconds_per_question_after_the_first": round(sum(per_question) / len(per_question), 1)
        if per_question
        else None,
    }


def duckdb_run(settings: Settings, bucket: str, workdir: Path) -> dict:
    """Download the bucket's raw objects and answer every question with DuckDB, timed."""
    import duckdb

    from bench.duckdb_recompute import answers, load_raw
    from pinterest_assets.lib.queries.analytics import QUESTIONS

    client = s3_client(settings)
    root = workdir / bucket
    start = time.monotonic()
    keys = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="raw/"):
        keys += [o["Key"] for o in page.get("Contents", []) if o["Key"].endswith(".jsonl.gz")]
    from concurrent.futures import ThreadPoolExecutor

    def fetch(key: str) -> None:
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        client.download_file(bucket, key, str(path))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(fetch, keys))
    downloaded = time.monotonic()
    db = duckdb.connect()
    lines = load_raw(db, root)
    rows = answers(db, {q.name: q.columns for q in QUESTIONS})
    finished = time.monotonic()
    row = db.execute("SELECT current_setting('threads')").fetchone()
    assert row is not None  # a SELECT without FROM returns one row
    threads = row[0]
    db.close()
    shutil.rmtree(root, ignore_errors=True)
    return {
        "objects": len(keys),
        "raw_lines": lines,
        "download_s": round(downloaded - start, 2),
        "query_s": round(finished - downloaded, 2),
        "total_s": round(finished - start, 2),
        "threads": threads,
        "answers": rows,
    }


def empty_lake_ok(result: dict) -> bool:
    """Whether the run on an empty lake did all its work: the run succeeded and the only checks
    that failed are the answers' non-empty ones (an empty lake has no answers)."""
    return bool(result.get("run_success")) and all(check.endswith(":non_empty") for check in result["failed_checks"])


def marginal_growth(growth: list[tuple[int, float | None]], fixed_s: float | None) -> dict:
    """Each size's marginal time (wall - `fixed_s`, the run on an empty lake) and its ratio per
    doubling; None where a run failed or a marginal time is not positive (nothing to compare)."""
    marginal = [None if wall is None or fixed_s is None else round(wall - fixed_s, 2) for _, wall in growth]
    ratios = [
        round(b / a, 2) if a is not None and b is not None and a > 0 and b > 0 else None
        for a, b in zip(marginal, marginal[1:])
    ]
    return {
        "growth": [{"triples": t, "wall_s": w, "marginal_s": m} for (t, w), m in zip(growth, marginal)],
        "x2_ratios": ratios,
    }


def same_answers(a: dict, b: dict) -> dict[str, bool]:
    from bench.duckdb_recompute import normalised

    return {name: normalised(a.get(name, [])) == normalised(b.get(name, [])) and bool(a.get(name)) for name in b}


def run(
    settings: Settings,
    state_dir: Path,
    quick: bool = False,
    sampler=None,
    triples: int | None = None,
    small_triples: int | None = None,
) -> dict:
    """`triples`: the largest data set instead of the default (1,000,000; quick 8,000), grown in
    quarters (1/4 -> 1/2 -> all); `small_triples`: the small-files data set (default 16,667
    triples = 50,001 events; quick 500)."""
    sizes = dict(QUICK if quick else FULL)
    if triples:
        sizes["chunk"] = triples // sizes["chunks"]
    if small_triples:
        sizes["small_triples"] = small_triples
    limits = RollLimits(
        settings.lake_roll_max_records, settings.lake_roll_max_bytes, settings.lake_roll_max_span_seconds
    )
    partitions = settings.topic_partitions
    logs = log_dir(settings, state_dir, "spark")
    total = sizes["chunk"] * sizes["chunks"]
    say(f"spark: raw lake objects for {total:,} triples (cached after the first run) ...")
    started = time.monotonic()
    # The growth chunks, then a short one: the small increment.
    rolled = cached_lake(total + INCREMENT, SEED, partitions, limits, chunk_triples=sizes["chunk"], log=say)
    small_rolled = cached_lake(sizes["small_triples"], SEED, partitions, limits, log=say)
    small_per_event = cached_lake(sizes["small_triples"], SEED, partitions, limits, per_event=True, log=say)
    generation_s = time.monotonic() - started

    figures: dict = {
        "settings": {
            "spark_master": settings.spark_master,
            "driver_memory": settings.spark_driver_memory,
            "shuffle_partitions": int(spark_conf(settings, "bench")["spark.sql.shuffle.partitions"]),
            "roll_max_records": limits.max_records,
            "topic_partitions": partitions,
            "triples_per_chunk": sizes["chunk"],
            "seed": SEED,
            "data_generation_s": round(generation_s, 1),
        },
        "runs": {},
    }
    datasets = [("empty", rolled, 0)]  # the fixed cost: the bucket with no raw object
    datasets += [(f"growth-{k * sizes['chunk']}", rolled, k) for k in (1, 2, 4)]
    datasets += [("small-rolled", small_rolled, None), ("small-per-event", small_per_event, None)]
    standalone_set = f"standalone-{sizes['standalone_chunks'] * sizes['chunk']}"
    local_twin = f"growth-{sizes['standalone_chunks'] * sizes['chunk']}"
    for name, root, chunks in [*datasets, (standalone_set, rolled, sizes["standalone_chunks"])]:
        bucket = f"bench-{name}"
        say(f"spark: uploading {name} to s3://{bucket} ...")
        up = upload(settings, root, bucket, chunks)
        say(f"  {up['objects']:,} objects, {up['bytes'] / 1e6:,.1f} MB in {up['seconds']:.0f}s")
        figures["runs"][name] = {"upload": up}

    def spark(name: str, master: str | None = None) -> dict:
        say(f"spark: assets on {name} ({'standalone ' + master if master else settings.spark_master}) ...")
        result = refresh_in_child(settings, f"bench-{name}", logs, master, sampler)
        if name == "empty":
            result["success"] = empty_lake_ok(result)
        say(
            f"  {'ok' if result['success'] else 'FAILED'}: wall {result['wall_s']:.1f}s "
            f"(python+dagster import {result['import_s']:.1f}s, run {result['run_s']:.1f}s)"
        )
        return result

    answers_local = {}
    for name, _, chunks in datasets:
        result = spark(name)
        answers_local[name] = result.pop("answers")
        figures["runs"][name]["spark"] = result
        figures["runs"][name]["triples"] = (chunks * sizes["chunk"]) if chunks is not None else sizes["small_triples"]
        figures["runs"][name]["events"] = figures["runs"][name]["upload"]["objects"] if "per-event" in name else None

    largest = f"growth-{4 * sizes['chunk']}"
    say(f"spark: DuckDB on {largest} ...")
    duck = duckdb_run(settings, f"bench-{largest}", state_dir / "bench")
    duck_answers = duck.pop("answers")
    figures["runs"][largest]["events"] = duck["raw_lines"]
    figures["duckdb"] = {
        **duck,
        "dataset": largest,
        "answers_equal_spark": same_answers(answers_local[largest], duck_answers),
    }
    say(
        f"  DuckDB: download {duck['download_s']:.1f}s + queries {duck['query_s']:.1f}s; answers equal: "
        f"{all(figures['duckdb']['answers_equal_spark'].values())}"
    )

    say(f"spark: a small increment ({INCREMENT} triples) lands on {largest} ...")
    up = upload(settings, rolled, f"bench-{largest}")  # every chunk: only the increment's objects are new
    increment = spark(largest)
    increment.pop("answers")
    figures["increment"] = {"triples": INCREMENT, "on": largest, "objects_uploaded": up["objects"], "spark": increment}

    from devstack.spark_cluster import StandaloneCluster

    cluster = StandaloneCluster(state_dir, workers=2, worker_cores=1, worker_memory="1g")
    say("spark: starting a standalone cluster (a master, two workers of 1 core and 1 GiB) ...")
    with cluster as master_url:
        if sampler is not None:
            sampler.extra.update(cluster.pids())
        try:
            result = spark(standalone_set, master_url)
        finally:
            if sampler is not None:
                for key in cluster.pids():
                    sampler.extra.pop(key, None)
    standalone_answers = result.pop("answers")
    figures["standalone"] = {
        **result,
        "dataset": standalone_set,
        "workers": 2,
        "worker_cores": 1,
        "worker_memory": "1g",
        "local_twin": local_twin,
        "local_twin_wall_s": figures["runs"][local_twin]["spark"]["wall_s"],
        "upload": figures["runs"].pop(standalone_set)["upload"],
        "answers_equal_local": same_answers(answers_local[local_twin], standalone_answers),
    }

    runs = figures["runs"]

    def wall(name: str) -> float | None:
        """A run's wall time; None when the run failed: a failed run gives no figure."""
        return runs[name]["spark"]["wall_s"] if runs[name]["spark"]["success"] else None

    def ratio(a: float | None, b: float | None) -> float | None:
        return round(a / b, 2) if a is not None and b else None

    spark_1m = wall(largest)
    duck_total = duck["total_s"]
    per_event, rolled_small = wall("small-per-event"), wall("small-rolled")
    growth = [
        (runs[f"growth-{k * sizes['chunk']}"]["triples"], wall(f"growth-{k * sizes['chunk']}")) for k in (1, 2, 4)
    ]
    marginal = marginal_growth(growth, wall("empty"))
    figures["summary"] = {
        "triples": total,
        "spark_wall_s": spark_1m,
        "duckdb_total_s": duck_total,
        "spark_over_duckdb": ratio(spark_1m, duck_total),
        "per_event_wall_s": per_event,
        "rolled_wall_s": rolled_small,
        "per_event_over_rolled": ratio(per_event, rolled_small),
        "failed_runs": [name for name in runs if not runs[name]["spark"]["success"]],
        "fixed_s": wall("empty"),
        "growth": marginal["growth"],
        "growth_x2_ratios": [ratio(growth[1][1], growth[0][1]), ratio(growth[2][1], growth[1][1])],
        "marginal_x2_ratios": marginal["x2_ratios"],
        "standalone_wall_s": figures["standalone"]["wall_s"] if figures["standalone"]["success"] else None,
        "standalone_answers_equal": all(figures["standalone"]["answers_equal_local"].values()),
        "duckdb_answers_equal": all(figures["duckdb"]["answers_equal_spark"].values()),
        "increment_wall_s": increment["wall_s"] if increment["success"] else None,
        "increment_run_s": increment["run_s"] if increment["success"] else None,
    }
    s = figures["summary"]
    met = lambda value, test: value is not None and test(value)  # noqa: E731
    figures["goals"] = {
        f"Spark {total:,} triples / DuckDB same data": {
            "value": s["spark_over_duckdb"],
            "target": f"<= {DUCKDB_LIMIT:g}",
            "met": met(s["spark_over_duckdb"], lambda v: v <= DUCKDB_LIMIT),
        },
        f"one refresh of a small increment ({INCREMENT} triples), wall": {
            "value": s["increment_wall_s"],
            "target": f"<= {INCREMENT_LIMIT_S:g} s",
            "met": met(s["increment_wall_s"], lambda v: v <= INCREMENT_LIMIT_S),
        },
        ">= 20x faster than one object per event": {
            "value": s["per_event_over_rolled"],
            "target": ">= 20",
            "met": met(s["per_event_over_rolled"], lambda v: v >= 20),
        },
        "marginal growth no worse than linear": {
            "value": s["marginal_x2_ratios"],
            "target": f"each doubling <= {GROWTH_LIMIT}x (wall - fixed cost)",
            "met": all(met(r, lambda v: v <= GROWTH_LIMIT) for r in s["marginal_x2_ratios"]),
        },
    }
    return figures


def report(figures: dict) -> str:
    runs, s = figures["runs"], figures["summary"]
    rows = []
    for name, run_ in runs.items():
        sp = run_["spark"]
        rows.append(
            (
                name,
                run_.get("triples"),
                run_["upload"]["objects"],
                sp["wall_s"],
                sp["run_s"],
                sp["steps_s"].get("clean_raw_events", float("nan")),
                sp["steps_s"].get("answer_questions", float("nan")),
                "ok" if sp["success"] else "FAILED",
            )
        )
    st = figures["standalone"]
    rows.append(
        (
            f"{st['local_twin']} on standalone",
            None,
            None,
            st["wall_s"],
            st["run_s"],
            st["steps_s"].get("clean_raw_events", float("nan")),
            st["steps_s"].get("answer_questions", float("nan")),
            "answers equal" if s["standalone_answers_equal"] else "ANSWERS DIFFER",
        )
    )
    inc = figures["increment"]
    rows.append(
        (
            f"+{inc['triples']} triples on {inc['on']}",
            inc["triples"],
            None,
            inc["spark"]["wall_s"],
            inc["spark"]["run_s"],
            inc["spark"]["steps_s"].get("clean_raw_events", float("nan")),
            inc["spark"]["steps_s"].get("answer_questions", float("nan")),
            "ok" if inc["spark"]["success"] else "FAILED",
        )
    )
    d = figures["duckdb"]
    rows.append(
        (
            f"{d['dataset']} DuckDB",
            None,
            d["objects"],
            d["total_s"],
            d["query_s"],
            float("nan"),
            float("nan"),
            "answers equal" if s["duckdb_answers_equal"] else "ANSWERS DIFFER",
        )
    )
    text = table(
        "Spark batch (wall = process start to exit; run = the Dagster run; steps in s)",
        ["data set", "triples", "objects", "wall s", "run s", "clean s", "answer s", ""],
        [[("" if v is None else v) for v in row] for row in rows],
    )
    text += (
        f"\n  Spark/DuckDB {s['spark_over_duckdb']}x; one-object-per-event/rolled {s['per_event_over_rolled']}x; "
        f"fixed cost (empty lake) {s['fixed_s']} s; marginal growth per doubling {s['marginal_x2_ratios']} "
        f"(wall: {s['growth_x2_ratios']})"
    )
    return text


def main(argv: list[str] | None = None) -> int:
    from devstack.fresh import fresh_stack, settings_stack

    from .common import handle_sigterm, load_average, write_section

    handle_sigterm()
    load_at_start = load_average()
    parser = argparse.ArgumentParser(description=__doc__ and __doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data sets, for development")
    parser.add_argument("--triples", type=int, default=None, help="the largest data set (default 1,000,000)")
    parser.add_argument(
        "--small-triples",
        type=int,
        default=None,
        help="the small-files data set (default 16,667 triples = 50,001 events)",
    )
    args = parser.parse_args(argv)
    with fresh_stack("bench-spark-", services=("postgres", "s3")) as settings:
        figures = run(
            settings,
            settings_stack(settings).state_dir,
            args.quick,
            triples=args.triples,
            small_triples=args.small_triples,
        )
    print(report(figures))
    write_section("spark", {"quick": args.quick, **figures}, load_at_start=load_at_start)
    return 0


if __name__ == "__main__":
    sys.exit(main())
