"""`make demo`: the main job end to end on the local stack, then a reconciled report.

Against the stack `make up` started (Kafka, PostgreSQL, S3 server, API, streaming job):
1. the emulator posts `--triples` pin/geo/user triples through the API (with its share of
   deliberately invalid events and replays), each under a client id of its own (`Idempotency-Key`,
   the same one when it retries), writing every event tried to a ledger;
2. one pass of the batch pipeline through the Dagster instance (`make batch`'s code: drain
   runs, then the Spark refresh of the cleaned and analytics assets), so the runs are in the UI;
3. waits until the streaming tables hold every acknowledged event, then observes them in Dagster
   and runs the agreement check (the streaming tables against the raw lake, recomputed by Spark);
4. prints the report: accepted and rejected events, the ledger reconciled by client event against
   Kafka and the raw lake (at least once: a retry may leave copies) and the streaming tables
   (exactly once), the agreement line, the accounting of every acknowledged event as
   cleaned or quarantined exactly once (devstack.accounting, with the quarantine's reasons), every
   asset check's latest result, the first rows of the main answers and the top live profiles,
   and where the UI is.
Exit status 1 when a stage lost or duplicated an acknowledged event, an event is unaccounted
for or twice after cleaning, the streaming tables disagree with the raw lake, an
error-severity check failed, or a step failed (any other WARN check,
e.g. a new category, does not fail the demo). The services stay up; `make down` stops them.

    python -m devstack.demo [--triples N] [--seed S]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg2
import requests

from ingestion_api.traffic import Emulator, EmulatorOptions
from pinterest_assets.instance import prepare_instance
from pinterest_common.config import ANALYTICS_DB, Settings, get_settings
from pinterest_common.spark import build_spark_session

from .accounting import account
from .local_secrets import ensure_local_secrets
from .reconcile import (
    ACKNOWLEDGED,
    ClientKey,
    count_clients,
    kafka_clients,
    raw_lake_clients,
    read_client_ledger,
    streaming_clients,
)
from .stack import Stack

DEFAULT_TRIPLES = 20_000
CATCH_UP_TIMEOUT_S = 900.0
QUARANTINE_SHARE = 0.01  # events the API accepts that cleaning quarantines: the report shows them
MAIN_ANSWERS = ("top_category_per_post_year", "top_category_per_country", "top_category_this_year")
UI_URL = "http://127.0.0.1:3000"


class Progress:
    """Timestamped progress lines: `[demo  42s] ...`."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    def __call__(self, message: str) -> None:
        print(f"[demo {time.monotonic() - self.start:4.0f}s] {message}", flush=True)


def require_healthy_stack(settings: Settings) -> None:
    unhealthy = [row.name for row in Stack(settings).status() if not row.healthy]
    if unhealthy:
        raise SystemExit(
            f"[demo] not running: {', '.join(unhealthy)}. Start the stack with `make up` "
            "(`make demo` does), see `make status` and the logs it lists."
        )


def emulate(settings: Settings, triples: int, seed: int, ledger: Path, say: Progress):
    say(
        f"posting {triples:,} triples ({3 * triples:,} events, about 5% deliberately invalid, {QUARANTINE_SHARE:.0%} "
        "accepted but breaking a cleaning rule, 10% replays) "
        f"to the API at 127.0.0.1:{settings.api_port}; ledger {ledger}"
    )
    options = EmulatorOptions(
        url=f"http://127.0.0.1:{settings.api_port}",
        count=triples,
        batch_size=100,
        concurrency=4,
        seed=seed,
        quarantine_share=QUARANTINE_SHARE,
        api_key=settings.api_keys[0] if settings.api_keys else None,
        ledger=ledger,
    )
    summary = Emulator(options, progress=sys.stdout).run()
    say(f"emulator: {summary.line()}")
    return summary


def run_batch_pipeline(say: Progress) -> bool:
    from devstack.batch import run_batch

    say("batch: draining Kafka into the raw lake, then cleaning and answering (Spark), in the Dagster instance")
    return run_batch(log=say).ok


