"""Scenarios 4 and 5: the streaming job's driver SIGKILLed, and PostgreSQL crashed and restarted under it.

4. The driver's whole process group (Python and the Spark JVM) SIGKILLed while events flow, the
   moment a micro-batch has committed in PostgreSQL (a new row of `streaming_batches`), before
   Spark may have recorded the batch in its checkpoint; started again on the same checkpoint. A
   batch replayed is skipped by the sink (its progress row): the tables hold every event once.
5. PostgreSQL's process group SIGKILLed while the streaming job has a write transaction open (a
   crash: the transaction is lost, the server recovers from its WAL at the start), started again;
   once the job writes again, PostgreSQL stopped (fast shutdown) and started again. The job's
   query fails and restarts itself (streaming/job.py, backoff up to 60 s); the suite restarts the
   job only if its process died, and says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import psycopg2

from ..reconcile import ClientKey
from ..streaming_service import SparkStreaming
from .harness import (
    CATCH_UP_TIMEOUT_S,
    Context,
    Traffic,
    acknowledged_keys,
    check_traffic,
    count_batches,
    drain_until_ok,
    kill_9,
    reconcile,
    streaming_batches,
    streaming_caught_up,
    wait_for_streaming,
)
from .kafka_faults import rate_for
from .report import ScenarioResult

DOWN_S = 5.0
TRAFFIC_S = 90.0  # the traffic's length: the job's first micro-batches can take 20 s or more
WATCH_S = 120.0  # how long to wait for the moment of a fault (a commit, an open write)
POLL_S = 0.01
SINK_APPLICATION = "pinterest-streaming"  # the application_name of the sink's connection (streaming/sink.py)


def _flowing(ctx: Context, traffic: Traffic) -> None:
    """Wait until a tenth of the traffic is acknowledged and the job has written some of it."""
    traffic.wait_accepted(ctx.events // 10)
    first: list[ClientKey] = acknowledged_keys(traffic.ledger)[:10]
    wait_for_streaming(ctx, first, timeout_s=300)


def _new_batch(ctx: Context, timeout_s: float = WATCH_S) -> int | None:
    """Poll `streaming_batches` until a micro-batch more than now has committed; the count then
    (None: none within `timeout_s`)."""
    conn = psycopg2.connect(ctx.settings.pg_dsn(ctx.settings.streaming_database), connect_timeout=3)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            before = count_batches(cur)
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                if (count := count_batches(cur)) > before:
                    return count
                time.sleep(POLL_S)
            return None
    finally:
        conn.close()


def _newest_batch_id(ctx: Context) -> tuple[str, int]:
    conn = psycopg2.connect(ctx.settings.pg_dsn(ctx.settings.streaming_database), connect_timeout=3)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT query_id, max(batch_id) FROM streaming_batches GROUP BY query_id "
                "ORDER BY max(committed_at) DESC LIMIT 1"
            )
            row = cur.fetchone()
    finally:
        conn.close()
    if row is None:
        raise RuntimeError("streaming_batches is empty: no micro-batch has committed")
    return row


def driver_killed(ctx: Context, result: ScenarioResult) -> None:
    ledger = ctx.ledger(4)
    job = ctx.service("streaming")
    assert isinstance(job, SparkStreaming)  # the stack's streaming service
    traffic = Traffic(ctx, ledger, ctx.events, rate_for(ctx.events, TRAFFIC_S), ctx.seed + 4).start()
    _flowing(ctx, traffic)
    traffic.under_load("the driver was killed", result)
    if _new_batch(ctx) is None:
        result.problems.append(f"no micro-batch committed within {WATCH_S:.0f}s: the driver was killed at no commit")
    pid = kill_9(job.pid_file, "the streaming job")
    query_id, batch_id = _newest_batch_id(ctx)
    recorded = (job.checkpoint / "commits" / str(batch_id)).exists()
    checkpoint = (
        "Spark had recorded it in its checkpoint"
        if recorded
        else "Spark had not recorded it in its checkpoint yet (the restart replays it)"
    )
    ctx.say(
        f"SIGKILLed the streaming driver's process group (pid {pid}) right after batch {batch_id} committed "
        f"({checkpoint}); events keep arriving"
    )
    result.notes.append(
        f"the driver was SIGKILLed right after micro-batch {batch_id} of query {query_id} committed; " + checkpoint
    )
    time.sleep(DOWN_S)
    healed = time.monotonic()
    job.start()
    ctx.say(f"streaming job restarted on its checkpoint, healthy after {time.monotonic() - healed:.0f}s")
    check_traffic(traffic.wait(), result)
    if streaming_caught_up(ctx, ledger, result) is not None:
        result.recovery_s = time.monotonic() - healed
    result.recovery_what = "from the restart of the driver until the tables held every acknowledged event"
    drain_until_ok(ctx, "scenario-4")
    reconcile(ctx, ledger, result)


def _open_write(ctx: Context, timeout_s: float = WATCH_S) -> str | None:
    """Poll until the streaming job's sink has a write transaction open (its backend has a
    transaction id: a micro-batch being applied); what it runs (None: none within `timeout_s`)."""
    conn = psycopg2.connect(ctx.settings.pg_dsn(ctx.settings.streaming_database), connect_timeout=3)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                cur.execute(
                    "SELECT state, left(query, 60) FROM pg_stat_activity WHERE datname = %s "
                    "AND application_name = %s AND backend_xid IS NOT NULL",
                    (ctx.settings.streaming_database, SINK_APPLICATION),
                )
                if (row := cur.fetchone()) is not None:
                    return f"{row[0]}: {' '.join(row[1].split())}"
                time.sleep(POLL_S)
            return None
    finally:
        conn.close()


def _writes_again(ctx: Context, on_dead_job: Callable[[], None]) -> bool:
    """Until the streaming job applies a micro-batch more than now (`on_dead_job` once if its
    process is gone meanwhile); False if it did not within CATCH_UP_TIMEOUT_S."""
    job, before = ctx.service("streaming"), streaming_batches(ctx.settings)
    deadline = time.monotonic() + CATCH_UP_TIMEOUT_S
    while time.monotonic() < deadline:
        if not job.running():
            on_dead_job()
        try:
            if streaming_batches(ctx.settings) > before:
                return True
        except psycopg2.Error:
            pass
        time.sleep(0.5)
    return False


def postgres_restarted(ctx: Context, result: ScenarioResult) -> None:
    ledger = ctx.ledger(5)
    postgres, job = ctx.service("postgres"), ctx.service("streaming")
    job_pid = job.running() and job.pid_file.read_text().strip()
    traffic = Traffic(ctx, ledger, ctx.events, rate_for(ctx.events, TRAFFIC_S), ctx.seed + 5).start()
    _flowing(ctx, traffic)
    traffic.under_load("PostgreSQL was SIGKILLed", result)
    writing = _open_write(ctx)
    pid = kill_9(postgres.pid_file, "PostgreSQL")
    if writing is None:
        result.problems.append(
            f"the streaming job opened no write transaction within {WATCH_S:.0f}s: PostgreSQL was SIGKILLed at no write"
        )
    else:
        result.notes.append(f"PostgreSQL SIGKILLed with a write transaction of the job open ({writing})")
    ctx.say(f"SIGKILLed PostgreSQL's process group (pid {pid}); the job's write: {writing}")
    time.sleep(DOWN_S)
    started = time.monotonic()
    postgres.start()
    ctx.say(f"PostgreSQL started again (crash recovery) in {time.monotonic() - started:.0f}s")

    restarted = []

    def restart_dead_job() -> None:
        ctx.say("the streaming job's process is gone: the suite restarts it")
        restarted.append(time.monotonic())
        job.start()

    if not _writes_again(ctx, restart_dead_job):
        result.problems.append(
            f"the streaming job wrote no micro-batch within {CATCH_UP_TIMEOUT_S:.0f}s after PostgreSQL's crash"
        )
    traffic.under_load("PostgreSQL was stopped", result)
    postgres.stop()
    ctx.say("PostgreSQL stopped (pg_ctl stop -m fast) while the streaming job writes")
    time.sleep(DOWN_S)
    healed = time.monotonic()
    postgres.start()
    ctx.say(f"PostgreSQL started again in {time.monotonic() - healed:.0f}s")
    check_traffic(traffic.wait(), result)

    caught_up = wait_for_streaming(ctx, acknowledged_keys(ledger), on_dead_job=restart_dead_job)
    if caught_up is None:
        result.problems.append("the streaming tables did not catch up after PostgreSQL came back")
    else:
        result.recovery_s = time.monotonic() - healed
    result.recovery_what = (
        "from the second start of PostgreSQL (after the stop) until the tables held every acknowledged event"
    )
    same = job.running() and job.pid_file.read_text().strip() == job_pid
    result.notes.append(
        "the job recovered by itself (same process, its query restarted)"
        if same and not restarted
        else "the job's process died; the suite restarted it"
        if restarted
        else "the job runs under a new process id"
    )
    drain_until_ok(ctx, "scenario-5")
    reconcile(ctx, ledger, result)
