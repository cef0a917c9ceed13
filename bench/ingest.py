"""Ingest benchmarks: the single-event endpoint (events/s and latency, against the HTTP ceiling
of the same app without Kafka, in the same run), its latency in open loop at half that same-run
ceiling (`open_loop_rate`), and the batch endpoint.

    python -m bench.ingest [--quick]      # on a fresh stack of its own (PostgreSQL, S3, Kafka, API)

The load comes from bench.loadgen in a child process. The ceiling is `bench.null_api` under the
same gunicorn configuration (workers, threads, logging) as the API, started next to it; the two
are measured in turns (ceiling, Kafka, ceiling, Kafka, ...) so that the load of the machine
weighs on both alike. A third gunicorn serves the real API with twice the threads per worker
(a variant, to show whether more threads would help). The producer ceiling is
bench.bare_producer (one child process per API worker, their rates summed): a bare kafka-python producer with the API's settings,
sending the same pins with no HTTP in front, measured in the same turns.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from devstack.api_service import IngestionApi
from devstack.process import free_port, spawn, terminate, wait_until
from pinterest_common.config import REPO_ROOT, Settings

from .common import say, table
from .lakegen import encode, padded_pins, triples


def loadgen(
    url: str,
    bodies: Path,
    duration: float,
    connections: int,
    rate: float | None = None,
    events_per_request: int = 1,
    warmup: float = 2.0,
    api_key: str | None = None,
) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "bench.loadgen",
        "--url",
        url,
        "--bodies",
        str(bodies),
        "--duration",
        str(duration),
        "--connections",
        str(connections),
        "--events-per-request",
        str(events_per_request),
        "--warmup",
        str(warmup),
    ]
    if rate:
        cmd += ["--rate", str(rate)]
    if api_key:
        cmd += ["--api-key", api_key]
    done = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=duration + warmup + 300)
    if done.returncode != 0:
        raise RuntimeError(f"loadgen failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def bare_producer(bodies: Path, duration: float, processes: int, warmup: float = 2.0) -> dict:
    """bench.bare_producer in `processes` child processes at once, as many as the API has workers
    (each worker has a producer of its own), the stack's settings from the environment: their
    events/s summed."""
    cmd = [
        sys.executable,
        "-m",
        "bench.bare_producer",
        "--bodies",
        str(bodies),
        "--duration",
        str(duration),
        "--warmup",
        str(warmup),
    ]
    children = [
        subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(processes)
    ]
    results = []
    for child in children:
        out, err = child.communicate(timeout=duration + warmup + 300)
        if child.returncode != 0:
            raise RuntimeError(f"bare producer failed: {err[-2000:]}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    return {
        "processes": processes,
        "events": sum(r["events"] for r in results),
        "failed": sum(r["failed"] for r in results),
        "events_per_s": round(sum(r["events_per_s"] for r in results), 1),
        "settings": results[0]["settings"],
    }


class SideApi:
    """Another gunicorn next to the stack's API, under the API's gunicorn configuration and
    environment, on a free port: by default bench.null_api (the HTTP ceiling); or the real API
    with other settings (`env`)."""

    def __init__(
        self,
        settings: Settings,
        state_dir: Path,
        name: str = "api-null",
        app: str = "bench.null_api:create_app()",
        env: dict[str, str] | None = None,
    ):
        self.api = IngestionApi(settings, state_dir)
        self.port = free_port()
        self.dir = state_dir / "bench"
        self.name, self.app, self.env = name, app, env or {}
        self.pid_file = self.dir / f"{name}.pid"
        self.log_file = self.dir / f"{name}.log"

    def __enter__(self) -> SideApi:
        env = {**self.api._environment(), **self.env, "PINTEREST_API_PORT": str(self.port)}
        cmd = [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            "python:ingestion_api.gunicorn_config",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--name",
            f"pinterest-{self.name}",
            "--chdir",
            str(REPO_ROOT),
            "--control-socket",
            str(self.pid_file.with_suffix(".ctl")),
            self.app,
        ]
        spawn(cmd, self.log_file, self.pid_file, env=env)

        def up() -> bool:
            import requests

            try:
                return requests.get(f"http://127.0.0.1:{self.port}/healthz", timeout=3).status_code == 200
            except requests.RequestException:
                return False

        wait_until(up, 120, self.name, self.log_file)
        return self

    def __exit__(self, *exc) -> None:
        terminate(self.pid_file)

    @property
    def pid(self) -> int:
        return int(self.pid_file.read_text())


def open_loop_rate(ceiling_events_per_s: float) -> int:
    """The open-loop run's offered rate: half the same-run HTTP ceiling, rounded up to 100/s."""
    return int(math.ceil(ceiling_events_per_s / 2 / 100) * 100)


