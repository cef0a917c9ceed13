"""What every scenario uses: traffic through the API with a ledger, faults (SIGKILL, stop/start),
the batch drain as a subprocess, waiting for the streaming tables, and the reconciliation."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
import requests
from psycopg2.extensions import cursor

from ingestion_api.canonical import CANONICAL_TRIPLE
from ingestion_api.traffic import RETRY_STATUSES, Emulator, EmulatorOptions, Summary
from pinterest_common.config import REPO_ROOT, Settings

from ..demo import Progress as DemoProgress
from ..fresh import settings_stack
from ..process import _reap, pid_alive, read_pid
from ..reconcile import (
    ACKNOWLEDGED,
    FAILED,
    REJECTED,
    ClientKey,
    count_clients,
    kafka_clients,
    raw_lake_clients,
    read_client_ledger,
    streaming_clients,
)
from ..services import Service
from .report import KAFKA, RAW_LAKE, STREAMING, CleanedCheck, ScenarioResult

CATCH_UP_TIMEOUT_S = 600.0  # streaming tables / API acceptance on a busy 2-core machine
TRAFFIC_TIMEOUT_S = 900.0
DRAIN_TIMEOUT_S = 900.0
ACCOUNTING_TIMEOUT_S = 600.0
# Retries per request: the backoff reaches 5 s after 5 attempts, so about 5 minutes of outage
# before the emulator gives up on an event (the default 8 retries cover ~25 s).
EMULATOR_RETRIES = 60


class Progress(DemoProgress):
    """Timestamped progress lines: `[chaos  42s] ...`."""

    def __call__(self, message: str) -> None:
        print(f"[chaos {time.monotonic() - self.start:4.0f}s] {message}", flush=True)


@dataclass
class Context:
    """One scenario's view of the suite: the stack's settings, its directory, the options."""

    settings: Settings
    workdir: Path  # ledgers and drain logs
    say: Progress
    events: int  # events per scenario
    seed: int
    services: dict[str, Service] = field(default_factory=dict)  # beyond the fresh_stack's (scenario 2)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.api_port}"

    @property
    def api_key(self) -> str | None:
        return self.settings.api_keys[0] if self.settings.api_keys else None

    def ledger(self, number: int) -> Path:
        path = self.workdir / f"ledger-scenario-{number}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def service(self, name: str) -> Service:
        """A service of the scenario (`services`) or of the running fresh_stack()."""
        if name in self.services:
            return self.services[name]
        return next(s for s in settings_stack(self.settings).services if s.name == name)

    def ensure_healthy(self) -> None:
        """Start again whatever an earlier scenario left down (each scenario begins on a healthy stack)."""
        for service in settings_stack(self.settings).services:
            if not service.healthy():
                self.say(f"{service.name} is not healthy after the previous scenario: starting it")
                service.start()


# Traffic ---------------------------------------------------------------------------------------
class Traffic:
    """The emulator in a background thread: `events` events (in pin/geo/user triples, with the
    emulator's usual share of invalid events and replays) at `rate` events/s, batches of 10, every
    event tried appended to `ledger`. It retries 502/503/504, timeouts and connection errors with
    the event's client id."""

    def __init__(self, ctx: Context, ledger: Path, events: int, rate: float, seed: int):
        self.triples = max(1, math.ceil(events / 3))
        self.ledger = ledger
        options = EmulatorOptions(
            url=ctx.api_url,
            count=self.triples,
            rate=rate,
            concurrency=4,
            batch_size=10,
            seed=seed,
            api_key=ctx.api_key,
            ledger=ledger,
            max_retries=EMULATOR_RETRIES,
        )
        self.say = ctx.say
        self.emulator = Emulator(options, progress=None)
        self.summary: Summary | None = None
        self._thread = threading.Thread(target=self._run, name="chaos-traffic", daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        try:
            self.summary = self.emulator.run()
        except BaseException as exc:  # noqa: BLE001 - reported by wait()
            self.error = exc

    def start(self) -> Traffic:
        self._thread.start()
        return self

    @property
    def accepted(self) -> int:
        return self.emulator.summary.accepted

    def progressing(self, timeout_s: float) -> bool:
        """The API acknowledges more of this traffic within `timeout_s` (or the traffic has ended)."""
        before, deadline = self.accepted, time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.accepted > before or not self._thread.is_alive():
                return True
            time.sleep(0.5)
        return False

    def wait_accepted(self, count: int, timeout_s: float = 120.0) -> None:
        """Until the API has acknowledged `count` events of this traffic (the fault comes under load)."""
        deadline = time.monotonic() + timeout_s
        while self.accepted < count and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.2)

    def under_load(self, fault: str, result: ScenarioResult) -> None:
        """Note how much of the traffic came before `fault`; a problem if all of it did."""
        s = self.emulator.summary
        total = self.triples * 3
        result.notes.append(f"{fault} after {s.sent} of {total} events were answered")
        if not self._thread.is_alive():
            result.problems.append(f"the traffic had ended before {fault}: the fault did not come under load")

    def wait(self, timeout_s: float = TRAFFIC_TIMEOUT_S) -> Summary:
        deadline = time.monotonic() + timeout_s
        last = 0.0
        while self._thread.is_alive():
            if time.monotonic() > deadline:
                raise TimeoutError(f"the emulator did not finish within {timeout_s:.0f}s")
            if time.monotonic() - last > 15:
                s = self.emulator.summary
                self.say(f"emulator: {s.sent} sent, {s.accepted} accepted, {s.retries} retries, {s.failed} gave up")
                last = time.monotonic()
            self._thread.join(1.0)
        if self.error is not None:
            raise RuntimeError(f"the emulator failed: {self.error!r}") from self.error
        assert self.summary is not None
        self.say(f"emulator: {self.summary.line()}")
        return self.summary


def check_traffic(summary: Summary, result: ScenarioResult) -> None:
    """The emulator's own expectations: it gave up on nothing, and every answer was the expected one."""
    result.notes.append(f"emulator: {summary.line()}")
    if summary.failed:
        result.problems.append(
            f"the emulator gave up on {summary.failed} events after {EMULATOR_RETRIES} retries "
            "(the system did not recover within its retry window)"
        )
    if summary.unexpected:
        result.problems.append(f"the emulator saw {summary.unexpected} unexpected answers")


class Probe:
    """One valid pin posted to the API until it is acknowledged, under a client id of its own that
    each retry sends again (502/503/504, timeouts, connection errors); the event settled goes to the
    ledger in the emulator's format. The same body each time (one unique_id, so one Kafka key and
    partition); every `until_accepted` is a new event (a new client id)."""

    def __init__(self, ctx: Context, ledger: Path):
        self.ctx = ctx
        self.ledger = ledger
        self.body = json.dumps({**CANONICAL_TRIPLE["pin"], "unique_id": str(uuid.uuid4())}).encode()
        self.partition: int | None = None

    def post_once(self, client_event_id: str) -> tuple[int | None, dict]:
        """The status (None: no answer) and the answer's JSON of one attempt."""
        headers = {"Content-Type": "application/json", "Idempotency-Key": client_event_id}
        if self.ctx.api_key:
            headers["X-API-Key"] = self.ctx.api_key
        try:
            answer = requests.post(f"{self.ctx.api_url}/pin/", data=self.body, headers=headers, timeout=(5, 30))
        except requests.RequestException:
            return None, {}
        try:
            return answer.status_code, answer.json()
        except ValueError:
            return answer.status_code, {}

    def _settle(self, client_event_id: str, outcome: str, status: int | None, attempts: int, answer: dict) -> None:
        entry = {
            "client_event_id": client_event_id,
            "event_type": "pin",
            "outcome": outcome,
            "status": status,
            "attempts": attempts,
        }
        if outcome == ACKNOWLEDGED:
            entry.update({key: answer[key] for key in ("event_id", "topic", "partition", "offset")})
        with self.ledger.open("a", encoding="utf-8") as ledger:
            ledger.write(json.dumps(entry) + "\n")

    def until_accepted(self, timeout_s: float = CATCH_UP_TIMEOUT_S) -> float:
        """Post one new event until acknowledged; the seconds it took."""
        client_event_id, attempts, started = f"probe-{uuid.uuid4()}", 0, time.monotonic()
        while True:
            status, answer = self.post_once(client_event_id)
            attempts += 1
            if status is not None and 200 <= status < 300:
                self._settle(client_event_id, ACKNOWLEDGED, status, attempts, answer)
                self.partition = answer["partition"]
                return time.monotonic() - started
            if status is not None and status not in RETRY_STATUSES:
                self._settle(client_event_id, REJECTED, status, attempts, answer)
                raise RuntimeError(f"the API answered the probe {status}: {answer}")
            if time.monotonic() - started > timeout_s:
                self._settle(client_event_id, FAILED, status, attempts, answer)
                raise TimeoutError(f"the API did not acknowledge an event within {timeout_s:.0f}s")
            time.sleep(0.5)


def api_unavailable(ctx: Context) -> bool:
    """The API answers /healthz with 503 (it cannot reach Kafka)."""
    try:
        return requests.get(f"{ctx.api_url}/healthz", timeout=10).status_code == 503
    except requests.RequestException:
        return False


# Faults ----------------------------------------------------------------------------------------
def kill_9(pid_file: Path, what: str) -> int:
    """SIGKILL the process group in `pid_file` (a service and its children) and wait until it is gone."""
    pid = read_pid(pid_file)
    if pid is None:
        raise RuntimeError(f"{what} is not running (no live pid in {pid_file})")
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:  # not a group leader: the process alone
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 30
    while pid_alive(pid):
        _reap(pid)
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} (pid {pid}) survived SIGKILL")
        time.sleep(0.05)
    return pid


