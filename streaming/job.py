"""The streaming job: Kafka -> cleaned events -> PostgreSQL, one transaction per micro-batch.

One structured streaming query (`foreachBatch`, processing-time trigger) reads the three topics;
each micro-batch is cleaned and turned into COPY lines, events and quarantined records (those
the contract's types and rules refuse) alike, all in the Spark plan (streaming/source.py); the
driver collects the lines and hands them to the sink (streaming/sink.py), which applies them
exactly once. The plan keeps no state: the checkpoint (offsets) is only ever added to, but for
the dedup state earlier releases kept there, removed once (`drop_dedup_state`). The main
thread writes the heartbeat (streaming/status.py), restarts the query after a failure (with
backoff), and on SIGTERM or SIGINT lets the running micro-batch finish, stops the query and
exits 0.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from pathlib import Path
from typing import Any

import psycopg2
from pyspark.errors import StreamingQueryException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming.query import StreamingQuery

from pinterest_common import pg_roles
from pinterest_common.config import PG_STREAMING, Settings
from pinterest_common.kafka_admin import EVENT_TOPICS, ensure_topics
from pinterest_common.spark import build_spark_session
from pinterest_common.streaming_contract import QUERY_NAME

from .ddl import ensure_database, ensure_schema
from .sink import MicroBatch, PostgresSink
from .source import QUARANTINED, api_records, cleaned, copy_lines, kafka_records, lines_by_target
from .status import Heartbeat

log = logging.getLogger(__name__)

HEARTBEAT_S = 2  # whole seconds: StreamingQuery.awaitTermination's timeout
RESTART_BACKOFF_S = (5.0, 60.0)  # first and largest pause before restarting a failed query
STOP_TIMEOUT_S = 60.0  # longest wait for the running micro-batch on SIGTERM


# A long-running driver beside the rest of a small stack: its heap starts small (the JVM's
# default initial heap, 1/64 of the RAM, would commit the whole driver memory) under the serial
# collector, with a smaller code cache and thread stacks.
STREAMING_DRIVER = {
    "spark.driver.extraJavaOptions": "-Xms64m -XX:+UseSerialGC -XX:ReservedCodeCacheSize=64m -Xss512k",
}


def streaming_session(settings: Settings) -> SparkSession:
    """The shared Spark configuration (Kafka connector included), with the streaming driver's."""
    return build_spark_session(settings, QUERY_NAME, STREAMING_DRIVER)


def drop_dedup_state(spark: SparkSession, checkpoint: str) -> None:
    """Remove `<checkpoint>/state`, the dedup state of the releases before issue 18, with which
    Spark refuses a plan that has no such operator; offsets and commits stay, so the query
    resumes where it stopped (the sink's keys still store each event once)."""
    # Py4J: the JVM's classes and objects are looked up at run time (Any).
    jvm: Any = spark.sparkContext._jvm
    jsc: Any = spark.sparkContext._jsc
    state = jvm.org.apache.hadoop.fs.Path(f"{checkpoint.rstrip('/')}/state")
    fs = state.getFileSystem(jsc.hadoopConfiguration())
    if fs.exists(state):
        log.warning("removing %s, the dedup state of an earlier release: the plan keeps no state", state)
        fs.delete(state, True)


def _writer_ready(settings: Settings) -> bool:
    """The streaming writer reaches its database, may create there and owns what is there."""
    try:
        conn = psycopg2.connect(settings.pg_dsn(settings.streaming_database, PG_STREAMING), connect_timeout=10)
    except psycopg2.OperationalError:
        return False  # no such database or role yet
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT has_schema_privilege('public', 'CREATE') AND NOT EXISTS ("
                "  SELECT 1 FROM pg_class WHERE relnamespace = 'public'::regnamespace"
                "  AND relkind IN ('r', 'v') AND relowner <> (SELECT oid FROM pg_roles WHERE rolname = current_user))"
            )
            row = cur.fetchone()
            assert row is not None  # a SELECT without FROM returns one row
            return bool(row[0])
    finally:
        conn.close()


def prepare_database(settings: Settings) -> None:
    """Create the streaming tables when missing, as the streaming writer (PINTEREST_PG_STREAMING_USER),
    which owns them, granting the API's role SELECT on what it reads. Where the database or the
    roles are not set up yet (e.g. a new PINTEREST_STREAMING_DATABASE), the admin creates the
    database and the grants first (pinterest_common/pg_roles.py)."""
    if not _writer_ready(settings):
        connect = lambda database: psycopg2.connect(settings.pg_dsn(database))  # noqa: E731
        admin = connect("postgres")
        admin.autocommit = True
        try:
            ensure_database(admin, settings.streaming_database)
            pg_roles.ensure_roles(admin, settings)
            pg_roles.grant_streaming(admin, connect, settings)
        finally:
            admin.close()
    conn = psycopg2.connect(settings.pg_dsn(settings.streaming_database, PG_STREAMING))
    try:
        ensure_schema(conn, api_reader=settings.pg_api_user)
    finally:
        conn.close()


