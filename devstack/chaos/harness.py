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
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
import requests

from ingestion_api.canonical import CANONICAL_TRIPLE
from ingestion_api.traffic import Emulator, EmulatorOptions, Summary
from pinterest_common.config import REPO_ROOT, Settings

from ..demo import Progress as DemoProgress
from ..fresh import settings_stack
from ..process import _reap, pid_alive, read_pid
from ..reconcile import count_stage, kafka_event_ids, raw_lake_event_ids, read_ledger, streaming_event_ids
from ..services import Service
from .report import KAFKA, RAW_LAKE, STREAMING, ScenarioResult

CATCH_UP_TIMEOUT_S = 600.0  # streaming tables / API acceptance on a busy 2-core machine
TRAFFIC_TIMEOUT_S = 900.0
DRAIN_TIMEOUT_S = 900.0
# Retries per request: the backoff reaches 5 s after 5 attempts, so about 5 minutes of outage
# before the emulator gives up on an event (the default 8 retries cover ~25 s).
EMULATOR_RETRIES = 60
READERS: dict[str, Callable[[Settings], Counter[str]]] = {
    KAFKA: kafka_event_ids, RAW_LAKE: raw_lake_event_ids, STREAMING: streaming_event_ids,
}


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
        """A service of the running fresh_stack()."""
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
    acknowledged event_id appended to `ledger`. It retries 503s and connection errors."""

    def __init__(self, ctx: Context, ledger: Path, events: int, rate: float, seed: int):
        options = EmulatorOptions(
            url=ctx.api_url, count=max(1, math.ceil(events / 3)), rate=rate, concurrency=4, batch_size=10,
            seed=seed, api_key=ctx.api_key, ledger=ledger, max_retries=EMULATOR_RETRIES,
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
        total = self.emulator.options.count * 3
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
        result.problems.append(f"the emulator gave up on {summary.failed} events after {EMULATOR_RETRIES} retries "
                               "(the system did not recover within its retry window)")
    if summary.unexpected:
        result.problems.append(f"the emulator saw {summary.unexpected} unexpected answers")


class Probe:
    """One valid pin posted to the API until it is acknowledged; the acknowledgement goes to the
    ledger like the emulator's. The same body (one unique_id, so one Kafka key and partition) each time."""

    def __init__(self, ctx: Context, ledger: Path):
        self.ctx = ctx
        self.ledger = ledger
        self.body = json.dumps({**CANONICAL_TRIPLE["pin"], "unique_id": str(uuid.uuid4())}).encode()
        self.partition: int | None = None

    def post_once(self) -> dict | None:
        headers = {"Content-Type": "application/json"}
        if self.ctx.api_key:
            headers["X-API-Key"] = self.ctx.api_key
        try:
            answer = requests.post(f"{self.ctx.api_url}/pin/", data=self.body, headers=headers, timeout=(5, 30))
        except requests.RequestException:
            return None
        if answer.status_code != 202:
            return None
        acknowledged = answer.json()
        with self.ledger.open("a", encoding="utf-8") as ledger:
            ledger.write(json.dumps({k: acknowledged[k] for k in ("event_id", "event_type", "topic", "partition", "offset")}) + "\n")
        self.partition = acknowledged["partition"]
        return acknowledged

    def until_accepted(self, timeout_s: float = CATCH_UP_TIMEOUT_S) -> float:
        """Post until acknowledged; the seconds it took."""
        started = time.monotonic()
        while self.post_once() is None:
            if time.monotonic() - started > timeout_s:
                raise TimeoutError(f"the API did not acknowledge an event within {timeout_s:.0f}s")
            time.sleep(0.5)
        return time.monotonic() - started


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
    """`python -m pinterest_assets.batch --land-only` (or devstack.chaos.killed_drain MODE) running."""

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


def start_drain(ctx: Context, label: str, kill_mode: str | None = None, env: dict[str, str] | None = None) -> DrainProcess:
    """The batch drain (Kafka -> raw lake, no Spark refresh) as `make batch` runs it, in a subprocess
    on the stack's environment; `kill_mode`: the variant that SIGKILLs itself (killed_drain.py)."""
    log = ctx.workdir / f"drain-{label}.log"
    module = ["-m", "devstack.chaos.killed_drain", kill_mode] if kill_mode else ["-m", "pinterest_assets.batch"]
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, *module, "--land-only"], cwd=REPO_ROOT, stdout=out,
                                stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
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


# Streaming -------------------------------------------------------------------------------------
def wait_for_streaming(ctx: Context, ledger: Iterable[str], timeout_s: float = CATCH_UP_TIMEOUT_S,
                       on_dead_job: Callable[[], None] | None = None) -> float | None:
    """Until the streaming tables hold every event_id of `ledger`; the seconds it took (None:
    timed out). `on_dead_job` is called once if the job's process is gone meanwhile."""
    ids = list(ledger)
    job = ctx.service("streaming")
    started, last_report = time.monotonic(), 0.0
    while True:
        try:
            found = streaming_event_ids(ctx.settings)
            missing = sum(1 for event_id in ids if found[event_id] == 0)
        except psycopg2.Error as exc:
            missing = len(ids)
            ctx.say(f"streaming tables not readable yet: {str(exc).strip().splitlines()[0]}")
        if missing == 0:
            elapsed = time.monotonic() - started
            ctx.say(f"streaming: all {len(ids):,} acknowledged events are in the tables ({elapsed:.0f}s)")
            return elapsed
        if on_dead_job is not None and not job.running():
            on_dead_job()
            on_dead_job = None
        if time.monotonic() - started > timeout_s:
            ctx.say(f"streaming: {missing:,} acknowledged events still missing after {timeout_s:.0f}s")
            return None
        if time.monotonic() - last_report > 15:
            ctx.say(f"streaming: waiting for {missing:,} of {len(ids):,} events ...")
            last_report = time.monotonic()
        time.sleep(2)


def streaming_caught_up(ctx: Context, ledger: Iterable[str], result: ScenarioResult) -> float | None:
    elapsed = wait_for_streaming(ctx, ledger)
    if elapsed is None:
        result.problems.append(f"the streaming tables did not catch up within {CATCH_UP_TIMEOUT_S:.0f}s")
    return elapsed


# Reconciliation --------------------------------------------------------------------------------
def reconcile(ctx: Context, ledger_path: Path, result: ScenarioResult, stores: Iterable[str] = (KAFKA, RAW_LAKE, STREAMING),
              settings: Settings | None = None) -> dict[str, str]:
    """The scenario's ledger by event_id against each of `stores`, into `result`; the ledger."""
    settings = settings or ctx.settings
    ledger = read_ledger([ledger_path]) if ledger_path.exists() else {}
    result.acknowledged = len(ledger)
    result.stages = [count_stage(store, ledger, READERS[store](settings)) for store in stores]
    for stage in result.stages:
        ctx.say("  " + stage.line())
    return ledger


def extra_records(settings: Settings, ledger: dict[str, str]) -> int:
    """API records in Kafka whose event_id is not in `ledger` (for a Kafka that only this scenario wrote)."""
    return sum(count for event_id, count in kafka_event_ids(settings).items() if event_id not in ledger)


def ledger_ids(path: Path) -> dict[str, str]:
    return read_ledger([path]) if path.exists() else {}
