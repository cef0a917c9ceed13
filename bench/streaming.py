"""Streaming benchmarks: end-to-end latency API 2xx -> row visible in PostgreSQL at a steady
1,000 events/s (bench/streaming_latency.py's method and code), and the highest steady rate at
which the streaming job's consumer lag stays bounded.

    python -m bench.streaming [--quick]     # on a fresh stack of its own, streaming job included

Latency: emulator triples posted to the batch endpoints (100 events a request) at the rate;
each acknowledged event's (partition, offset) is watched for in the event tables, polled every
20 ms (see bench/streaming_latency.py). Lag sweep: events produced straight into Kafka at each
rate (the API is not the subject there, and on a small machine it would cap the rate first);
every second the lag = Kafka's end offsets - (the highest offset visible in PostgreSQL + 1),
summed over the partitions of the three topics. The lag is bounded when its trend over the
second half of the run grows by less than 5% of the rate (it saw-tooths with each micro-batch)
and it drains within 60 s once the traffic stops.
"""

from __future__ import annotations

import argparse
import math
import queue
import sys
import threading
import time
from pathlib import Path

from pinterest_common.config import Settings
from pinterest_common.schema import EVENT_TYPES

from .common import percentile, say, table
from .streaming_latency import POLL_SQL, Visibility, missing_events, poll, send

RATES = (1000, 2500, 5000)


def latency_run(settings: Settings, rate: float, duration: float, batch_size: int = 100, concurrency: int = 8,
                poll_ms: float = 20.0, drain_timeout: float = 180.0) -> dict:
    from ingestion_api.traffic import EmulatorOptions, generate_posts

    total = int(rate * duration)
    options = EmulatorOptions(count=math.ceil(total / 3), batch_size=batch_size, seed=int(time.time()), invalid_share=0.0)
    planned = generate_posts(options)
    headers = {"Content-Type": "application/json"}
    if settings.api_keys:
        headers["X-API-Key"] = settings.api_keys[0]
    dsn = settings.pg_dsn(settings.streaming_database)
    url = f"http://127.0.0.1:{settings.api_port}"
    visibility, acknowledged, failures = Visibility(), [], []
    stop_polling = threading.Event()
    poller = threading.Thread(target=poll, args=(dsn, settings.topic_partitions, visibility, poll_ms / 1000, stop_polling))
    poller.start()
    posts: queue.Queue = queue.Queue(maxsize=concurrency * 4)
    senders = [threading.Thread(target=send, args=(url, headers, posts, visibility, acknowledged, failures))
               for _ in range(concurrency)]
    for sender in senders:
        sender.start()
    pending_samples: list[tuple[float, int]] = []
    started_epoch = time.time()
    start, scheduled = time.monotonic(), 0
    next_sample = start
    try:
        for post in planned:
            if scheduled >= total:
                break
            time.sleep(max(0.0, start + scheduled / rate - time.monotonic()))
            posts.put(post)
            scheduled += len(post.bodies)
            if time.monotonic() >= next_sample:
                pending_samples.append((round(time.monotonic() - start, 1), visibility.pending()))
                next_sample += 1.0
    finally:
        for _ in senders:
            posts.put(None)
        for sender in senders:
            sender.join()
    sent_s = time.monotonic() - start
    deadline = time.monotonic() + drain_timeout
    while visibility.pending() and time.monotonic() < deadline:
        time.sleep(0.2)
    stop_polling.set()
    poller.join()
    latencies = sorted(visibility.latencies_s)
    return {
        "offered_events_per_s": rate, "seconds": round(sent_s, 1), "scheduled": scheduled,
        "acknowledged": len(acknowledged), "achieved_events_per_s": round(len(acknowledged) / sent_s, 1),
        "failures": len(failures), "not_seen": visibility.pending(), "missing_in_postgres": missing_events(dsn, acknowledged),
        "latency_ms": {name: round(percentile(latencies, share) * 1000, 1) if latencies else None
                       for name, share in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99), ("max", 1.0))},
        "samples": len(latencies), "poll_ms": poll_ms, "batch_size": batch_size,
        "max_pending": max((p for _, p in pending_samples), default=0),
        "micro_batches": batch_stats(dsn, started_epoch),
    }


def batch_stats(dsn: str, since_epoch: float) -> dict:
    """The streaming job's micro-batches committed since `since_epoch` (streaming_batches):
    how many, how far apart, how many events each, and the events per second they applied."""
    import psycopg2

    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT extract(epoch FROM committed_at), pin_events + geo_events + user_events "
                        "FROM streaming_batches WHERE committed_at >= to_timestamp(%s) ORDER BY committed_at",
                        (since_epoch,))
            rows = [(float(t), int(n)) for t, n in cur.fetchall()]
    finally:
        conn.close()
    if len(rows) < 2:
        return {"batches": len(rows)}
    gaps = [b[0] - a[0] for a, b in zip(rows, rows[1:])]
    events = sum(n for _, n in rows[1:])
    span = rows[-1][0] - rows[0][0]
    return {"batches": len(rows), "seconds_between_batches_mean": round(sum(gaps) / len(gaps), 2),
            "seconds_between_batches_max": round(max(gaps), 2),
            "events_per_batch_mean": round(sum(n for _, n in rows) / len(rows), 1),
            "events_per_batch_max": max(n for _, n in rows),
            "applied_events_per_s": round(events / span, 1) if span else None}


