"""`make batch`: one complete pass of the batch pipeline over whatever Kafka holds.

It does what the running sensors do, in the foreground, through the DAGSTER_HOME instance:
evaluate each drain sensor (the same code, against the same instance), execute the runs it
requests in that instance (tagged with the sensor and run key, so they show in the UI's run
history like sensor runs, and the daemon's run-key check sees them), and evaluate again until
every topic is drained up to the end offsets seen when its pass began (records arriving during
the pass are left for the next one). Runs that other processes have in flight are waited for.

The landing runs execute in PINTEREST_BATCH_WORKERS spawned worker processes (each loads the
Definitions and the instance once), so that ranges of different partitions and topics land at
once; the ranges of one partition land one after another. A run is tagged with the pid of the
process executing it (a worker; with PINTEREST_BATCH_WORKERS=1, this process), which a later
pass checks to fail the runs of a dead `make batch`. Workers die with this process and are
killed when the pass ends or is interrupted. A topic stops at its first failed run.

Then one `refresh_cleaned_and_analytics` run folds the new raw objects into the cleaned tables
and answers every question. Exit status 1 if a run or an error-severity check failed.

    python -m devstack.batch
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import socket
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import cast

import dagster as dg

from pinterest_assets.defs.analytics.jobs import REFRESH_JOB
from pinterest_assets.defs.raw_lake.sensors import runs_in_flight
from pinterest_assets.lib.lake.progress import ProgressStore
from pinterest_assets.lib.runs import NOT_FINISHED
from pinterest_assets.lib.topics import DRAINED_TOPICS, PARTITION_TAG, RUN_KEY_TAG, DrainedTopic
from pinterest_common import kafka_io
from pinterest_common.config import DAGSTER_DB, Settings

from .local_secrets import ensure_local_secrets
from .process import pid_alive

LAUNCHED_BY_TAG, LAUNCHED_BY = "pinterest/launched_by", "make batch"
BATCH_PID_TAG, BATCH_HOST_TAG = "pinterest/batch_pid", "pinterest/batch_host"

POLL_S = 2.0
# Runs executed here print Dagster's INFO events and up (the UI keeps the DEBUG ones).
CONSOLE_LOGS = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
REFRESH_JOB_NAME = REFRESH_JOB.name
CLEAN_OP = "clean_raw_events"
STREAMS_BY_NAME = {stream.name: stream for stream in DRAINED_TOPICS}


@dataclass
class RunOutcome:
    run_key: str
    run_id: str
    success: bool
    landed: int = 0
    objects: int = 0
    failed_checks: list[str] = field(default_factory=list)
    warned_checks: list[str] = field(default_factory=list)


@dataclass
class BatchSummary:
    runs: list[RunOutcome] = field(default_factory=list)
    skipped_run_keys: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.success and not r.failed_checks for r in self.runs)

    @property
    def landed(self) -> int:
        return sum(r.landed for r in self.runs)


def fail_dead_batch_runs(instance: dg.DagsterInstance, log: Callable[[str], None] = print) -> list[str]:
    """Mark failed the runs of earlier `make batch` processes (or their workers) on this host
    that died mid-run (they would otherwise look in flight until their max runtime)."""
    failed = []
    host = socket.gethostname()
    records = instance.get_run_records(
        filters=dg.RunsFilter(tags={LAUNCHED_BY_TAG: LAUNCHED_BY}, statuses=NOT_FINISHED)
    )
    for record in records:
        tags = record.dagster_run.tags
        if tags.get(BATCH_HOST_TAG) == host and not _alive(int(tags.get(BATCH_PID_TAG, "0"))):
            instance.report_run_failed(record.dagster_run, message="the `make batch` process running it is gone")
            failed.append(record.dagster_run.run_id)
            log(f"[batch] marked run {record.dagster_run.run_id} failed: its `make batch` process is gone")
    return failed


def _alive(pid: int) -> bool:
    return pid > 0 and pid_alive(pid)


def existing_run(instance: dg.DagsterInstance, run_key: str) -> dg.DagsterRun | None:
    """A landing run already started for `run_key` (its tag RUN_KEY_TAG), by `make batch` or by
    the daemon: a key runs once, as Dagster's daemon runs a sensor's run key once."""
    runs = instance.get_runs(filters=dg.RunsFilter(tags={RUN_KEY_TAG: run_key}), limit=1)
    return runs[0] if runs else None


def evaluate_sensor(defs: dg.Definitions, instance: dg.DagsterInstance, stream: DrainedTopic, cursor: str | None):
    """One tick of the stream's drain sensor: (run requests, new cursor, skip message)."""
    sensor = defs.resolve_sensor_def(stream.sensor_name)
    resources = {k: v for k, v in (defs.resources or {}).items() if k in sensor.required_resource_keys}
    with dg.build_sensor_context(
        instance=instance, cursor=cursor, resources=resources, sensor_name=stream.sensor_name
    ) as context:
        result = sensor(context)
    if isinstance(result, dg.SkipReason):
        return [], cursor, result.skip_message
    assert isinstance(result, dg.SensorResult)  # what a drain sensor returns otherwise
    skip = result.skip_reason.skip_message if result.skip_reason else None
    return list(result.run_requests or []), result.cursor if result.cursor is not None else cursor, skip


