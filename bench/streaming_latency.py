"""End-to-end latency of the real-time pipeline: the API's 2xx -> the row visible in PostgreSQL.

    .venv/bin/python bench/streaming_latency.py                   # 1,000 events/s for 60 s
    .venv/bin/python bench/streaming_latency.py --duration 120 --rate 500

Posts emulator triples (ingestion_api.emulator) to the batch endpoints of the running API at a
steady rate, and notes for every acknowledged event the moment its 2xx arrived. A poller asks
PostgreSQL every `--poll-ms` for the highest Kafka offset per partition of each event table: the
streaming job commits each partition's offsets in order, so an event is visible once its offset
is at most that. Latency = the poll that first saw it - its 2xx (resolution: the poll interval;
an event already visible when its 2xx arrived counts 0). At the end every acknowledged event_id
is looked up, and p50/p95/p99 are printed. Uses the settings of pinterest_common.config (the
stack of `make up` by default) and needs the streaming job running.
"""

from __future__ import annotations

import argparse
import heapq
import math
import queue
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field

import psycopg2
import requests

from ingestion_api.traffic import EmulatorOptions, Post, generate_posts
from pinterest_common.config import get_settings
from streaming.ddl import EVENT_TABLES

POLL_SQL = " UNION ALL ".join(
    f"SELECT '{event_type}', p, (SELECT max(kafka_offset) FROM {table} WHERE kafka_partition = p) "
    "FROM generate_series(0, %(partitions)s - 1) AS p"
    for event_type, table in EVENT_TABLES.items()
)


@dataclass
class Visibility:
    """Acknowledged events waiting to be seen, per (event type, partition), by offset."""

    waiting: dict[tuple[str, int], list[tuple[int, float]]] = field(default_factory=lambda: defaultdict(list))
    visible_up_to: dict[tuple[str, int], int] = field(default_factory=dict)
    latencies_s: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def acknowledged(self, event_type: str, partition: int, offset: int, at: float) -> None:
        key = (event_type, partition)
        with self.lock:
            if offset <= self.visible_up_to.get(key, -1):
                self.latencies_s.append(0.0)
            else:
                heapq.heappush(self.waiting[key], (offset, at))

    def seen(self, event_type: str, partition: int, max_offset: int, at: float) -> None:
        key = (event_type, partition)
        with self.lock:
            self.visible_up_to[key] = max_offset
            heap = self.waiting[key]
            while heap and heap[0][0] <= max_offset:
                self.latencies_s.append(max(0.0, at - heapq.heappop(heap)[1]))

    def pending(self) -> int:
        with self.lock:
            return sum(len(heap) for heap in self.waiting.values())


def poll(dsn: str, partitions: int, visibility: Visibility, interval_s: float, stop: threading.Event) -> None:
    conn = psycopg2.connect(dsn, application_name="streaming-latency-bench")
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            while not stop.wait(interval_s):
                cur.execute(POLL_SQL, {"partitions": partitions})
                now = time.monotonic()
                for event_type, partition, max_offset in cur.fetchall():
                    if max_offset is not None:
                        visibility.seen(event_type, partition, max_offset, now)
    finally:
        conn.close()


def send(url: str, headers: dict, posts: queue.Queue, visibility: Visibility, acknowledged: list, failures: list) -> None:
    session = requests.Session()
    while (post := posts.get()) is not None:
        body = b"[" + b",".join(post.bodies) + b"]"
        try:
            response = session.post(f"{url}/{post.event_type}/batch", data=body, headers=headers, timeout=(5, 60))
            results = response.json().get("results", [])
        except (requests.RequestException, ValueError) as exc:
            failures.append(str(exc))
            continue
        at = time.monotonic()
        for result in results:
            if result.get("status") == 202:
                visibility.acknowledged(post.event_type, result["partition"], result["offset"], at)
                acknowledged.append((post.event_type, result["event_id"]))
            else:
                failures.append(str(result))


