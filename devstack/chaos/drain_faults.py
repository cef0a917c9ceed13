"""Scenarios 3 and 6: the batch drain (Kafka -> raw lake) crashed, and the S3 server restarted under it.

3. A drain SIGKILLed mid-upload (one object of a run in S3, the next not), more events, a drain
   SIGKILLed between its upload and recording its progress, then a plain drain: the raw lake holds
   every acknowledged event exactly once (the dead runs' pending objects are replaced or deleted).
6. The S3 server SIGKILLed while a drain uploads (a crash: requests cut off mid-write), started
   again; then stopped and started while the next drain uploads. The drains' failed runs are
   requested again by the next pass, which lands everything exactly once.

Both roll small objects (PINTEREST_LAKE_ROLL_MAX_RECORDS) so that a run uploads several.
"""

from __future__ import annotations

import time

from .harness import (
    Context,
    Traffic,
    check_traffic,
    drain_until_ok,
    kill_9,
    reconcile,
    run_drain,
    start_drain,
    streaming_caught_up,
)
from .kafka_faults import rate_for
from .report import ScenarioResult

SMALL_OBJECTS = {"PINTEREST_LAKE_ROLL_MAX_RECORDS": "3"}
S3_DOWN_S = 5.0


def drain_killed(ctx: Context, result: ScenarioResult) -> None:
    ledger = ctx.ledger(3)
    half = ctx.events // 2
    check_traffic(Traffic(ctx, ledger, half, rate_for(half, 10), ctx.seed + 31).start().wait(), result)
    for mode in ("mid-upload", "before-commit"):
        if mode == "before-commit":  # the range grows between the two crashes
            check_traffic(
                Traffic(ctx, ledger, ctx.events - half, rate_for(half, 10), ctx.seed + 32).start().wait(), result
            )
        drain = run_drain(ctx, f"scenario-3-{mode}", kill_mode=mode, env=SMALL_OBJECTS)
        if not drain.killed:
            result.problems.append(
                f"the drain meant to die {mode} ended with exit {drain.returncode} (see {drain.log})"
            )
        else:
            killed = next(
                (
                    line
                    for line in drain.log.read_text(errors="replace").splitlines()
                    if line.startswith("[killed_drain]")
                ),
                "?",
            )
            result.notes.append(f"drain killed {mode}: {killed}")
            if mode == "mid-upload" and "mid-upload" not in killed:
                result.problems.append(f"the drain meant to die mid-upload died elsewhere: {killed}")
    healed = time.monotonic()
    drain = drain_until_ok(ctx, "scenario-3-after", env=SMALL_OBJECTS)
    result.recovery_s = time.monotonic() - healed
    result.recovery_what = "the first drain after the two crashes, until it had landed everything"
    result.notes.append(drain.summary)
    streaming_caught_up(ctx, ledger, result)
    reconcile(ctx, ledger, result)


def s3_restarted(ctx: Context, result: ScenarioResult) -> None:
    ledger = ctx.ledger(6)
    check_traffic(Traffic(ctx, ledger, ctx.events, rate_for(ctx.events, 10), ctx.seed + 6).start().wait(), result)
    for fault in ("SIGKILLed", "stopped"):
        healed = _s3_fault_under_drain(ctx, fault, result)
    drain_until_ok(ctx, "scenario-6-after", env=SMALL_OBJECTS)
    result.recovery_s = time.monotonic() - healed
    result.recovery_what = "from the second restart of the S3 server until a drain had landed everything"
    streaming_caught_up(ctx, ledger, result)
    reconcile(ctx, ledger, result)


def _s3_fault_under_drain(ctx: Context, fault: str, result: ScenarioResult) -> float:
    """A drain whose first upload brings the S3 server down (`SIGKILLed` or `stopped`), started
    again S3_DOWN_S later; waits for the drain to end; the time of the restart."""
    s3 = ctx.service("s3")
    label = f"scenario-6-{fault.lower()}"
    ctx.say(f"drain: Kafka -> raw lake; the S3 server is {fault} at its first upload")
    drain = start_drain(ctx, label, env=SMALL_OBJECTS)
    deadline = time.monotonic() + 600
    while "uploaded s3://" not in drain.log_text() and drain.proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    during = drain.proc.poll() is None
    if fault == "SIGKILLed":
        kill_9(s3.pid_file, "the S3 server")
    else:
        s3.stop()
    ctx.say(f"S3 server {fault} " + ("while the drain uploads" if during else "(the drain had already ended!)"))
    if not during:
        result.problems.append(f"the drain ended before the S3 server could be {fault} under it")
    time.sleep(S3_DOWN_S)
    healed = time.monotonic()
    s3.start()
    ctx.say(f"S3 server started again in {time.monotonic() - healed:.0f}s")
    interrupted = drain.wait()
    result.notes.append(
        f"S3 {fault}: the interrupted drain ended with exit {interrupted.returncode}: {interrupted.summary}"
    )
    ctx.say(f"the interrupted drain: exit {interrupted.returncode} {interrupted.summary}")
    return healed