def launch(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    stream: DrainedTopic,
    request: dg.RunRequest,
) -> RunOutcome | None:
    """Execute the run `request` asks for in `instance`, unless the sensor has one for its key."""
    run_key = request.run_key
    assert run_key is not None  # the drain sensors key every request
    if existing_run(instance, run_key) is not None:
        return None
    job = defs.resolve_job_def(stream.job_name)
    result = job.execute_in_process(
        run_config={**request.run_config, **CONSOLE_LOGS},
        instance=instance,
        tags={
            **request.tags,
            LAUNCHED_BY_TAG: LAUNCHED_BY,
            BATCH_PID_TAG: str(os.getpid()),
            BATCH_HOST_TAG: socket.gethostname(),
        },
        raise_on_error=False,
    )
    outcome = RunOutcome(run_key, result.run_id, result.success)
    for materialization in result.asset_materializations_for_node(stream.asset_name):
        meta = materialization.metadata
        # The landing asset reports both as integers.
        outcome.landed = cast(int, meta["dagster/row_count"].value)
        outcome.objects = cast(int, meta["object_count"].value)
    for evaluation in result.get_asset_check_evaluations():
        if not evaluation.passed:
            target = (
                outcome.failed_checks if evaluation.severity == dg.AssetCheckSeverity.ERROR else outcome.warned_checks
            )
            target.append(evaluation.check_name)
    return outcome


def refresh(defs: dg.Definitions, instance: dg.DagsterInstance, recheck_quarantine: bool = False) -> RunOutcome:
    """One run of the cleaned and analytics assets; with `recheck_quarantine`, the quarantined
    lines are checked again under the current rules (`make requarantine`)."""
    run_config = (
        {**CONSOLE_LOGS, "ops": {CLEAN_OP: {"config": {"recheck_quarantine": True}}}}
        if recheck_quarantine
        else CONSOLE_LOGS
    )
    result = defs.resolve_job_def(REFRESH_JOB_NAME).execute_in_process(
        run_config=run_config,
        instance=instance,
        tags={LAUNCHED_BY_TAG: LAUNCHED_BY, BATCH_PID_TAG: str(os.getpid()), BATCH_HOST_TAG: socket.gethostname()},
        raise_on_error=False,
    )
    outcome = RunOutcome(REFRESH_JOB_NAME, result.run_id, result.success)
    outcome.objects = len(result.get_asset_materialization_events())
    for evaluation in result.get_asset_check_evaluations():
        if not evaluation.passed:
            target = (
                outcome.failed_checks if evaluation.severity == dg.AssetCheckSeverity.ERROR else outcome.warned_checks
            )
            target.append(f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}")
    return outcome


