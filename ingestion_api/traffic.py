"""`pinterest emulate`: post generated triples to the API like a population of users.

One thread generates the events in a fixed order (deterministic for a seed) and paces them at
`rate` events/s; `concurrency` worker threads post them (one event per request, or batches of
`batch_size` per type) and retry 502/503/504, timeouts and connection errors with exponential
backoff, honouring Retry-After. Every event carries a client id of its own (the `Idempotency-Key`
header, or the batch element's envelope), and a retry sends the same id again: the platform
keeps the first copy that reached Kafka. In a batch, only the events not acknowledged are retried.

The ledger (JSON lines, optional) has one line per event tried, written when it is settled:
`client_event_id`, `event_type`, `outcome` (`acknowledged`: a 2xx; `rejected`: a 4xx, never
in the event topics; `failed`: no answer after `max_retries`, so it may or may not be in Kafka),
`status` (the last HTTP status, null after a timeout or connection error), `attempts`, and for
an acknowledged event its `event_id`, `topic`, `partition` and `offset`.
"""

from __future__ import annotations

import json
import queue
import random
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import requests

from .emulator import generate_triples
from .invalid_events import encode, make_invalid, make_quarantinable

RETRY_STATUSES = (502, 503, 504)
BACKOFF_S = (0.2, 5.0)  # first and largest pause between retries
HTTP_TIMEOUT_S = (5.0, 60.0)  # connect, read
PROGRESS_INTERVAL_S = 1.0


@dataclass(frozen=True)
class EmulatorOptions:
    url: str = "http://127.0.0.1:8000"
    count: int | None = 100  # triples; None: until `duration` ends
    duration: float | None = None  # seconds
    rate: float | None = None  # events per second; None: as fast as the API answers
    concurrency: int = 4
    batch_size: int = 1  # 1: the single-event endpoints
    seed: int = 100
    replay_share: float = 0.1
    invalid_share: float = 0.05
    quarantine_share: float = 0.0  # valid for the API, but breaking a cleaning rule: quarantined later
    max_retries: int = 8
    api_key: str | None = None
    ledger: Path | None = None


@dataclass
class Summary:
    sent: int = 0  # events answered (accepted + rejected) or given up (failed)
    accepted: int = 0
    rejected: int = 0
    intended_invalid: int = 0  # of the rejected, those the emulator broke on purpose
    intended_quarantine: int = 0  # of the accepted, those built to break a cleaning rule
    unexpected: int = 0  # valid events rejected, or invalid events accepted
    failed: int = 0  # still unacknowledged after max_retries
    retries: int = 0  # requests sent again
    retried_events: int = 0  # events sent more than once (same client id each time)
    elapsed_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def rate(self) -> float:
        return self.sent / self.elapsed_s if self.elapsed_s else 0.0

    def line(self) -> str:
        return (
            f"{self.sent} events in {self.elapsed_s:.1f}s ({self.rate:.1f} events/s): "
            f"{self.accepted} accepted ({self.intended_quarantine} built for the quarantine), "
            f"{self.rejected} rejected ({self.intended_invalid} intended), "
            f"{self.failed} failed, {self.retries} retries ({self.retried_events} events retried), "
            f"{self.unexpected} unexpected"
        )


@dataclass(frozen=True)
class Post:
    """One request: `bodies` of one event type (one body unless batched)."""

    event_type: str
    bodies: list[bytes]
    expected: list[int]  # 202 for a valid event, else the status it must get
    quarantinable: list[bool] = field(default_factory=list)  # accepted, but to be quarantined by cleaning
    client_ids: list[str] = field(default_factory=list)  # each event's Idempotency-Key
    attempts: list[int] = field(default_factory=list)  # requests that carried each event so far
    last_status: list[int | None] = field(default_factory=list)  # None: no answer (timeout, connection)