def missing_events(dsn: str, acknowledged: list[tuple[str, str]]) -> int:
    by_type = defaultdict(list)
    for event_type, event_id in acknowledged:
        by_type[event_type].append(event_id)
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            found = 0
            for event_type, ids in by_type.items():
                cur.execute(f"SELECT count(*) FROM {EVENT_TABLES[event_type]} WHERE event_id = ANY(%s)", (ids,))
                found += cur.fetchone()[0]
    finally:
        conn.close()
    return len(acknowledged) - found


def percentile(sorted_values: list[float], share: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, math.ceil(share * len(sorted_values)) - 1)]


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=f"http://127.0.0.1:{settings.api_port}", help="the API (default: %(default)s)")
    parser.add_argument("--rate", type=float, default=1000.0, help="events per second (default: %(default)s)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of traffic (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=100, help="events per request (default: %(default)s)")
    parser.add_argument("--concurrency", type=int, default=8, help="parallel requests (default: %(default)s)")
    parser.add_argument("--poll-ms", type=float, default=20.0, help="PostgreSQL poll interval (default: %(default)s)")
    parser.add_argument("--drain-timeout", type=float, default=120.0, help="longest wait for the last rows (s)")
    parser.add_argument("--seed", type=int, default=int(time.time()), help="emulator seed (default: the time)")
    args = parser.parse_args(argv)

    total = int(args.rate * args.duration)
    options = EmulatorOptions(count=math.ceil(total / 3), batch_size=args.batch_size, seed=args.seed, invalid_share=0.0)
    requests_planned: list[Post] = list(generate_posts(options))
    headers = {"Content-Type": "application/json"}
    if settings.api_keys:
        headers["X-API-Key"] = settings.api_keys[0]
    dsn = settings.pg_dsn(settings.streaming_database)

    visibility, acknowledged, failures = Visibility(), [], []
    stop_polling = threading.Event()
    poller = threading.Thread(target=poll, args=(dsn, settings.topic_partitions, visibility, args.poll_ms / 1000, stop_polling))
    poller.start()
    posts: queue.Queue = queue.Queue(maxsize=args.concurrency * 4)
    senders = [threading.Thread(target=send, args=(args.url.rstrip("/"), headers, posts, visibility, acknowledged, failures))
               for _ in range(args.concurrency)]
    for sender in senders:
        sender.start()

    print(f"posting {total} events at {args.rate:.0f}/s in batches of {args.batch_size} to {args.url} ...", flush=True)
    start, scheduled = time.monotonic(), 0
    for post in requests_planned:
        if scheduled >= total:
            break
        time.sleep(max(0.0, start + scheduled / args.rate - time.monotonic()))
        posts.put(post)
        scheduled += len(post.bodies)
    for _ in senders:
        posts.put(None)
    for sender in senders:
        sender.join()
    sent_s = time.monotonic() - start
    deadline = time.monotonic() + args.drain_timeout
    while visibility.pending() and time.monotonic() < deadline:
        time.sleep(0.2)
    stop_polling.set()
    poller.join()

    latencies = sorted(visibility.latencies_s)
    print(f"acknowledged {len(acknowledged)} of {scheduled} events in {sent_s:.1f}s "
          f"({len(acknowledged) / sent_s:.0f} events/s), {len(failures)} failed")
    print(f"not seen by the poller after {args.drain_timeout:.0f}s: {visibility.pending()}; "
          f"event_ids missing from PostgreSQL: {missing_events(dsn, acknowledged)}")
    if latencies:
        print("latency 2xx -> visible in PostgreSQL: " + "  ".join(
            f"p{round(share * 100)} {percentile(latencies, share) * 1000:.0f} ms" for share in (0.5, 0.95, 0.99)
        ) + f"  max {latencies[-1] * 1000:.0f} ms  (n={len(latencies)}, poll {args.poll_ms:.0f} ms)")
    return 0 if latencies and not failures and not visibility.pending() else 1


if __name__ == "__main__":
    raise SystemExit(main())