def end_offsets(settings: Settings, topic: str) -> dict[int, int]:
    return {tp.partition: end for tp, end in kafka_io.end_offsets(settings.kafka, [topic]).items()}


def _progress(settings: Settings) -> ProgressStore:
    import psycopg2

    return ProgressStore(lambda: psycopg2.connect(settings.pg_dsn(DAGSTER_DB)))


# The worker processes --------------------------------------------------------------------------
_worker: tuple[dg.Definitions, dg.DagsterInstance] | None = None


def _start_worker(parent_pid: int) -> None:
    """Pool initializer: Definitions and instance loaded once per worker; the worker dies with
    the batch process (Linux: SIGKILL on its death) and leaves Ctrl-C to it."""
    global _worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent_pid:
        os._exit(1)
    from pinterest_assets.definitions import build_definitions
    from pinterest_common.config import get_settings

    instance = dg.DagsterInstance.get()
    # Keep the storage's PostgreSQL connections open (by default each event write connects anew).
    instance.optimize_for_webserver(statement_timeout=0, pool_recycle=3600, max_overflow=4)
    _worker = build_definitions(get_settings()), instance


def _launch_in_worker(stream_name: str, request: dg.RunRequest) -> RunOutcome | None:
    assert _worker is not None
    return launch(*_worker, STREAMS_BY_NAME[stream_name], request)


class _InProcess:
    """The executor of `PINTEREST_BATCH_WORKERS=1`: each run in this process, at its turn."""

    def __init__(self, defs: dg.Definitions, instance: dg.DagsterInstance):
        self.defs, self.instance = defs, instance

    def submit(self, stream_name: str, request: dg.RunRequest) -> Future:
        future: Future = Future()
        try:
            future.set_result(launch(self.defs, self.instance, STREAMS_BY_NAME[stream_name], request))
        except Exception as error:
            future.set_exception(error)
        return future


@contextlib.contextmanager
def _executor(workers: int, defs: dg.Definitions, instance: dg.DagsterInstance) -> Iterator:
    """submit(stream name, request) -> Future[RunOutcome | None]: `workers` spawned processes,
    all stopped (killed if running) when the batch stops, normally or not."""
    if workers <= 1:
        yield _InProcess(defs, instance)
        return
    children_before = set(multiprocessing.active_children())
    pool = ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker, initargs=(os.getpid(),)
    )
    for _ in range(workers):  # start them now: their imports overlap the first sensor ticks
        pool.submit(os.getpid)
    # The pool's processes: started by those submits (the pool never replaces one).
    pool_processes = [p for p in multiprocessing.active_children() if p not in children_before]
    try:
        yield _Submitter(pool)
    finally:
        # Killed, not waited for: at the end they are idle and hold nothing, and a worker's
        # interpreter took ~7 s to exit (measured); on Ctrl-C or an error, they stop at once.
        pool.shutdown(wait=False, cancel_futures=True)
        for process in pool_processes:
            process.kill()
            process.join()


@dataclass
class _Submitter:
    pool: ProcessPoolExecutor

    def submit(self, stream_name: str, request: dg.RunRequest) -> Future:
        return self.pool.submit(_launch_in_worker, stream_name, request)


# One pass ------------------------------------------------------------------------------------
@dataclass
class _TopicPass:
    """One topic's pass: done when it has landed up to `targets`, the end offsets seen when it
    began, or a run failed. Ranges of one partition run one after another (the next waits for
    its predecessor's commit), ranges of different partitions at once."""

    stream: DrainedTopic
    targets: dict[int, int]
    cursor: str | None = None
    queued: dict[int, deque[dg.RunRequest]] = field(default_factory=dict)  # partition -> ranges not yet submitted
    running: int = 0
    launched: bool = False  # a run of this tick executed (not skipped)
    failed: bool = False
    done: bool = False
    waiting_until: float | None = None  # waiting for runs launched elsewhere, until then at most


