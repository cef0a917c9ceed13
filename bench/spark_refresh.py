"""One run of the batch assets `refresh_cleaned_and_analytics` (clean every new raw object,
answer every question, publish), in a process of its own so that its time includes starting
Python, Dagster and the Spark session. Reads the settings from the environment (the bucket:
PINTEREST_S3_BUCKET, the master: SPARK_MASTER) and prints one JSON line: the run's outcome, its
timings and every answer as published to PostgreSQL.

    python -m bench.spark_refresh
"""

from __future__ import annotations

import time

STARTED = time.monotonic()

import json  # noqa: E402
import sys  # noqa: E402


def published_answers(settings) -> dict[str, list]:
    import psycopg2

    from pinterest_assets.lib.queries.analytics import QUESTIONS
    from pinterest_common.config import ANALYTICS_DB

    conn = psycopg2.connect(settings.pg_dsn(ANALYTICS_DB))
    try:
        with conn.cursor() as cur:
            out = {}
            for question in QUESTIONS:
                cur.execute(f"SELECT {', '.join(question.columns)} FROM {question.name}")  # names from the code
                out[question.name] = [list(row) for row in cur.fetchall()]
            return out
    finally:
        conn.close()


def main() -> int:
    import dagster as dg

    from devstack.batch import refresh
    from pinterest_assets.definitions import build_definitions
    from pinterest_assets.instance import prepare_instance
    from pinterest_common.config import get_settings

    settings = get_settings()
    prepare_instance(settings)
    imported = time.monotonic()
    with dg.DagsterInstance.get() as instance:
        defs = build_definitions(settings)
        run_started = time.monotonic()
        outcome = refresh(defs, instance)
        run_s = time.monotonic() - run_started
        steps = {
            stat.step_key: round((stat.end_time or 0) - (stat.start_time or 0), 2)
            for stat in instance.get_run_step_stats(outcome.run_id)
        }
    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession()
    if session is not None:
        session.stop()
    result = {
        "success": outcome.success and not outcome.failed_checks,
        "run_success": outcome.success,
        "failed_checks": outcome.failed_checks,
        "master": settings.spark_master,
        "bucket": settings.s3_bucket,
        "import_s": round(imported - STARTED, 2),
        "run_s": round(run_s, 2),
        "steps_s": steps,
        "total_s": round(time.monotonic() - STARTED, 2),
        "answers": published_answers(settings) if outcome.success else {},
    }
    print("BENCH-RESULT " + json.dumps(result, default=str), flush=True)
    return 0 if result["success"] else 1


if __name__ == "__main__":
    sys.exit(main())
