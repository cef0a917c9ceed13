"""Streaming benchmarks: end-to-end latency per event, its own 2xx -> its own row visible in
PostgreSQL, at a steady 1,000 events/s (bench/streaming_latency.py), and the highest produced
rate at which the streaming job's consumer lag stays bounded.

    python -m bench.streaming [--quick]     # on a fresh stack of its own, streaming job included

Latency: every event posted on its own with an Idempotency-Key, its row looked up by
client_event_id (see bench/streaming_latency.py); events never acknowledged or never seen count
as failures. Lag sweep: events produced straight into Kafka at each rate (the API is not the
subject there, and on a small machine it would cap the rate first); every second the lag =
Kafka's end offsets - (the highest offset visible in PostgreSQL + 1), summed over the partitions
of the three topics. Everything is judged at the rate actually produced: the lag is bounded when
its trend over the second half of the run grows by less than 5% of that rate (it saw-tooths with
each micro-batch) and it drains within 60 s once the traffic stops.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

from pinterest_common.config import Settings
from pinterest_common.kafka_security import KafkaConnection
from pinterest_common.schema import EVENT_TYPES
from pinterest_common.streaming_contract import EVENT_TABLES

from .common import say, table
from .streaming_latency import POLL_SQL, latency_run

# The sweep's offered rates; the last exceeds the 5,000/s goal so that a produced rate can reach it.
RATES = (1000, 2500, 5000, 6000)
LATENCY_GOAL_MS = 2000
LAG_GOAL_RATE = 5000


def batch_stats(dsn: str, since_epoch: float) -> dict:
    """The streaming job's micro-batches committed since `since_epoch` (streaming_batches):
    how many, how far apart, how many events each, and the events per second they applied."""
    import psycopg2

    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT extract(epoch FROM committed_at), pin_events + geo_events + user_events "
                "FROM streaming_batches WHERE committed_at >= to_timestamp(%s) ORDER BY committed_at",
                (since_epoch,),
            )
            rows = [(float(t), int(n)) for t, n in cur.fetchall()]
    finally:
        conn.close()
    if len(rows) < 2:
        return {"batches": len(rows)}
    gaps = [b[0] - a[0] for a, b in zip(rows, rows[1:])]
    events = sum(n for _, n in rows[1:])
    span = rows[-1][0] - rows[0][0]
    return {
        "batches": len(rows),
        "seconds_between_batches_mean": round(sum(gaps) / len(gaps), 2),
        "seconds_between_batches_max": round(max(gaps), 2),
        "events_per_batch_mean": round(sum(n for _, n in rows) / len(rows), 1),
        "events_per_batch_max": max(n for _, n in rows),
        "applied_events_per_s": round(events / span, 1) if span else None,
    }


# The index POLL_SQL needs, which the job's tables no longer have (no query of theirs needs it):
# created by the sweep, at the cost of the job's inserts during it.
OFFSET_INDEXES = [
    f"CREATE INDEX IF NOT EXISTS bench_{table}_offset ON {table} (kafka_partition, kafka_offset)"
    for table in EVENT_TABLES.values()
]


def _visible(cur, partitions: int) -> dict[tuple[str, int], int]:
    cur.execute(POLL_SQL, {"partitions": partitions})
    return {(event_type, partition): offset for event_type, partition, offset in cur.fetchall() if offset is not None}


def _ends(consumer) -> dict[tuple[str, int], int]:
    from pinterest_common import kafka_io

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


def lag_bounded(trend: float, produced_rate: float, caught_up_after_s: float | None) -> bool:
    """Bounded: the lag's trend stays under 5% of the rate actually produced, and it drained."""
    return produced_rate > 0 and trend < 0.05 * produced_rate and caught_up_after_s is not None


def highest_bounded_rate(sweep: list[dict]) -> float | None:
    """The highest produced rate (not the offered one) whose lag stayed bounded."""
    return max((r["produced_events_per_s"] for r in sweep if r["bounded"]), default=None)


def goals(latency: dict, sweep: list[dict]) -> dict:
    p99 = latency["latency_ms"]["p99"]
    highest = highest_bounded_rate(sweep)
    return {
        f"streaming p99 < {LATENCY_GOAL_MS / 1000:g} s at 1,000 events/s, per event, none unseen": {
            "value": {"p99_ms": p99, "unseen": latency["unseen"], "failures": latency["failures"]},
            "target": f"p99 < {LATENCY_GOAL_MS} ms (failures count as infinitely late), 0 unseen",
            "met": p99 is not None and p99 < LATENCY_GOAL_MS and latency["unseen"] == 0,
        },
        f"bounded lag at >= {LAG_GOAL_RATE:,} events/s produced": {
            "value": highest,
            "target": f">= {LAG_GOAL_RATE} produced/s bounded",
            "met": highest is not None and highest >= LAG_GOAL_RATE,
        },
    }


