"""Run the fault scenarios on a throw-away stack (devstack/chaos/__init__.py explains them).

    python -m devstack.chaos [--scenarios 1,3,...] [--events N]

Exit status 1 if a scenario lost an acknowledged event, held an event twice downstream, or failed,
or if the final batch pass failed or left an acknowledged event of the shared stack's scenarios
unaccounted or twice in the cleaned tables and quarantines.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime

from pinterest_common.config import get_settings

from ..fresh import fresh_stack
from ..jars import SetupError
from ..local_secrets import ensure_local_secrets
from .drain_faults import drain_killed, s3_restarted
from .garbage import garbage_in_topics
from .harness import Context, Progress, check_cleaned_tables
from .kafka_faults import broker_killed, cluster_leader_killed
from .report import CleanedCheck, ScenarioResult, exit_code, render_details, render_table
from .streaming_faults import driver_killed, postgres_restarted

DEFAULT_EVENTS = 300
SCENARIOS: dict[int, tuple[str, Callable[[Context, ScenarioResult], None]]] = {
    1: ("Kafka broker SIGKILLed", broker_killed),
    2: ("3-broker cluster, leader SIGKILLed x3", cluster_leader_killed),
    3: ("drain SIGKILLed mid-upload/before commit", drain_killed),
    4: ("streaming driver SIGKILLed after a commit", driver_killed),
    5: ("PostgreSQL SIGKILLed mid-write, then restarted", postgres_restarted),
    6: ("S3 server SIGKILLed, then restarted, under drains", s3_restarted),
    7: ("garbage in the Kafka topics", garbage_in_topics),
}
OWN_STACK = {2}  # scenarios that start a stack of their own


def parse_scenarios(text: str) -> list[int]:
    try:
        chosen = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of numbers: {text!r}") from None
    unknown = [n for n in chosen if n not in SCENARIOS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"unknown scenario(s) {unknown or text!r}; choose from {sorted(SCENARIOS)}")
    return chosen


def run_scenario(ctx: Context, number: int) -> ScenarioResult:
    title, scenario = SCENARIOS[number]
    result = ScenarioResult(number, title)
    ctx.say(f"=== scenario {number}: {title} ===")
    started = time.monotonic()
    try:
        if number not in OWN_STACK:
            ctx.ensure_healthy()
        scenario(ctx, result)
    except Exception as exc:  # noqa: BLE001 - a failed scenario is reported, the others still run
        result.error = f"{type(exc).__name__}: {str(exc).strip()[:2000]}"
        traceback.print_exc()
    result.elapsed_s = time.monotonic() - started
    ctx.say(
        f"=== scenario {number}: {result.verdict} in {result.elapsed_s:.0f}s"
        + ("" if result.ok else ": " + "; ".join(result.failures()))
    )
    return result


def _interrupted(signum, _frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.chaos", description=__doc__ and __doc__.splitlines()[0])
    parser.add_argument(
        "--scenarios",
        type=parse_scenarios,
        default=sorted(SCENARIOS),
        help="comma-separated scenario numbers (default: all): "
        + "; ".join(f"{n} {t}" for n, (t, _) in SCENARIOS.items()),
    )
    parser.add_argument(
        "--events", type=int, default=DEFAULT_EVENTS, help="events posted per scenario (default %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=int(time.time()) % 100_000, help="emulator seed")
    parser.add_argument("--keep-state", action="store_true", help="keep the stack's directory (logs) afterwards")
    args = parser.parse_args(argv)
    if args.events < 30:
        parser.error("--events must be at least 30")

    # SIGTERM (and SIGINT, even when a non-interactive shell ignores it) unwind through the
    # `finally` blocks that stop the services.
    signal.signal(signal.SIGTERM, _interrupted)
    signal.signal(signal.SIGINT, _interrupted)
    say = Progress()
    ensure_local_secrets()
    settings = get_settings()
    workdir = settings.home / "chaos" / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    workdir.mkdir(parents=True, exist_ok=True)
    say(
        f"scenarios {', '.join(map(str, args.scenarios))}, {args.events} events each; "
        f"ledgers and drain logs in {workdir}"
    )
    shared = [n for n in args.scenarios if n not in OWN_STACK]
    results: list[ScenarioResult] = []
    cleaned: CleanedCheck | None = None
    if shared:
        try:
            with fresh_stack(prefix="chaos-", keep_state=args.keep_state) as stack_settings:
                say(f"stack up in {stack_settings.stack_dir}")
                ctx = Context(stack_settings, workdir, say, args.events, args.seed)
                results += [run_scenario(ctx, number) for number in shared]
                cleaned = check_cleaned_tables(ctx, shared)
        except (SetupError, TimeoutError, OSError, subprocess.CalledProcessError) as exc:
            print(f"[chaos] error: the stack did not start or stop: {exc}", file=sys.stderr)
            results.append(ScenarioResult(0, "the shared stack", error=str(exc)))
    for number in (n for n in args.scenarios if n in OWN_STACK):  # after the shared stack stopped
        results.append(run_scenario(Context(settings, workdir, say, args.events, args.seed), number))

    print("\n================ chaos report ================")
    print(render_details(results))
    print()
    print(render_table(results))
    if cleaned is not None:
        print()
        print(cleaned.render())
    print(f"\ntotal {time.monotonic() - say.start:.0f}s")
    code = exit_code(results, cleaned)
    batch = "; every acknowledged event accounted for once in the cleaned tables" if cleaned is not None else ""
    print(
        f"[chaos] ok: no acknowledged event lost, no event held twice downstream, in any scenario{batch}"
        if code == 0
        else "[chaos] FAILED: see what is marked FAILED above"
    )
    return code


if __name__ == "__main__":
    sys.exit(main())