def wait_for_streaming(settings: Settings, ledger: list[ClientKey], say: Progress, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        found = streaming_clients(settings)
        missing = sum(1 for key in ledger if found[key] == 0)
        if missing == 0:
            say(f"streaming: all {len(ledger):,} acknowledged events are in {settings.streaming_database}")
            return
        if time.monotonic() > deadline:
            say(
                f"streaming: {missing:,} acknowledged events still missing after {timeout_s:.0f}s "
                "(see `make status` and the streaming log)"
            )
            return
        say(f"streaming: waiting for {missing:,} of {len(ledger):,} events to reach PostgreSQL ...")
        time.sleep(5)


def observe_streaming_tables(say: Progress) -> bool:
    from devstack.batch import CONSOLE_LOGS
    from pinterest_assets.definitions import build_definitions
    from pinterest_assets.defs.streaming_tables.jobs import OBSERVE_STREAMING_JOB

    with dg.DagsterInstance.get() as instance:
        job = build_definitions().resolve_job_def(OBSERVE_STREAMING_JOB.name)
        result = job.execute_in_process(run_config=CONSOLE_LOGS, instance=instance, raise_on_error=False)
    say(f"observed the streaming tables in Dagster: run {result.run_id} {'ok' if result.success else 'FAILED'}")
    return result.success


def check_agreement(say: Progress) -> tuple[str, bool]:
    """Run the agreement check (the streaming tables against the raw lake, recomputed with Spark)
    through Dagster: the report's line, and whether the two pipelines agree."""
    from devstack.batch import CONSOLE_LOGS
    from pinterest_assets.definitions import build_definitions
    from pinterest_assets.defs.streaming_tables.agreement import STREAMING_AGREEMENT_JOB

    say("comparing the streaming tables with the raw lake (Spark) ...")
    with dg.DagsterInstance.get() as instance:
        job = build_definitions().resolve_job_def(STREAMING_AGREEMENT_JOB.name)
        result = job.execute_in_process(run_config=CONSOLE_LOGS, instance=instance, raise_on_error=False)
    evaluations = {e.asset_key.to_user_string(): e for e in result.get_asset_check_evaluations()}
    if not result.success or not evaluations:
        return f"agreement: the check failed to run (run {result.run_id})", False
    return agreement_line(evaluations), all(e.passed for e in evaluations.values())


def agreement_line(evaluations: dict[str, dg.AssetCheckEvaluation]) -> str:
    """The report's agreement line from the agreement check's evaluations (by table)."""
    meta: dict[str, dict[str, Any]] = {t: {k: v.value for k, v in e.metadata.items()} for t, e in evaluations.items()}
    windows = {table: meta[table] for table in ("profile_popularity", "category_trends")}
    events = [m for table, m in meta.items() if table not in windows]
    disagreements = sum(m["disagreeing_windows"] for m in windows.values()) + sum(m["disagreeing_days"] for m in events)
    not_yet = sum(m["not_yet_comparable_windows"] for m in windows.values())
    apart = sum(m["lines_without_api_headers"] + m["lines_streamed_with_refused_headers"] for m in events)
    return (
        f"agreement: streaming = lake on {windows['profile_popularity']['compared_windows']:,} windows of "
        f"profile_popularity, {windows['category_trends']['compared_windows']:,} of category_trends, "
        f"{sum(m['compared_events'] for m in events):,} events over {max(m['compared_days'] for m in events)} "
        f"day(s); {disagreements} disagreement(s) ({not_yet:,} windows and "
        f"{sum(m['not_yet_comparable_events'] for m in events):,} events not yet comparable, {apart:,} lines "
        f"whose headers the pipelines treat apart by design); check took {meta['experimental_data']['seconds']:.1f}s"
    )


def check_results() -> list[tuple[str, str]]:
    """(check, outcome) of the latest execution of every asset check in the code location."""
    from pinterest_assets.definitions import build_definitions

    keys = sorted(
        build_definitions().get_repository_def().asset_graph.asset_check_keys,
        key=lambda k: (k.asset_key.to_user_string(), k.name),
    )
    with dg.DagsterInstance.get() as instance:
        latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(keys)
    results = []
    for key in keys:
        record = latest.get(key)
        evaluation = record.evaluation if record else None
        if evaluation is None:
            outcome = "not run" if record is None else "skipped (blocked or planned)"
        elif evaluation.passed:
            outcome = "passed"
        else:
            outcome = "FAILED (ERROR)" if evaluation.severity == dg.AssetCheckSeverity.ERROR else "warning (WARN)"
        results.append((f"{key.asset_key.to_user_string()}.{key.name}", outcome))
    return results


def first_rows(settings: Settings, table: str, limit: int = 5) -> tuple[list[str], list[tuple]]:
    conn = psycopg2.connect(settings.pg_dsn(ANALYTICS_DB))
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT * FROM {table} ORDER BY 1 LIMIT %s", (limit,))  # names from the code
            assert cur.description is not None  # set by a query that returns rows
            return [column.name for column in cur.description], cur.fetchall()
    finally:
        conn.close()


def live_profiles(settings: Settings, limit: int = 5) -> list[dict]:
    headers = {"X-API-Key": settings.api_keys[0]} if settings.api_keys else {}
    answer = requests.get(
        f"http://127.0.0.1:{settings.api_port}/recommendations/profiles",
        params={"limit": limit},
        headers=headers,
        timeout=30,
    )
    answer.raise_for_status()
    return answer.json()["profiles"]


def print_table(title: str, columns: list[str], rows: list[tuple]) -> None:
    print(f"\n  {title}")
    widths = [max([len(c)] + [len(str(row[i])) for row in rows]) for i, c in enumerate(columns)]
    print("    " + "  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for row in rows:
        print("    " + "  ".join(str(v).ljust(w) for v, w in zip(row, widths)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.demo", description=__doc__ and __doc__.splitlines()[0])
    parser.add_argument("--triples", type=int, default=DEFAULT_TRIPLES, help="triples to post (default %(default)s)")
    parser.add_argument("--seed", type=int, default=int(time.time()) % 100_000, help="emulator seed")
    parser.add_argument(
        "--catch-up-timeout",
        type=float,
        default=CATCH_UP_TIMEOUT_S,
        help="seconds to wait for the streaming tables (default %(default)s)",
    )
    args = parser.parse_args(argv)

    ensure_local_secrets()
    settings = get_settings()
    say = Progress()
    require_healthy_stack(settings)
    prepare_instance(settings)  # DAGSTER_HOME: the instance `make ui` shows
    ledger_path = settings.home / "demo" / f"ledger-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.jsonl"
    ledger_path.parent.mkdir(parents=True, exist_ok=True)

    emulator = emulate(settings, args.triples, args.seed, ledger_path, say)
    batch_ok = run_batch_pipeline(say)
    ledger = read_client_ledger([ledger_path])
    acknowledged = ledger.keys(ACKNOWLEDGED)
    wait_for_streaming(settings, acknowledged, say, args.catch_up_timeout)
    observed = observe_streaming_tables(say)
    agreement, agreed = check_agreement(say)

    say("reconciling the ledger by client event against every store ...")
    kafka = kafka_clients(settings)
    stages = [
        count_clients("Kafka topics", ledger, kafka, exact=False),
        count_clients("raw lake (S3)", ledger, raw_lake_clients(settings), exact=False, upstream=kafka),
        count_clients("streaming + quarantine", ledger, streaming_clients(settings), exact=True),
    ]
    say("sorting every acknowledged event into the cleaned tables or the quarantine (Spark) ...")
    spark = build_spark_session(settings, "pinterest-demo-accounting")
    try:
        accounting = account(spark, settings, acknowledged)
    finally:
        spark.stop()
    checks = check_results()

    print("\n================ demo report ================")
    print(
        f"  events sent {emulator.sent:,}: accepted {emulator.accepted:,} ({emulator.intended_quarantine:,} built "
        f"to break a cleaning rule), rejected {emulator.rejected:,} "
        f"({emulator.intended_invalid:,} deliberately invalid, dead-lettered to pinterest.dlq), "
        f"unexpected {emulator.unexpected:,}, failed {emulator.failed:,}"
    )
    print(
        "\n  reconciliation by client event (this run's ledger: every event the emulator tried, retries "
        "under the same client id)"
    )
    print(
        f"    ledger: {ledger.tried:,} events tried, {ledger.acknowledged:,} acknowledged, {ledger.retried:,} retried"
    )
    for stage in stages:
        print("    " + stage.line())
    print("    " + accounting.line())
    print(f"\n  {agreement}")
    print("\n  asset checks (latest result)")
    for name, outcome in checks:
        print(f"    {name:<72} {outcome}")
    for table in MAIN_ANSWERS:
        print_table(f"{table} (PostgreSQL {ANALYTICS_DB})", *first_rows(settings, table))
    profiles = live_profiles(settings)
    print_table(
        "top live profiles: GET /recommendations/profiles?limit=5",
        ["rank", "poster_name", "popularity_score", "pins_posted"],
        [(p["rank"], p["poster_name"], round(p["popularity_score"], 2), p["pins_posted"]) for p in profiles],
    )
    print(f"\n  Dagster UI: `make ui`, then open {UI_URL} (runs, materialisations, observations, checks)")
    print("  services stay up: `make status`; stop them with `make down`\n")

    problems = [problem for stage in stages for problem in stage.problems()]
    if not accounting.ok:
        problems.append(f"cleaned + quarantined: {accounting.unaccounted} unaccounted, {accounting.twice} twice")
    # A WARN check reports the data (a new category, a large quarantine); only ERROR ones mean a fault.
    problems += [f"check {name} {outcome}" for name, outcome in checks if outcome.startswith("FAILED")]
    problems += [
        what
        for what, ok in (
            ("the batch pipeline failed", batch_ok),
            ("observing the streaming tables failed", observed),
            ("the streaming tables disagree with the raw lake (see the agreement line)", agreed),
            ("the emulator saw unexpected answers", not emulator.unexpected),
            ("the emulator gave up on events", not emulator.failed),
        )
        if not ok
    ]
    if problems:
        print("[demo] FAILED: " + "; ".join(problems))
        return 1
    print(
        "[demo] ok: every acknowledged event is in Kafka and the raw lake (with any retried copies), in the "
        "streaming tables exactly once, cleaned or quarantined exactly once, the streaming tables agree with the raw "
        "lake, and no error-severity asset check failed"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