def generate_posts(options: EmulatorOptions) -> Iterator[Post]:
    """The requests of a run, in order; invalid events replace `invalid_share` of the events, and
    events that break a cleaning rule `quarantine_share` of them."""
    rng = random.Random(f"invalid:{options.seed}")
    quarantine_rng = random.Random(f"quarantine:{options.seed}")
    batching = options.batch_size > 1
    pending: dict[str, Post] = {}
    for triple in generate_triples(options.count, options.seed, replay_share=options.replay_share):
        for event_type, event in triple.events():
            quarantinable = False
            if rng.random() < options.invalid_share:
                invalid = make_invalid(event_type, event, rng, allow_malformed=not batching)
                body, expected = invalid.body, invalid.expected_status
            elif options.quarantine_share and quarantine_rng.random() < options.quarantine_share:
                body, expected, quarantinable = make_quarantinable(event_type, event, quarantine_rng).body, 202, True
            else:
                body, expected = encode(event), 202
            post = pending.setdefault(event_type, Post(event_type, [], []))
            post.bodies.append(body)
            post.expected.append(expected)
            post.quarantinable.append(quarantinable)
            post.client_ids.append(f"emu-{uuid.uuid4()}")
            post.attempts.append(0)
            post.last_status.append(None)
            if len(post.bodies) >= options.batch_size:
                yield pending.pop(event_type)
    yield from pending.values()


ACKNOWLEDGED, REJECTED, FAILED = "acknowledged", "rejected", "failed"
_ACKNOWLEDGED_FIELDS = ("event_id", "topic", "partition", "offset")


class _Ledger:
    def __init__(self, path: Path | None):
        self._file: IO[str] | None = path.open("a", encoding="utf-8") if path else None
        self._lock = threading.Lock()

    def write(self, post: Post, position: int, outcome: str, status: int | None, answer: dict) -> None:
        if self._file is None:
            return
        entry = {
            "client_event_id": post.client_ids[position],
            "event_type": post.event_type,
            "outcome": outcome,
            "status": status,
            "attempts": post.attempts[position],
        }
        if outcome == ACKNOWLEDGED:
            entry.update({key: answer[key] for key in _ACKNOWLEDGED_FIELDS})
        line = json.dumps(entry)
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