def run(settings: Settings, state_dir: Path, quick: bool = False, sampler=None) -> dict:
    duration = 5.0 if quick else 20.0
    rounds = 1 if quick else 2
    open_duration = 10.0 if quick else 60.0
    connections = 64  # enough that a request waiting for Kafka never leaves the API idle
    api_key = settings.api_keys[0] if settings.api_keys else None
    kafka_url = f"http://127.0.0.1:{settings.api_port}"
    work = Path(tempfile.mkdtemp(prefix="ingest-", dir=state_dir))
    single = work / "single.jsonl"
    pins = padded_pins(2000)
    single.write_bytes(b"\n".join(pins) + b"\n")
    batch_size = 250
    batch = work / "batch.jsonl"
    batch_pins = padded_pins(4 * batch_size, seed=8)
    batch.write_bytes(
        b"\n".join(
            b"[" + b",".join(batch_pins[i : i + batch_size]) + b"]" for i in range(0, len(batch_pins), batch_size)
        )
        + b"\n"
    )
    mixed = work / "batch-geo.jsonl"
    geo = [encode(g) for _, g, _ in triples(4 * 500, seed=9, pool=2000)]
    mixed.write_bytes(b"\n".join(b"[" + b",".join(geo[i : i + 500]) + b"]" for i in range(0, len(geo), 500)) + b"\n")

    figures: dict = {
        "settings": {
            "event_bytes_avg": round(sum(map(len, pins)) / len(pins)),
            "api_workers": settings.api_workers,
            "api_threads": settings.api_threads,
            "connections": connections,
            "seconds_per_measurement": duration,
            "rounds": rounds,
            "batch_size_pin": batch_size,
            "batch_size_geo": 500,
            "kafka_acks": "all",
            "kafka_linger_ms": settings.api_kafka_linger_ms,
            "topic_partitions": settings.topic_partitions,
            "open_loop_seconds": open_duration,
        }
    }
    more_threads = 2 * settings.api_threads
    with (
        SideApi(settings, state_dir) as null,
        SideApi(
            settings,
            state_dir,
            f"api-threads-{more_threads}",
            "ingestion_api.app:create_app()",
            {"PINTEREST_API_THREADS": str(more_threads)},
        ) as threaded,
    ):
        if sampler is not None:
            sampler.extra["api-null (bench)"] = null.pid
        null_url = f"http://127.0.0.1:{null.port}"
        threaded_url = f"http://127.0.0.1:{threaded.port}"
        runs: dict[str, list[dict]] = {
            "single_ceiling": [],
            "single_kafka": [],
            "single_kafka_more_threads": [],
            "batch_ceiling": [],
            "batch_kafka": [],
            "bare_producer": [],
        }
        for round_ in range(rounds):
            for name, url in (
                ("single_ceiling", null_url),
                ("single_kafka", kafka_url),
                ("single_kafka_more_threads", threaded_url),
            ):
                say(
                    f"ingest: {name}, round {round_ + 1}/{rounds}, {duration:.0f}s closed loop, {connections} connections"
                )
                runs[name].append(loadgen(f"{url}/pin/", single, duration, connections, api_key=api_key))
                say(f"  {runs[name][-1]['events_per_s']:,.0f} events/s, p99 {runs[name][-1]['latency_ms']['p99']} ms")
        for round_ in range(rounds):
            for name, url in (("batch_ceiling", null_url), ("batch_kafka", kafka_url)):
                say(f"ingest: {name} (pin batches of {batch_size}), round {round_ + 1}/{rounds}")
                runs[name].append(
                    loadgen(f"{url}/pin/batch", batch, duration, 4, events_per_request=batch_size, api_key=api_key)
                )
                say(f"  {runs[name][-1]['events_per_s']:,.0f} events/s")
            say(
                f"ingest: bare producer (the API's settings, no HTTP, {settings.api_workers} processes), "
                f"round {round_ + 1}/{rounds}"
            )
            runs["bare_producer"].append(bare_producer(single, duration, settings.api_workers))
            say(f"  {runs['bare_producer'][-1]['events_per_s']:,.0f} events/s")
        if sampler is not None:
            sampler.extra.pop("api-null (bench)", None)
    say("ingest: batch endpoint, geo batches of 500")
    geo_batch = loadgen(f"{kafka_url}/geo/batch", mixed, duration, 4, events_per_request=500, api_key=api_key)

    def mean(name: str, field: str = "events_per_s") -> float:
        return round(statistics.mean(r[field] for r in runs[name]), 1)

    offered = open_loop_rate(mean("single_ceiling"))
    say(f"ingest: {offered:,} events/s offered (half the HTTP ceiling) for {open_duration:.0f}s, open loop")
    fixed = loadgen(f"{kafka_url}/pin/", single, open_duration, 64, rate=offered, api_key=api_key)

    def latency(name: str, p: str) -> float:
        return round(statistics.mean(r["latency_ms"][p] for r in runs[name]), 2)

    ceiling, kafka = mean("single_ceiling"), mean("single_kafka")
    # A bare-producer run that lost records to their delivery timeout measured churn, not a ceiling.
    producer_failed = sum(r["failed"] for r in runs["bare_producer"])
    producer = None if producer_failed else mean("bare_producer")
    batch_ceiling, batch_kafka = mean("batch_ceiling"), mean("batch_kafka")
    figures.update(
        {
            "single": {
                "ceiling_events_per_s": ceiling,
                "kafka_events_per_s": kafka,
                "share_of_ceiling": ratio(kafka, ceiling),
                "ceiling_latency_ms": {p: latency("single_ceiling", p) for p in ("p50", "p99")},
                "kafka_latency_ms": {p: latency("single_kafka", p) for p in ("p50", "p99")},
                "more_threads": {
                    "threads": more_threads,
                    "kafka_events_per_s": mean("single_kafka_more_threads"),
                    "kafka_latency_ms": {p: latency("single_kafka_more_threads", p) for p in ("p50", "p99")},
                },
            },
            "bare_producer": {
                "events_per_s": producer,
                "failed": producer_failed,
                "settings": runs["bare_producer"][0]["settings"],
                "single_share": ratio(kafka, producer),
            },
            "open_loop": {
                "offered_events_per_s": offered,
                "achieved_events_per_s": fixed["events_per_s"],
                "latency_ms": fixed["latency_ms"],
                "statuses": fixed["statuses"],
                "errors": fixed["errors"],
            },
            "batch": {
                "pin_250": {
                    "ceiling_events_per_s": batch_ceiling,
                    "kafka_events_per_s": batch_kafka,
                    "share_of_ceiling": ratio(batch_kafka, batch_ceiling),
                    "share_of_bare_producer": ratio(batch_kafka, producer),
                    "share_of_lower_ceiling": None
                    if producer is None
                    else ratio(batch_kafka, min(batch_ceiling, producer)),
                    "kafka_mb_per_s": mean("batch_kafka", "mb_per_s"),
                    "kafka_latency_ms": {p: latency("batch_kafka", p) for p in ("p50", "p99")},
                },
                "geo_500": {
                    "kafka_events_per_s": geo_batch["events_per_s"],
                    "kafka_mb_per_s": geo_batch["mb_per_s"],
                    "kafka_latency_ms": geo_batch["latency_ms"],
                },
            },
            "runs": {**runs, "batch_geo_kafka": [geo_batch], "open_loop": [fixed]},
        }
    )
    best_batch = max(figures["batch"]["pin_250"]["kafka_events_per_s"], geo_batch["events_per_s"])
    figures["goals"] = {
        "single >= 70% of the HTTP ceiling": _goal(figures["single"]["share_of_ceiling"], ">=", 0.70),
        "single >= 1,500 events/s": _goal(kafka, ">=", 1500),
        "p99 < 50 ms at half the HTTP ceiling offered": {
            **_goal(fixed["latency_ms"]["p99"], "<", 50.0),
            "target": f"< 50.0 at >= {ceiling / 2:,.0f}/s offered",
            "met": _goal(fixed["latency_ms"]["p99"], "<", 50.0)["met"] and offered >= ceiling / 2,
        },
        "batch endpoint >= 20,000 events/s": _goal(best_batch, ">=", 20000),
        "batch endpoint >= 70% of min(HTTP batch ceiling, bare producer)": _goal(
            figures["batch"]["pin_250"]["share_of_lower_ceiling"], ">=", 0.70
        ),
    }
    return figures