def _visible(cur, partitions: int) -> dict[tuple[str, int], int]:
    cur.execute(POLL_SQL, {"partitions": partitions})
    return {(event_type, partition): offset for event_type, partition, offset in cur.fetchall() if offset is not None}


def _ends(consumer) -> dict[tuple[str, int], int]:
    from pinterest_assets.lake import kafka_io

    out = {}
    for name, event_type in EVENT_TYPES.items():
        for partition, offsets in (kafka_io.partition_offsets(consumer, event_type.topic) or {}).items():
            out[(name, partition)] = offsets.end
    return out


def lag(consumer, cur, partitions: int, floor: dict[tuple[str, int], int]) -> int:
    """Events in Kafka not yet visible in PostgreSQL (offsets below `floor` don't count)."""
    ends, visible = _ends(consumer), _visible(cur, partitions)
    return sum(max(0, end - max(visible.get(key, -1) + 1, floor.get(key, 0))) for key, end in ends.items())


def _slope(points: list[tuple[float, int]]) -> float:
    if len(points) < 2:
        return 0.0
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / var if var else 0.0


def _produce_paced(bootstrap: str, rate: float, duration: float, start_at: float, produced) -> None:
    """One producer process: emulator events straight into the event topics at `rate`/s."""
    from kafka import KafkaProducer

    from pinterest_common.records import RecordMetadata
    from pinterest_common.schema import record_key

    from .lakegen import EVENT_ORDER, encode, triples

    pool = [(EVENT_TYPES[name].topic, name, encode(event), record_key(EVENT_TYPES[name], event))
            for triple in triples(3000, seed=77, pool=3000) for name, event in zip(EVENT_ORDER, triple)]
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, batch_size=256 * 1024)
    total = int(rate * duration)
    sent = 0
    time.sleep(max(0.0, start_at - time.time()))
    try:
        while sent < total:
            due = min(total, int((time.time() - start_at) * rate) + 1)
            while sent < due:
                topic, name, value, key = pool[sent % len(pool)]
                producer.send(topic, value=value, key=key, headers=RecordMetadata.new(name).headers())
                sent += 1
                if sent % 500 == 0:
                    produced.value = sent
            time.sleep(0.005)
        producer.flush()
    finally:
        produced.value = sent
        producer.close()


def lag_run(settings: Settings, rate: float, duration: float, catch_up_s: float = 60.0) -> dict:
    """Produce straight into Kafka at `rate` for `duration` s (one producer process per 1,000
    events/s, as one Python producer cannot send much more on a small machine), sampling the
    streaming lag every second."""
    import multiprocessing

    import psycopg2

    from pinterest_assets.lake import kafka_io

    from .lakegen import _pool

    _pool(3000, 77)  # the producers' pool, generated (and cached) before they start
    processes = max(1, math.ceil(rate / 1000))
    start_at = time.time() + 3.0
    context = multiprocessing.get_context("spawn")
    counters = [context.Value("q", 0) for _ in range(processes)]
    workers = [context.Process(target=_produce_paced, args=(settings.kafka_bootstrap_servers, rate / processes,
                                                            duration, start_at, counter), daemon=True)
               for counter in counters]
    consumer = kafka_io.open_consumer(settings.kafka_bootstrap_servers, client_id="bench-streaming-lag")
    conn = psycopg2.connect(settings.pg_dsn(settings.streaming_database))
    conn.autocommit = True
    cur = conn.cursor()
    samples: list[tuple[float, int]] = []
    floor: dict = {}
    started_epoch = time.time()
    try:
        for worker in workers:
            worker.start()
        time.sleep(max(0.0, start_at - time.time()))
        start = time.monotonic()
        while any(worker.is_alive() for worker in workers):
            time.sleep(max(0.0, 1.0 - (time.monotonic() - start) % 1.0))
            try:
                samples.append((round(time.monotonic() - start, 1), lag(consumer, cur, settings.topic_partitions, floor)))
            except Exception:  # noqa: BLE001 - a missed sample is not a failure
                pass
        sent_s = time.monotonic() - start
        sent = sum(counter.value for counter in counters)
        during = list(samples)
        caught_up_s = None
        catch_start = time.monotonic()
        while time.monotonic() - catch_start < catch_up_s:
            if lag(consumer, cur, settings.topic_partitions, floor) == 0:
                caught_up_s = round(time.monotonic() - catch_start, 1)
                break
            time.sleep(0.5)
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
            worker.join()
        consumer.close()
        conn.close()
    second_half = [(t, v) for t, v in during if t >= sent_s / 2]
    slope = _slope(second_half)
    bounded = slope < 0.05 * rate and caught_up_s is not None
    return {
        "offered_events_per_s": rate, "producer_processes": processes, "seconds": round(sent_s, 1), "produced": sent,
        "produced_events_per_s": round(sent / sent_s, 1),
        "lag_max": max((v for _, v in during), default=0),
        "lag_last": during[-1][1] if during else None,
        "lag_trend_events_per_s": round(slope, 1),
        "caught_up_after_s": caught_up_s, "bounded": bounded,
        "micro_batches": batch_stats(settings.pg_dsn(settings.streaming_database), started_epoch),
        "lag_samples": during,
    }