# The batch drain -------------------------------------------------------------------------------
@dataclass
class Drain:
    returncode: int
    elapsed_s: float
    log: Path
    summary: str = ""  # the `[batch] done: ...` line

    @property
    def killed(self) -> bool:
        return self.returncode == -signal.SIGKILL


@dataclass
class DrainProcess:
    """`python -m devstack.batch --land-only` (or devstack.chaos.killed_drain MODE) running."""

    proc: subprocess.Popen
    log: Path
    started: float = field(default_factory=time.monotonic)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait(self, timeout_s: float = DRAIN_TIMEOUT_S) -> Drain:
        try:
            returncode = self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise TimeoutError(f"the drain did not finish within {timeout_s:.0f}s; see {self.log}") from None
        done = [line for line in self.log_text().splitlines() if line.startswith("[batch] done:")]
        return Drain(returncode, time.monotonic() - self.started, self.log, done[-1] if done else "")


def start_drain(
    ctx: Context, label: str, kill_mode: str | None = None, env: dict[str, str] | None = None, land_only: bool = True
) -> DrainProcess:
    """The batch drain (Kafka -> raw lake, no Spark refresh; with `land_only` False, the whole
    pass: the clean step and the analytics too) as `make batch` runs it, in a subprocess on the
    stack's environment; `kill_mode`: the variant that SIGKILLs itself (killed_drain.py)."""
    log = ctx.workdir / f"drain-{label}.log"
    module = ["-m", "devstack.chaos.killed_drain", kill_mode] if kill_mode else ["-m", "devstack.batch"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, *module, *(["--land-only"] if land_only else [])],
            cwd=REPO_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
    return DrainProcess(proc, log)


