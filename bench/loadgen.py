"""A small HTTP/1.1 load generator (asyncio + uvloop, keep-alive connections), run as a child
process so that its CPU use does not share the benchmark's GIL.

    python -m bench.loadgen --url http://127.0.0.1:8000/pin/ --bodies FILE --duration 20 \
        [--connections 16 | --rate 1000 --connections 64] [--events-per-request 1]

Closed loop (no --rate): every connection posts back to back: the highest throughput.
Open loop (--rate R): requests are scheduled at R per second whatever the answers; a request's
latency runs from its scheduled moment (waiting for a free connection counts), so a slow
server cannot hide behind a slow client (no coordinated omission).
Prints one JSON object: requests, events, statuses, seconds, events/s, latency percentiles (ms).
With --idempotency-prefix P, request n carries `Idempotency-Key: P-n` (n counts every request
sent, from 0); with --record FILE, one line per request answered, `n status seconds` (the
moment of its answer on the system-wide monotonic clock; status 0: no answer).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
from urllib.parse import urlsplit


def _percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile of sorted, non-empty `values`."""
    return values[min(len(values) - 1, max(0, math.ceil(share * len(values)) - 1))]


class Client:
    def __init__(self, url: str, bodies: list[bytes], api_key: str | None, idempotency_prefix: str | None = None):
        parts = urlsplit(url)
        self.host, self.port, self.path = parts.hostname, parts.port or 80, parts.path or "/"
        self.bodies = bodies
        self.next_body = 0
        extra = f"X-API-Key: {api_key}\r\n" if api_key else ""
        self.head = (
            f"POST {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: application/json\r\n{extra}"
        ).encode()
        self.idempotency_prefix = idempotency_prefix
        self.sent = 0
        self.answers: list[tuple[int, int, float]] = []  # (request number, status, answered at)
        self.statuses: dict[int, int] = {}
        self.errors = 0
        self.latencies: list[float] = []
        self.recording = False
        self.requests = 0
        self.bytes_sent = 0

    def body(self) -> bytes:
        body = self.bodies[self.next_body % len(self.bodies)]
        self.next_body += 1
        return body

    async def connect(self):
        return await asyncio.open_connection(self.host, self.port)

    async def post(self, conn, started: float):
        """One request on `conn` (reconnecting once if the server closed it); returns the connection."""
        body = self.body()
        number, self.sent = self.sent, self.sent + 1
        key = f"Idempotency-Key: {self.idempotency_prefix}-{number}\r\n".encode() if self.idempotency_prefix else b""
        request = self.head + key + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        for attempt in (0, 1):
            if conn is None:
                conn = await self.connect()
            reader, writer = conn
            try:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                length = 0
                close = False
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        length = int(value)
                    elif name == b"connection" and value.strip().lower() == b"close":
                        close = True
                if length:
                    await reader.readexactly(length)
                if close:
                    writer.close()
                    conn = None
                break
            except (asyncio.IncompleteReadError, ConnectionError, OSError):
                writer.close()
                conn = None
                if attempt:
                    if self.recording:
                        self.errors += 1
                    self.answers.append((number, 0, time.monotonic()))
                    return conn
        self.answers.append((number, status, time.monotonic()))
        if self.recording:
            self.latencies.append(time.perf_counter() - started)
            self.statuses[status] = self.statuses.get(status, 0) + 1
            self.requests += 1
            self.bytes_sent += len(body)
        return conn


async def closed_loop(client: Client, connections: int, warmup: float, duration: float) -> float:
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + duration

    async def worker():
        conn = None
        while True:
            now = time.perf_counter()
            if now >= stop_at:
                break
            client.recording = now >= measure_from
            conn = await client.post(conn, now)
        if conn is not None:
            conn[1].close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return time.perf_counter() - measure_from


async def open_loop(client: Client, connections: int, rate: float, warmup: float, duration: float) -> float:
    queue: asyncio.Queue = asyncio.Queue()
    start = time.perf_counter()
    measure_from = start + warmup
    total = int(rate * (warmup + duration))

    async def worker():
        conn = None
        while (scheduled := await queue.get()) is not None:
            client.recording = scheduled >= measure_from
            conn = await client.post(conn, scheduled)
        if conn is not None:
            conn[1].close()

    workers = [asyncio.create_task(worker()) for _ in range(connections)]
    for i in range(total):
        moment = start + i / rate
        delay = moment - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait(moment)
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    return max(duration, time.perf_counter() - measure_from)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__ and __doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--bodies", required=True, help="a file with one request body per line")
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rate", type=float, default=None, help="requests per second (open loop)")
    parser.add_argument("--events-per-request", type=int, default=1)
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--idempotency-prefix", default=None, help="name request n's event P-n")
    parser.add_argument("--record", default=None, help="write `n status seconds` per request answered here")
    args = parser.parse_args(argv)

    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    with open(args.bodies, "rb") as lines:
        bodies = [line.rstrip(b"\n") for line in lines if line.strip()]
    client = Client(args.url, bodies, args.api_key, args.idempotency_prefix)
    if args.rate:
        seconds = asyncio.run(open_loop(client, args.connections, args.rate, args.warmup, args.duration))
    else:
        seconds = asyncio.run(closed_loop(client, args.connections, args.warmup, args.duration))
    if args.record:
        with open(args.record, "w") as record:
            record.writelines(f"{n} {status} {at:.6f}\n" for n, status, at in client.answers)
    latencies = sorted(client.latencies)
    ok = sum(n for status, n in client.statuses.items() if 200 <= status < 300)
    result = {
        "mode": "open" if args.rate else "closed",
        "offered_requests_per_s": args.rate,
        "connections": args.connections,
        "seconds": round(seconds, 3),
        "requests": client.requests,
        "ok_requests": ok,
        "statuses": {str(k): v for k, v in sorted(client.statuses.items())},
        "errors": client.errors,
        "events": ok * args.events_per_request,
        "events_per_s": round(ok * args.events_per_request / seconds, 1),
        "requests_per_s": round(client.requests / seconds, 1),
        "mb_per_s": round(client.bytes_sent / seconds / 1e6, 3),
        "latency_ms": {
            name: (round(_percentile(latencies, share) * 1000, 2) if latencies else None)
            for name, share in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0))
        },
    }
    json.dump(result, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