def _produce_paced(kafka: KafkaConnection, rate: float, duration: float, start_at: float, produced) -> None:
    """One producer process: emulator events straight into the event topics at `rate`/s."""
    from kafka import KafkaProducer

    from pinterest_common.records import RecordMetadata
    from pinterest_common.schema import record_key

    from .lakegen import EVENT_ORDER, encode, triples

    pool = [
        (EVENT_TYPES[name].topic, name, encode(event), record_key(EVENT_TYPES[name], event))
        for triple in triples(3000, seed=77, pool=3000)
        for name, event in zip(EVENT_ORDER, triple)
    ]
    producer = KafkaProducer(**kafka.client_config(), acks="all", linger_ms=5, batch_size=256 * 1024)
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

    from pinterest_common import kafka_io

    from .lakegen import _pool

    _pool(3000, 77)  # the producers' pool, generated (and cached) before they start
    processes = max(1, math.ceil(rate / 1000))
    start_at = time.time() + 3.0
    context = multiprocessing.get_context("spawn")
    counters = [context.Value("q", 0) for _ in range(processes)]
    workers = [
        context.Process(
            target=_produce_paced,
            args=(settings.kafka, rate / processes, duration, start_at, counter),
            daemon=True,
        )
        for counter in counters
    ]
    consumer = kafka_io.open_consumer(settings.kafka, client_id="bench-streaming-lag")
    conn = psycopg2.connect(settings.pg_dsn(settings.streaming_database))
    conn.autocommit = True
    cur = conn.cursor()
    for statement in OFFSET_INDEXES:
        cur.execute(statement)
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
                samples.append(
                    (round(time.monotonic() - start, 1), lag(consumer, cur, settings.topic_partitions, floor))
                )
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
    produced_rate = round(sent / sent_s, 1)
    return {
        "offered_events_per_s": rate,
        "producer_processes": processes,
        "seconds": round(sent_s, 1),
        "produced": sent,
        "produced_events_per_s": produced_rate,
        "lag_max": max((v for _, v in during), default=0),
        "lag_last": during[-1][1] if during else None,
        "lag_trend_events_per_s": round(slope, 1),
        "caught_up_after_s": caught_up_s,
        "bounded": lag_bounded(slope, produced_rate, caught_up_s),
        "micro_batches": batch_stats(settings.pg_dsn(settings.streaming_database), started_epoch),
        "lag_samples": during,
    }


def run(settings: Settings, state_dir: Path, quick: bool = False, sampler=None) -> dict:
    latency_s = 30.0 if quick else 300.0
    sweep_s = 20.0 if quick else 60.0
    rates = RATES[:2] if quick else RATES
    say(f"streaming: latency per event at 1,000 events/s through the API for {latency_s:.0f}s ...")
    latency = latency_run(settings, 1000, latency_s)
    say(
        f"  p50 {latency['latency_ms']['p50']} ms, p95 {latency['latency_ms']['p95']} ms, "
        f"p99 {latency['latency_ms']['p99']} ms ({latency['sent']:,} sent, {latency['acknowledged']:,} acknowledged, "
        f"{latency['seen']:,} seen, {latency['unseen']:,} acknowledged but unseen)"
    )
    sweep = []
    for rate in rates:
        say(f"streaming: lag at {rate:,} events/s produced straight into Kafka for {sweep_s:.0f}s ...")
        result = lag_run(settings, rate, sweep_s)
        sweep.append(result)
        say(
            f"  produced {result['produced_events_per_s']:,.0f}/s; lag max {result['lag_max']:,}, trend "
            f"{result['lag_trend_events_per_s']:+,.0f}/s, caught up after {result['caught_up_after_s']}s: "
            f"{'bounded' if result['bounded'] else 'NOT bounded'}"
        )
    figures = {
        "settings": {
            "trigger_seconds": settings.streaming_trigger_seconds,
            "max_offsets_per_trigger": settings.streaming_max_offsets_per_trigger,
            "spark_master": settings.spark_master,
            "driver_memory": "512m (the stack's streaming job)",
            "latency_seconds": latency_s,
            "sweep_seconds": sweep_s,
        },
        "latency_1000": latency,
        "lag_sweep": sweep,
        "highest_bounded_rate": highest_bounded_rate(sweep),
        "goals": goals(latency, sweep),
    }
    return figures


def report(figures: dict) -> str:
    lat = figures["latency_1000"]
    text = table(
        "Streaming: each event's own 2xx -> its row visible in PostgreSQL (failures: infinitely late, '-')",
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
                lat["sent"],
                lat["acknowledged"],
                lat["seen"],
                lat["unseen"],
                *(
                    float("nan") if lat["latency_ms"][p] is None else lat["latency_ms"][p]
                    for p in ("p50", "p95", "p99", "max")
                ),
            )
        ],
    )
    text += "\n" + table(
        "Streaming: consumer lag by rate (events produced straight into Kafka)",
        ["offered/s", "produced/s", "lag max", "lag trend /s", "caught up s", "bounded"],
        [
            (
                r["offered_events_per_s"],
                r["produced_events_per_s"],
                r["lag_max"],
                r["lag_trend_events_per_s"],
                "-" if r["caught_up_after_s"] is None else r["caught_up_after_s"],
                "yes" if r["bounded"] else "NO",
            )
            for r in figures["lag_sweep"]
        ],
    )
    return text


def main(argv: list[str] | None = None) -> int:
    from devstack.fresh import fresh_stack, settings_stack

    from .common import handle_sigterm, load_average, write_section

    handle_sigterm()
    load_at_start = load_average()
    parser = argparse.ArgumentParser(description=__doc__ and __doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="30 s of latency, two rates of 20 s")
    args = parser.parse_args(argv)
    with fresh_stack("bench-streaming-") as settings:
        figures = run(settings, settings_stack(settings).state_dir, args.quick)
    print(report(figures))
    write_section("streaming", {"quick": args.quick, **figures}, load_at_start=load_at_start)
    return 0


if __name__ == "__main__":
    sys.exit(main())