class StreamingJob:
    def __init__(self, settings: Settings, checkpoint: str, trigger_seconds: float, status_file: Path | None = None):
        self.settings = settings
        self.checkpoint = checkpoint
        self.trigger = f"{round(trigger_seconds * 1000)} milliseconds"
        dsn = settings.pg_dsn(settings.streaming_database, PG_STREAMING)  # the writer role
        self.sink = PostgresSink(dsn)
        self.heartbeat = Heartbeat(dsn, status_file)
        self._stopping = threading.Event()
        self._spark: SparkSession | None = None

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self._stopping.set())
        prepare_database(self.settings)
        ensure_topics(self.settings, topics=EVENT_TOPICS)
        self._spark = streaming_session(self.settings)
        self._spark.sparkContext.setLogLevel("WARN")
        drop_dedup_state(self._spark, self.checkpoint)
        log.info(
            "streaming %s into database %s, checkpoint %s, trigger %s",
            ", ".join(EVENT_TOPICS),
            self.settings.streaming_database,
            self.checkpoint,
            self.trigger,
        )
        try:
            self._run_until_stopped()
        finally:
            self.heartbeat.beat(None, False, [])
            self.heartbeat.close()
            self.sink.close()
            self._spark.stop()
        log.info("stopped")
        return 0

    def _run_until_stopped(self) -> None:
        backoff = RESTART_BACKOFF_S[0]
        while not self._stopping.is_set():
            query = self._start()
            try:
                self._watch(query)
            except StreamingQueryException as exc:
                log.error("query failed: %s", exc)
            if not self._stopping.is_set():
                log.warning("restarting the query in %.0fs", backoff)
                self.heartbeat.beat(query.id, False, [])
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, RESTART_BACKOFF_S[1])

    def _start(self) -> StreamingQuery:
        assert self._spark is not None  # run() starts the session first
        records = kafka_records(self._spark, self.settings)
        return (
            copy_lines(cleaned(api_records(records), self.settings.relaxed_rules))
            .writeStream.queryName(QUERY_NAME)
            .foreachBatch(self._apply)
            .option("checkpointLocation", self.checkpoint)
            .trigger(processingTime=self.trigger)
            .start()
        )

    def _watch(self, query: StreamingQuery) -> None:
        """Beat until the query ends (raises StreamingQueryException if it failed) or a stop is
        asked for; then let the running micro-batch finish and stop the query. Logs where each
        micro-batch with input spent its time (Spark's durationMs: planning, the foreachBatch,
        offsets), the profile of the job."""
        logged_batch = -1
        while not self._stopping.is_set():
            progresses = [json.loads(p.json) for p in query.recentProgress]
            self.heartbeat.beat(query.id, True, progresses)
            for progress in progresses:
                if progress["batchId"] > logged_batch and progress.get("numInputRows"):
                    log.info(
                        "batch %d took %s ms: %s",
                        progress["batchId"],
                        progress["durationMs"].get("triggerExecution"),
                        ", ".join(
                            f"{k} {v}"
                            for k, v in sorted(progress["durationMs"].items())
                            if k != "triggerExecution" and v
                        ),
                    )
            logged_batch = max([logged_batch, *(p["batchId"] for p in progresses)])
            if query.awaitTermination(HEARTBEAT_S):
                return
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while query.status["isTriggerActive"] and time.monotonic() < deadline:
            time.sleep(0.2)
        query.stop()

    def _apply(self, batch: DataFrame, batch_id: int) -> None:
        """foreachBatch: collect the micro-batch's COPY lines, then apply them in one transaction."""
        started = time.monotonic()
        lines = lines_by_target(batch.collect())
        quarantined = lines.pop(QUARANTINED)
        if not any(lines.values()) and not quarantined:
            return
        assert self._spark is not None  # run() starts the session before the query
        query_id = next(q.id for q in self._spark.streams.active if q.name == QUERY_NAME)
        counts = ", ".join(f"{len(rows)} {name}" for name, rows in lines.items())
        counts += f" events, {len(quarantined)} quarantined"
        collected = time.monotonic()
        if self.sink.apply(MicroBatch(query_id, batch_id, lines, quarantined)):
            # Quarantined records (no cleanable event) are in the table quarantined_events.
            level = logging.WARNING if quarantined else logging.INFO
            log.log(
                level,
                "batch %d: %s, collected in %.2fs, applied in %.2fs",
                batch_id,
                counts,
                collected - started,
                time.monotonic() - collected,
            )
        else:
            log.info("batch %d of query %s was applied before: replay skipped (%s)", batch_id, query_id, counts)