class _Pass:
    """The topics' passes at once: ticks in this process, runs through the executor."""

    def __init__(self, defs, instance, settings, summary, executor, log):
        self.defs, self.instance, self.settings, self.summary, self.executor, self.log = (
            defs,
            instance,
            settings,
            summary,
            executor,
            log,
        )
        self.progress = _progress(settings)
        self.futures: dict[Future, tuple[_TopicPass, dg.RunRequest]] = {}
        self.started = time.monotonic()

    def run(self) -> bool:
        """Every topic's pass (see the module docstring); False if a run failed."""
        topics = [_TopicPass(stream, end_offsets(self.settings, stream.topic)) for stream in DRAINED_TOPICS]
        for topic in topics:
            self.tick(topic)
        while not all(t.done for t in topics):
            waiting = [t for t in topics if t.waiting_until is not None]
            finished, _ = wait(self.futures, timeout=POLL_S if waiting else None, return_when=FIRST_COMPLETED)
            for future in finished:
                self.finished(*self.futures.pop(future), future)
            for topic in waiting:
                assert topic.waiting_until is not None  # still waiting: only this loop ends a wait
                if (
                    not runs_in_flight(self.instance, topic.stream.topic, self.settings.lake_run_timeout_seconds)
                    or time.monotonic() >= topic.waiting_until
                ):
                    topic.waiting_until = None
                    self.tick(topic)
        return not any(t.failed for t in topics)

    def tick(self, topic: _TopicPass) -> None:
        """Evaluate the topic's sensor and submit the first range of each partition it requests."""
        stream = topic.stream
        requests, topic.cursor, skip = evaluate_sensor(self.defs, self.instance, stream, topic.cursor)
        if not requests:
            self.log(f"[batch] {stream.sensor_name}: {skip}")
        topic.launched = False
        for request in requests:
            topic.queued.setdefault(int(request.tags[PARTITION_TAG]), deque()).append(request)
        for partition in list(topic.queued):
            self.submit(topic, partition)
        if not topic.running:
            self.idle(topic)

    def idle(self, topic: _TopicPass) -> None:
        """Nothing launched: wait for runs that other processes have in flight, else done."""
        timeout_s = self.settings.lake_run_timeout_seconds
        if runs_in_flight(self.instance, topic.stream.topic, timeout_s):
            self.log(
                f"[batch] {topic.stream.topic}: waiting for landing runs launched elsewhere (e.g. by the sensor daemon)"
            )
            topic.waiting_until = time.monotonic() + timeout_s
        else:
            topic.done = True

    def submit(self, topic: _TopicPass, partition: int) -> None:
        queue = topic.queued[partition]
        request = queue.popleft()
        if not queue:
            del topic.queued[partition]
        self.futures[self.executor.submit(topic.stream.name, request)] = topic, request
        topic.running += 1

    def finished(self, topic: _TopicPass, request: dg.RunRequest, future: Future) -> None:
        topic.running -= 1
        run_key = request.run_key
        assert run_key is not None  # the drain sensors key every request
        try:
            outcome = future.result()
        except Exception as error:  # the worker died (e.g. killed) or could not start
            self.log(f"[batch] {run_key}: the worker running it failed: {error!r}")
            outcome = RunOutcome(run_key, "-", False)
        if outcome is None:
            self.summary.skipped_run_keys.append(run_key)
            self.log(f"[batch] {run_key}: the sensor already has a run for this key; skipped")
        else:
            topic.launched = True
            self.summary.runs.append(outcome)
            seconds = time.monotonic() - self.started
            self.log(
                f"{_describe(outcome)}; {self.summary.landed:,} landed in {seconds:.1f}s "
                f"({self.summary.landed / seconds:,.0f}/s)"
            )
            if not outcome.success:
                topic.failed = True
                topic.queued.clear()
        partition = int(request.tags[PARTITION_TAG])
        if partition in topic.queued:
            self.submit(topic, partition)
        if topic.running:
            return
        if topic.failed:
            topic.done = True
            self.log(
                f"[batch] {topic.stream.topic}: stopped after a failed run; the sensor will request its range again"
            )
        elif not topic.launched:
            self.idle(topic)
        elif all(self.progress.committed(topic.stream.topic).get(p, 0) >= end for p, end in topic.targets.items()):
            topic.done = True
        else:
            self.tick(topic)