def ratio(value: float, ceiling: float | None) -> float | None:
    """`value` / `ceiling`, rounded; None without a ceiling."""
    return round(value / ceiling, 3) if ceiling else None


def _goal(value, op: str, target) -> dict:
    met = value is not None and (value >= target if op == ">=" else value < target)
    return {"value": value, "target": f"{op} {target}", "met": bool(met)}


def report(figures: dict) -> str:
    s, f, b = figures["single"], figures["open_loop"], figures["batch"]
    rows = [
        (
            "single event, HTTP ceiling (no Kafka)",
            s["ceiling_events_per_s"],
            s["ceiling_latency_ms"]["p50"],
            s["ceiling_latency_ms"]["p99"],
        ),
        (
            "single event, Kafka acks=all",
            s["kafka_events_per_s"],
            s["kafka_latency_ms"]["p50"],
            s["kafka_latency_ms"]["p99"],
        ),
        (
            f"single event, Kafka, {s['more_threads']['threads']} threads/worker (variant)",
            s["more_threads"]["kafka_events_per_s"],
            s["more_threads"]["kafka_latency_ms"]["p50"],
            s["more_threads"]["kafka_latency_ms"]["p99"],
        ),
        (
            f"single event, {f['offered_events_per_s']:,}/s offered",
            f["achieved_events_per_s"],
            f["latency_ms"]["p50"],
            f["latency_ms"]["p99"],
        ),
        (
            "bare producer, the API's settings (no HTTP)",
            figures["bare_producer"]["events_per_s"],
            float("nan"),
            float("nan"),
        ),
        ("batch /pin/batch x250, ceiling", b["pin_250"]["ceiling_events_per_s"], float("nan"), float("nan")),
        (
            "batch /pin/batch x250, Kafka",
            b["pin_250"]["kafka_events_per_s"],
            b["pin_250"]["kafka_latency_ms"]["p50"],
            b["pin_250"]["kafka_latency_ms"]["p99"],
        ),
        (
            "batch /geo/batch x500, Kafka",
            b["geo_500"]["kafka_events_per_s"],
            b["geo_500"]["kafka_latency_ms"]["p50"],
            b["geo_500"]["kafka_latency_ms"]["p99"],
        ),
    ]
    text = table(
        f"Ingest (~{figures['settings']['event_bytes_avg']} B pins; Kafka/ceiling = {s['share_of_ceiling']}, "
        f"single/bare producer = {figures['bare_producer']['single_share']}, "
        f"batch/min(batch ceiling, bare producer) = {b['pin_250']['share_of_lower_ceiling']})",
        ["measurement", "events/s", "p50 ms", "p99 ms (per request)"],
        rows,
    )
    return text


def main(argv: list[str] | None = None) -> int:
    from devstack.fresh import fresh_stack, settings_stack

    from .common import handle_sigterm, load_average, write_section

    handle_sigterm()
    load_at_start = load_average()
    parser = argparse.ArgumentParser(description=__doc__ and __doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short measurements, for development")
    args = parser.parse_args(argv)
    with fresh_stack("bench-ingest-", services=("kafka", "api")) as settings:
        figures = run(settings, settings_stack(settings).state_dir, args.quick)
    print(report(figures))
    write_section("ingest", {"quick": args.quick, **figures}, load_at_start=load_at_start)
    return 0


if __name__ == "__main__":
    sys.exit(main())