def run(settings: Settings, state_dir: Path, quick: bool = False, sampler=None) -> dict:
    latency_s = 30.0 if quick else 300.0
    sweep_s = 20.0 if quick else 60.0
    rates = RATES[:2] if quick else RATES
    say(f"streaming: latency at 1,000 events/s through the API for {latency_s:.0f}s ...")
    latency = latency_run(settings, 1000, latency_s)
    say(f"  p50 {latency['latency_ms']['p50']} ms, p95 {latency['latency_ms']['p95']} ms, "
        f"p99 {latency['latency_ms']['p99']} ms ({latency['samples']:,} events)")
    sweep = []
    for rate in rates:
        say(f"streaming: lag at {rate:,} events/s produced straight into Kafka for {sweep_s:.0f}s ...")
        result = lag_run(settings, rate, sweep_s)
        sweep.append(result)
        say(f"  produced {result['produced_events_per_s']:,.0f}/s; lag max {result['lag_max']:,}, trend "
            f"{result['lag_trend_events_per_s']:+,.0f}/s, caught up after {result['caught_up_after_s']}s: "
            f"{'bounded' if result['bounded'] else 'NOT bounded'}")
    bounded_rates = [r["offered_events_per_s"] for r in sweep if r["bounded"]]
    highest = max(bounded_rates) if bounded_rates else None
    figures = {
        "settings": {"trigger_seconds": settings.streaming_trigger_seconds,
                     "max_offsets_per_trigger": settings.streaming_max_offsets_per_trigger,
                     "spark_master": settings.spark_master, "driver_memory": "512m (the stack's streaming job)",
                     "latency_seconds": latency_s, "sweep_seconds": sweep_s},
        "latency_1000": latency,
        "lag_sweep": sweep,
        "highest_bounded_rate": highest,
    }
    p99 = latency["latency_ms"]["p99"]
    figures["goals"] = {
        "streaming p99 < 5 s at 1,000 events/s": {"value": p99, "target": "< 5000 ms", "met": p99 is not None and p99 < 5000},
        "bounded lag at 5,000 events/s": {"value": highest, "target": "5000 bounded",
                                          "met": any(r["bounded"] and r["offered_events_per_s"] >= 5000 for r in sweep)},
    }
    return figures


def report(figures: dict) -> str:
    lat = figures["latency_1000"]
    text = table("Streaming: API 2xx -> row visible in PostgreSQL",
                 ["offered/s", "acknowledged/s", "seconds", "events", "p50 ms", "p95 ms", "p99 ms", "max ms", "missing"],
                 [(lat["offered_events_per_s"], lat["achieved_events_per_s"], lat["seconds"], lat["samples"],
                   lat["latency_ms"]["p50"], lat["latency_ms"]["p95"], lat["latency_ms"]["p99"], lat["latency_ms"]["max"],
                   lat["missing_in_postgres"])])
    text += "\n" + table("Streaming: consumer lag by rate (events produced straight into Kafka)",
                         ["offered/s", "produced/s", "lag max", "lag trend /s", "caught up s", "bounded"],
                         [(r["offered_events_per_s"], r["produced_events_per_s"], r["lag_max"], r["lag_trend_events_per_s"],
                           "-" if r["caught_up_after_s"] is None else r["caught_up_after_s"], "yes" if r["bounded"] else "NO")
                          for r in figures["lag_sweep"]])
    return text


def main(argv: list[str] | None = None) -> int:
    from devstack.fresh import fresh_stack, settings_stack

    from .common import handle_sigterm, load_average, write_section

    handle_sigterm()
    load_at_start = load_average()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="30 s of latency, two rates of 20 s")
    args = parser.parse_args(argv)
    with fresh_stack("bench-streaming-") as settings:
        figures = run(settings, settings_stack(settings).state_dir, args.quick)
    print(report(figures))
    write_section("streaming", {"quick": args.quick, **figures}, load_at_start=load_at_start)
    return 0


if __name__ == "__main__":
    sys.exit(main())