def run_drain(ctx: Context, label: str, kill_mode: str | None = None, env: dict[str, str] | None = None) -> Drain:
    ctx.say(f"drain ({label}): Kafka -> raw lake" + (f", dying {kill_mode}" if kill_mode else ""))
    drain = start_drain(ctx, label, kill_mode, env).wait()
    outcome = "killed (SIGKILL)" if drain.killed else f"exit {drain.returncode}"
    ctx.say(f"drain ({label}): {outcome} after {drain.elapsed_s:.0f}s {drain.summary}".rstrip())
    return drain


def drain_until_ok(ctx: Context, label: str, attempts: int = 3, env: dict[str, str] | None = None) -> Drain:
    """Drain again until a pass succeeds (a pass stops a topic at its first failed run)."""
    for attempt in range(1, attempts + 1):
        drain = run_drain(ctx, f"{label}-{attempt}", env=env)
        if drain.returncode == 0:
            return drain
    raise RuntimeError(f"the drain failed {attempts} times in a row; see {drain.log}")


def check_cleaned_tables(ctx: Context, scenarios: list[int]) -> CleanedCheck:
    """Once after the shared stack's scenarios: the full batch pass (`python -m
    devstack.batch`: drain, clean step, analytics), then `python -m devstack.accounting`
    of their ledgers together (Spark in a subprocess, not in the suite's process)."""
    check = CleanedCheck(scenarios)
    try:
        ctx.ensure_healthy()
        ctx.say("batch pass: Kafka -> raw lake -> cleaned tables -> analytics")
        batch = start_drain(ctx, "full-batch", land_only=False).wait()
        check.batch_returncode, check.batch_s, check.logs = batch.returncode, batch.elapsed_s, [str(batch.log)]
        ctx.say(f"batch pass: exit {batch.returncode} after {batch.elapsed_s:.0f}s {batch.summary}".rstrip())
        if batch.returncode != 0:
            return check
        ledgers = [str(path) for n in scenarios if (path := ctx.ledger(n)).exists()]
        if not ledgers:
            check.error = "no scenario wrote a ledger"
            return check
        log = ctx.workdir / "accounting.log"
        check.logs.append(str(log))
        ctx.say(f"accounting of {len(ledgers)} ledgers in the cleaned tables and quarantines")
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "devstack.accounting", *ledgers],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=ACCOUNTING_TIMEOUT_S,
        )
        check.accounting_s = time.monotonic() - started
        log.write_text(done.stdout + done.stderr)
        check.accounting_returncode, check.accounting_output = done.returncode, done.stdout
        ctx.say(f"accounting: exit {done.returncode} after {check.accounting_s:.0f}s")
    except Exception as exc:  # noqa: BLE001 - reported as the check's failure
        check.error = f"{type(exc).__name__}: {str(exc).strip()[:2000]}"
    return check