def _describe(outcome: RunOutcome) -> str:
    status = "ok" if outcome.success else "FAILED"
    text = f"[batch] {outcome.run_key}: run {outcome.run_id} {status}"
    if outcome.success:
        text += f", {outcome.landed} landed, {outcome.objects} object(s)"
    if outcome.failed_checks:
        text += f", FAILED checks: {', '.join(outcome.failed_checks)}"
    if outcome.warned_checks:
        text += f", warnings: {', '.join(outcome.warned_checks)}"
    return text


def run_batch(
    defs: dg.Definitions | None = None,
    instance: dg.DagsterInstance | None = None,
    log: Callable[[str], None] = print,
    refresh_downstream: bool = True,
    recheck_quarantine: bool = False,
) -> BatchSummary:
    """One pass over every drain sensor, then (unless `refresh_downstream` is False) one refresh
    of the cleaned and analytics assets (see the module docstring), which re-checks the
    quarantine with `recheck_quarantine`."""
    from pinterest_common.config import get_settings

    settings = get_settings()
    if instance is None:
        from pinterest_assets.instance import prepare_instance

        prepare_instance(settings)
        instance = dg.DagsterInstance.get()
    if defs is None:
        from pinterest_assets.definitions import build_definitions

        defs = build_definitions(settings)
    log(f"[batch] Dagster instance: {instance.root_directory}")
    fail_dead_batch_runs(instance, log)
    summary = BatchSummary()
    log(
        f"[batch] landing runs: {settings.batch_workers} at once"
        + (" (worker processes)" if settings.batch_workers > 1 else "")
    )
    with _executor(settings.batch_workers, defs, instance) as executor:
        drained = _Pass(defs, instance, settings, summary, executor, log).run()
    if drained and refresh_downstream:
        log(
            "[batch] cleaning the new raw objects"
            + (
                ", re-checking the quarantine under the current rules"
                f" (relaxed: {', '.join(settings.relaxed_rules) or 'none'})"
                if recheck_quarantine
                else ""
            )
            + " and answering the questions (Spark) ..."
        )
        outcome = refresh(defs, instance, recheck_quarantine)
        summary.runs.append(outcome)
        log(
            f"[batch] {REFRESH_JOB_NAME}: run {outcome.run_id} {'ok' if outcome.success else 'FAILED'}, "
            f"{outcome.objects} materialisation(s)"
            + (f", FAILED checks: {', '.join(outcome.failed_checks)}" if outcome.failed_checks else "")
            + (f", warnings: {', '.join(outcome.warned_checks)}" if outcome.warned_checks else "")
        )
    log(
        f"[batch] done: {len(summary.runs)} run(s), {summary.landed} record(s) landed"
        + ("" if summary.ok else "; some runs or checks FAILED (see above and the Dagster UI)")
    )
    return summary


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m devstack.batch", description="One pass of the batch pipeline.")
    parser.add_argument(
        "--land-only", action="store_true", help="drain Kafka into the raw lake, skip the Spark refresh"
    )
    parser.add_argument(
        "--requarantine",
        action="store_true",
        help="re-check the quarantined lines under the current rules (PINTEREST_RELAXED_RULES) and clean "
        "those that pass (`make requarantine`)",
    )
    args = parser.parse_args(argv)
    ensure_local_secrets()
    if args.land_only and args.requarantine:
        parser.error("--requarantine needs the Spark refresh that --land-only skips")
    summary = run_batch(refresh_downstream=not args.land_only, recheck_quarantine=args.requarantine)
    return 0 if summary.ok else 1


if __name__ == "__main__":
    sys.exit(main())