class Emulator:
    def __init__(self, options: EmulatorOptions, progress: IO[str] | None = sys.stderr):
        self.options = options
        self.summary = Summary()
        self._progress = progress
        self._ledger = _Ledger(options.ledger)
        self._queue: queue.Queue[Post | None] = queue.Queue(maxsize=options.concurrency * 2)
        self._headers = {"Content-Type": "application/json"}
        if options.api_key:
            self._headers["X-API-Key"] = options.api_key

    def run(self) -> Summary:
        start = time.monotonic()
        workers = [
            threading.Thread(target=self._work, name=f"emulate-{i}", daemon=True)
            for i in range(self.options.concurrency)
        ]
        for worker in workers:
            worker.start()
        done = threading.Event()
        reporter = threading.Thread(target=self._report, args=(start, done), daemon=True)
        reporter.start()
        try:
            self._feed(start)
        finally:
            for _ in workers:
                self._queue.put(None)
            for worker in workers:
                worker.join()
            done.set()
            reporter.join()
            self._ledger.close()
        self.summary.elapsed_s = time.monotonic() - start
        return self.summary

    def _feed(self, start: float) -> None:
        """Queue the posts, paced at `rate` events/s, until `count` or `duration` is reached."""
        scheduled = 0
        for post in generate_posts(self.options):
            now = time.monotonic()
            if self.options.duration is not None and now - start >= self.options.duration:
                return
            if self.options.rate:
                time.sleep(max(0.0, start + scheduled / self.options.rate - now))
            self._queue.put(post)
            scheduled += len(post.bodies)

    def _work(self) -> None:
        session = requests.Session()
        try:
            while (post := self._queue.get()) is not None:
                self._send(session, post)
        finally:
            session.close()

    def _send(self, session: requests.Session, post: Post) -> None:
        suffix = "batch" if self.options.batch_size > 1 else ""
        url = f"{self.options.url.rstrip('/')}/{post.event_type}/{suffix}"
        positions = list(range(len(post.bodies)))  # not answered yet
        for attempt in range(self.options.max_retries + 1):
            if attempt:
                with self.summary.lock:
                    self.summary.retries += 1
            retry_after = self._attempt(session, url, post, positions)
            if not positions:
                return
            if attempt < self.options.max_retries:
                pause = min(BACKOFF_S[1], BACKOFF_S[0] * 2**attempt) * random.uniform(0.5, 1.0)
                time.sleep(max(pause, min(retry_after, BACKOFF_S[1])))
        with self.summary.lock:
            self.summary.failed += len(positions)
            self.summary.sent += len(positions)
            self.summary.retried_events += sum(post.attempts[p] > 1 for p in positions)
        for position in positions:
            self._ledger.write(post, position, FAILED, post.last_status[position], {})

    def _attempt(self, session: requests.Session, url: str, post: Post, positions: list[int]) -> float:
        """Post the unanswered events; removes the answered ones from `positions`; returns Retry-After."""
        batch = self.options.batch_size > 1
        headers = self._headers
        if batch:
            body = b"[" + b",".join(_named(post.client_ids[p], post.bodies[p]) for p in positions) + b"]"
        else:
            body, headers = post.bodies[positions[0]], {**headers, "Idempotency-Key": post.client_ids[positions[0]]}
        for position in positions:
            post.attempts[position] += 1
        try:
            response = session.post(url, data=body, headers=headers, timeout=HTTP_TIMEOUT_S)
        except requests.RequestException:
            for position in positions:
                post.last_status[position] = None
            return 0.0
        answer = _json(response)
        if batch and isinstance(answer.get("results"), list):  # per event, in the order posted
            statuses = [(result["status"], result) for result in answer["results"]]
        else:  # a single event, or a batch answered as a whole
            statuses = [(response.status_code, answer)] * len(positions)
        retry = []
        for position, (status, result) in zip(list(positions), statuses):
            post.last_status[position] = status
            if status in RETRY_STATUSES:
                retry.append(position)
            else:
                self._record(post, position, status, result)
        positions[:] = retry
        return float(response.headers.get("Retry-After", 0) or 0)

    def _record(self, post: Post, position: int, status: int, answer: dict) -> None:
        expected = post.expected[position]
        accepted = 200 <= status < 300
        self._ledger.write(post, position, ACKNOWLEDGED if accepted else REJECTED, status, answer)
        with self.summary.lock:
            self.summary.retried_events += post.attempts[position] > 1
            self.summary.sent += 1
            self.summary.accepted += accepted
            self.summary.rejected += not accepted
            self.summary.intended_invalid += not accepted and expected != 202
            self.summary.intended_quarantine += accepted and post.quarantinable[position]
            self.summary.unexpected += status != expected

    def _report(self, start: float, done: threading.Event) -> None:
        if self._progress is None:
            return
        interactive = self._progress.isatty()
        last_sent, last_time = 0, start
        while not done.wait(PROGRESS_INTERVAL_S):
            now = time.monotonic()
            s = self.summary
            live = (s.sent - last_sent) / (now - last_time)
            last_sent, last_time = s.sent, now
            line = (
                f"[emulate] {now - start:6.0f}s  {s.sent} sent  {live:7.1f} events/s  "
                f"accepted {s.accepted}  rejected {s.rejected}  retries {s.retries}  failed {s.failed}"
            )
            self._progress.write(("\r" + line) if interactive else (line + "\n"))
            self._progress.flush()
        if interactive:
            self._progress.write("\n")


def _named(client_event_id: str, body: bytes) -> bytes:
    """A batch element that names its event (the API writes `body` to Kafka as it is)."""
    return b'{"idempotency_key":' + json.dumps(client_event_id).encode() + b',"event":' + body + b"}"


def _json(response: requests.Response) -> dict:
    try:
        answer = response.json()
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def write_events(options: EmulatorOptions, output: IO[str]) -> int:
    """`--output`: the events as JSON lines instead of posting them; returns how many."""
    written = 0
    for post in generate_posts(options):
        for body, expected in zip(post.bodies, post.expected):
            line = {"event_type": post.event_type, "valid": expected == 202}
            try:
                line["event"] = json.loads(body)
            except ValueError:
                line["raw"] = body.decode("utf-8", errors="replace")
            output.write(json.dumps(line, ensure_ascii=False) + "\n")
            written += 1
    return written
