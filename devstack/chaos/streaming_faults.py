"""Scenarios 4 and 5: the streaming job's driver SIGKILLed, and PostgreSQL restarted under it.

4. The driver's whole process group (Python and the Spark JVM) SIGKILLed while events flow, then
   started again on the same checkpoint: the tables hold every acknowledged event exactly once.
5. PostgreSQL stopped (fast shutdown) and started again while the job writes: the job's query
   fails and restarts itself (streaming/job.py, backoff up to 60 s); the suite restarts the job
   only if its process died, and says so.
"""

from __future__ import annotations

import time

from .harness import (
    Context,
    Traffic,
    check_traffic,
    drain_until_ok,
    kill_9,
    ledger_ids,
    reconcile,
    streaming_caught_up,
    wait_for_streaming,
)
from .kafka_faults import rate_for
from .report import ScenarioResult

DOWN_S = 5.0
TRAFFIC_S = 90.0  # the traffic's length: the job's first micro-batches can take 20 s or more


def _flowing(ctx: Context, traffic: Traffic) -> None:
    """Wait until a tenth of the traffic is acknowledged and the job has written some of it."""
    traffic.wait_accepted(ctx.events // 10)
    wait_for_streaming(ctx, list(ledger_ids(traffic.emulator.options.ledger))[:10], timeout_s=300)


def driver_killed(ctx: Context, result: ScenarioResult) -> None:
    ledger = ctx.ledger(4)
    job = ctx.service("streaming")
    traffic = Traffic(ctx, ledger, ctx.events, rate_for(ctx.events, TRAFFIC_S), ctx.seed + 4).start()
    _flowing(ctx, traffic)
    traffic.under_load("the driver was killed", result)
    pid = kill_9(job.pid_file, "the streaming job")
    ctx.say(f"SIGKILLed the streaming driver's process group (pid {pid}); events keep arriving")
    time.sleep(DOWN_S)
    healed = time.monotonic()
    job.start()
    ctx.say(f"streaming job restarted on its checkpoint, healthy after {time.monotonic() - healed:.0f}s")
    check_traffic(traffic.wait(), result)
    if streaming_caught_up(ctx, ledger_ids(ledger), result) is not None:
        result.recovery_s = time.monotonic() - healed
    result.recovery_what = "from the restart of the driver until the tables held every acknowledged event"
    drain_until_ok(ctx, "scenario-4")
    reconcile(ctx, ledger, result)


def postgres_restarted(ctx: Context, result: ScenarioResult) -> None:
    ledger = ctx.ledger(5)
    postgres, job = ctx.service("postgres"), ctx.service("streaming")
    job_pid = job.running() and job.pid_file.read_text().strip()
    traffic = Traffic(ctx, ledger, ctx.events, rate_for(ctx.events, TRAFFIC_S), ctx.seed + 5).start()
    _flowing(ctx, traffic)
    traffic.under_load("PostgreSQL was stopped", result)
    postgres.stop()
    ctx.say("PostgreSQL stopped (pg_ctl stop -m fast) while the streaming job writes")
    time.sleep(DOWN_S)
    healed = time.monotonic()
    postgres.start()
    ctx.say(f"PostgreSQL started again in {time.monotonic() - healed:.0f}s")
    check_traffic(traffic.wait(), result)

    restarted = []

    def restart_dead_job() -> None:
        ctx.say("the streaming job's process is gone: the suite restarts it")
        restarted.append(time.monotonic())
        job.start()

    caught_up = wait_for_streaming(ctx, ledger_ids(ledger), on_dead_job=restart_dead_job)
    if caught_up is None:
        result.problems.append("the streaming tables did not catch up after PostgreSQL came back")
    else:
        result.recovery_s = time.monotonic() - healed
    result.recovery_what = "from the start of PostgreSQL until the tables held every acknowledged event"
    same = job.running() and job.pid_file.read_text().strip() == job_pid
    result.notes.append("the job recovered by itself (same process, its query restarted)" if same and not restarted
                        else "the job's process died; the suite restarted it" if restarted
                        else "the job runs under a new process id")
    drain_until_ok(ctx, "scenario-5")
    reconcile(ctx, ledger, result)
