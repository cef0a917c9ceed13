"""End-to-end latency of the real-time pipeline, per event: its own 2xx -> its own row visible in
PostgreSQL.

    .venv/bin/python -m bench.streaming_latency [--rate 1000 --duration 60]   # the stack of `make up`

Every event is posted on its own to the single-event endpoints (pin, geo and user, each by a
bench.loadgen child in open loop at a third of the rate), named by an Idempotency-Key; the
loadgen records the moment each answer arrived. A poller asks PostgreSQL every `poll_ms` which
of the events sent so far and not yet seen have their row (by client_event_id, unique per event
table): the poll that first finds an event's row is when it became visible. Latency = that
moment - the event's own 2xx (0 when the row was visible before the answer). An event without
a 2xx, or not visible when the wait ends, is a failure: it counts in the percentiles as
infinitely late, and a percentile that falls on a failure reads None.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from itertools import islice
from pathlib import Path

from pinterest_common.config import REPO_ROOT, Settings, get_settings
from pinterest_common.streaming_contract import EVENT_TABLES

from .common import percentile

EVENT_ORDER = ("pin", "geo", "user")
# The last visible offset per (event type, partition): the lag sweep's measure (bench.streaming).
POLL_SQL = " UNION ALL ".join(
    f"SELECT '{event_type}', p, (SELECT max(kafka_offset) FROM {table} WHERE kafka_partition = p) "
    "FROM generate_series(0, %(partitions)s - 1) AS p"
    for event_type, table in EVENT_TABLES.items()
)
PERCENTILES = (("p50", 0.5), ("p95", 0.95), ("p99", 0.99), ("max", 1.0))


def per_event_latency(sent: int, acknowledged_at: dict[str, float], seen_at: dict[str, float]) -> dict:
    """Percentiles (ms) over all `sent` events: an acknowledged and seen event's latency is
    seen - its own 2xx (at least 0); every other event is a failure, infinitely late (None)."""
    latencies = sorted(max(0.0, seen_at[key] - at) for key, at in acknowledged_at.items() if key in seen_at)
    population = latencies + [float("inf")] * (sent - len(latencies))

    def ms(share: float) -> float | None:
        value = percentile(population, share) if population else float("inf")
        return None if value == float("inf") else round(value * 1000, 1)

    unseen = sum(key not in seen_at for key in acknowledged_at)
    return {
        "sent": sent,
        "acknowledged": len(acknowledged_at),
        "seen": len(latencies),
        "unseen": unseen,
        "failures": sent - len(latencies),
        "latency_ms": {name: ms(share) for name, share in PERCENTILES},
    }


def read_answers(path: Path, prefix: str) -> tuple[dict[str, float], int]:
    """A loadgen --record file: ({client id: moment of its 2xx}, requests answered otherwise)."""
    acknowledged, other = {}, 0
    for line in path.read_text().splitlines():
        number, status, at = line.split()
        if 200 <= int(status) < 300:
            acknowledged[f"{prefix}-{number}"] = float(at)
        else:
            other += 1
    return acknowledged, other


class Watcher:
    """Polls PostgreSQL for the rows of events sent and not yet seen, noting when each appears."""

    def __init__(
        self,
        dsn: str,
        prefixes: dict[str, str],
        rate_each: float,
        total_each: int,
        interval_s: float,
        batch: int = 20_000,
    ):
        self.dsn, self.prefixes, self.rate_each, self.total_each = dsn, prefixes, rate_each, total_each
        self.interval_s, self.batch = interval_s, batch
        self.unseen: dict[str, dict[str, None]] = {t: {} for t in prefixes}  # insertion-ordered sets
        self.added = dict.fromkeys(prefixes, 0)
        self.ignored: set[str] = set()
        self.seen_at: dict[str, float] = {}
        self.lock = threading.Lock()
        self.started = time.monotonic()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="latency-watcher", daemon=True)

    def pending(self) -> int:
        """Events not seen yet, counting those not yet on the watch list."""
        with self.lock:
            return sum(len(unseen) + self.total_each - self.added[t] for t, unseen in self.unseen.items())

    def forget(self, keys) -> None:
        """Stop looking for `keys` (events never acknowledged: no row will come)."""
        with self.lock:
            self.ignored.update(keys)
            for unseen in self.unseen.values():
                for key in keys:
                    unseen.pop(key, None)

    def _wanted(self, event_type: str) -> list[str]:
        """The oldest unseen events of `event_type`, after adding those sent by now (the open
        loop's schedule from the watcher's start, which precedes the senders')."""
        due = min(self.total_each, int((time.monotonic() - self.started) * self.rate_each) + 1)
        prefix, unseen = self.prefixes[event_type], self.unseen[event_type]
        with self.lock:
            for n in range(self.added[event_type], due):
                if (key := f"{prefix}-{n}") not in self.ignored:
                    unseen[key] = None
            self.added[event_type] = max(self.added[event_type], due)
            return list(islice(unseen, self.batch))

    def _run(self) -> None:
        import psycopg2

        conn = psycopg2.connect(self.dsn, application_name="streaming-latency-bench")
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                while not self.stop.wait(self.interval_s):
                    for event_type in self.prefixes:
                        wanted = self._wanted(event_type)
                        if not wanted:
                            continue
                        cur.execute(
                            f"SELECT client_event_id FROM {EVENT_TABLES[event_type]} WHERE client_event_id = ANY(%s)",
                            (wanted,),
                        )
                        now = time.monotonic()
                        with self.lock:
                            for (key,) in cur.fetchall():
                                self.unseen[event_type].pop(key, None)
                                self.seen_at[key] = now
        finally:
            conn.close()

    def __enter__(self) -> Watcher:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()


def _bodies(directory: Path, count: int = 3000) -> dict[str, Path]:
    from .lakegen import encode, triples

    events = list(triples(count, seed=31, pool=count))
    paths = {}
    for position, event_type in enumerate(EVENT_ORDER):
        paths[event_type] = directory / f"{event_type}.jsonl"
        paths[event_type].write_bytes(b"\n".join(encode(triple[position]) for triple in events) + b"\n")
    return paths


def latency_run(
    settings: Settings,
    rate: float,
    duration: float,
    url: str | None = None,
    poll_ms: float = 50.0,
    connections: int = 32,
    drain_timeout: float = 180.0,
) -> dict:
    """`rate` events/s for `duration` s (a third of each type), each on its own request."""
    url = url or f"http://127.0.0.1:{settings.api_port}"
    with tempfile.TemporaryDirectory(prefix="streaming-latency-") as scratch:
        return _latency_run(settings, rate, duration, url, poll_ms, connections, drain_timeout, Path(scratch))


def _latency_run(
    settings: Settings,
    rate: float,
    duration: float,
    url: str,
    poll_ms: float,
    connections: int,
    drain_timeout: float,
    work: Path,
) -> dict:
    run_id = uuid.uuid4().hex[:12]
    prefixes = {event_type: f"lat-{run_id}-{event_type}" for event_type in EVENT_ORDER}
    rate_each = rate / len(EVENT_ORDER)
    total_each = int(rate_each * duration)
    bodies = _bodies(work)
    api_key = settings.api_keys[0] if settings.api_keys else None
    children, outputs = {}, {}
    started_epoch = time.time()
    with Watcher(
        settings.pg_dsn(settings.streaming_database), prefixes, rate_each, total_each, poll_ms / 1000
    ) as watcher:
        try:
            for event_type, prefix in prefixes.items():
                cmd = [
                    sys.executable,
                    "-m",
                    "bench.loadgen",
                    "--url",
                    f"{url}/{event_type}/",
                    "--bodies",
                    str(bodies[event_type]),
                    "--duration",
                    str(duration),
                    "--warmup",
                    "0",
                    "--rate",
                    str(rate_each),
                    "--connections",
                    str(connections),
                    "--idempotency-prefix",
                    prefix,
                    "--record",
                    str(work / f"{event_type}.answers"),
                ]
                if api_key:
                    cmd += ["--api-key", api_key]
                children[event_type] = subprocess.Popen(
                    cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
                )
            for event_type, child in children.items():
                out, err = child.communicate(timeout=duration + 300)
                if child.returncode != 0:
                    raise RuntimeError(f"loadgen ({event_type}) failed: {err[-2000:]}")
                outputs[event_type] = json.loads(out.strip().splitlines()[-1])
        finally:
            for child in children.values():
                if child.poll() is None:
                    child.kill()
                    child.wait()
        sent_s = max(o["seconds"] for o in outputs.values())
        acknowledged_at, not_acknowledged = {}, 0
        for event_type, prefix in prefixes.items():
            answers, other = read_answers(work / f"{event_type}.answers", prefix)
            acknowledged_at.update(answers)
            not_acknowledged += other
        watcher.forget(
            [f"{p}-{n}" for p in prefixes.values() for n in range(total_each) if f"{p}-{n}" not in acknowledged_at]
        )
        deadline = time.monotonic() + drain_timeout
        while watcher.pending() and time.monotonic() < deadline:
            time.sleep(0.2)
    sent = total_each * len(EVENT_ORDER)
    from .streaming import batch_stats

    return {
        "offered_events_per_s": rate,
        "seconds": round(sent_s, 1),
        "achieved_events_per_s": round(len(acknowledged_at) / sent_s, 1) if sent_s else None,
        **per_event_latency(sent, acknowledged_at, watcher.seen_at),
        "not_acknowledged": sent - len(acknowledged_at),
        "answered_otherwise": not_acknowledged,
        "statuses": {t: o["statuses"] for t, o in outputs.items()},
        "poll_ms": poll_ms,
        "connections_per_type": connections,
        "drain_timeout_s": drain_timeout,
        "micro_batches": batch_stats(settings.pg_dsn(settings.streaming_database), started_epoch),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__ and __doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000.0, help="events per second (default: %(default)s)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of traffic (default: %(default)s)")
    parser.add_argument("--poll-ms", type=float, default=50.0, help="PostgreSQL poll interval (default: %(default)s)")
    parser.add_argument("--drain-timeout", type=float, default=120.0, help="longest wait for the last rows (s)")
    args = parser.parse_args(argv)
    result = latency_run(
        get_settings(), args.rate, args.duration, poll_ms=args.poll_ms, drain_timeout=args.drain_timeout
    )
    print(json.dumps({k: v for k, v in result.items() if k != "micro_batches"}, indent=1))
    return 0 if result["failures"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