# Streaming -------------------------------------------------------------------------------------
def acknowledged_keys(ledger: Path) -> list[ClientKey]:
    """The client events of `ledger` the API acknowledged (none if there is no ledger yet)."""
    return read_client_ledger([ledger]).keys(ACKNOWLEDGED) if ledger.exists() else []


def wait_for_streaming(
    ctx: Context,
    keys: Iterable[ClientKey],
    timeout_s: float = CATCH_UP_TIMEOUT_S,
    on_dead_job: Callable[[], None] | None = None,
) -> float | None:
    """Until the streaming store holds every client event of `keys` (event tables and
    quarantine); the seconds it took (None: timed out).
    `on_dead_job` is called once if the job's process is gone meanwhile."""
    keys = list(keys)
    job = ctx.service("streaming")
    started, last_report = time.monotonic(), 0.0
    while True:
        try:
            found = streaming_clients(ctx.settings)
            missing = sum(1 for key in keys if found[key] == 0)
        except psycopg2.Error as exc:
            missing = len(keys)
            ctx.say(f"streaming tables not readable yet: {str(exc).strip().splitlines()[0]}")
        if missing == 0:
            elapsed = time.monotonic() - started
            ctx.say(f"streaming: all {len(keys):,} acknowledged events are in the tables ({elapsed:.0f}s)")
            return elapsed
        if on_dead_job is not None and not job.running():
            on_dead_job()
            on_dead_job = None
        if time.monotonic() - started > timeout_s:
            ctx.say(f"streaming: {missing:,} acknowledged events still missing after {timeout_s:.0f}s")
            return None
        if time.monotonic() - last_report > 15:
            ctx.say(f"streaming: waiting for {missing:,} of {len(keys):,} events ...")
            last_report = time.monotonic()
        time.sleep(2)


def streaming_caught_up(ctx: Context, ledger: Path, result: ScenarioResult) -> float | None:
    elapsed = wait_for_streaming(ctx, acknowledged_keys(ledger))
    if elapsed is None:
        result.problems.append(f"the streaming tables did not catch up within {CATCH_UP_TIMEOUT_S:.0f}s")
    return elapsed


def count_batches(cur: cursor) -> int:
    """streaming_batches() on an open cursor (a polling loop keeps one connection)."""
    cur.execute("SELECT count(*) FROM streaming_batches")
    row = cur.fetchone()
    assert row is not None  # count(*) returns one row
    return row[0]


def streaming_batches(settings: Settings) -> int:
    """How many micro-batches the streaming job has applied (rows of `streaming_batches`)."""
    conn = psycopg2.connect(settings.pg_dsn(settings.streaming_database), connect_timeout=3)
    try:
        with conn.cursor() as cur:
            return count_batches(cur)
    finally:
        conn.close()


# Reconciliation --------------------------------------------------------------------------------
def reconcile(
    ctx: Context, ledger_path: Path, result: ScenarioResult, stores: Iterable[str] = (KAFKA, RAW_LAKE, STREAMING)
) -> None:
    """The scenario's ledger by client event against each of `stores`, into `result`: Kafka and
    the raw lake at least once (copies counted; the lake no more often than Kafka), the streaming
    store exactly once."""
    ledger = read_client_ledger([ledger_path]) if ledger_path.exists() else read_client_ledger([])
    kafka = kafka_clients(ctx.settings)
    readers = {
        KAFKA: lambda: kafka,
        RAW_LAKE: lambda: raw_lake_clients(ctx.settings),
        STREAMING: lambda: streaming_clients(ctx.settings),
    }
    result.reconciled(
        ledger,
        [
            count_clients(
                store, ledger, readers[store](), exact=store == STREAMING, upstream=kafka if store == RAW_LAKE else None
            )
            for store in stores
        ],
    )
    ctx.say(
        f"  ledger: {ledger.tried:,} events tried, {ledger.acknowledged:,} acknowledged, "
        f"{ledger.retried:,} retried, {len(ledger.keys(FAILED)):,} unacknowledged (failed)"
    )
    for stage in result.stages:
        ctx.say("  " + stage.line())
