"""Two pipelines, one truth: the agreement check (`streaming_agreement`) passes on the session
stack's streaming tables once the drain and the streaming job have caught up, and turns to WARN,
naming the window, the key and both values, when a streaming row is changed or an event is
dropped (its row deleted and its windows recomputed, as a job that dropped a late event would
leave them). Every change is undone afterwards: the session's streaming tables are shared."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
import pytest

from devstack import batch
from pinterest_assets.definitions import build_definitions
from pinterest_assets.defs.streaming_tables.agreement import AGREEMENT_CHECK, STREAMING_AGREEMENT_JOB
from pinterest_assets.instance import export_environment, prepare_instance
from pinterest_common import kafka_io
from pinterest_common.kafka_admin import EVENT_TOPICS
from pinterest_common.streaming_contract import MINUTE, PROFILE_WINDOWS, TREND_WINDOW
from streaming.aggregates import NEW_PINS_TABLE, recompute_touched_windows
from streaming.ddl import TABLE_COLUMNS
from streaming.sink import WRITER_LOCK
from tests.fixtures.streaming import connect, kafka_events, post_triples, wait_until_caught_up

pytestmark = pytest.mark.integration

CHECKED = ("profile_popularity", "category_trends", "experimental_data", "geo_data", "user_data")


def run_agreement(settings) -> dict[str, dg.AssetCheckEvaluation]:
    """One run of the agreement job through Dagster: its evaluation per table."""
    export_environment(settings)
    defs = build_definitions(settings)
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def(STREAMING_AGREEMENT_JOB.name).execute_in_process(instance=instance)
    assert result.success
    evaluations = {e.asset_key.to_user_string(): e for e in result.get_asset_check_evaluations()}
    assert evaluations.keys() == set(CHECKED)
    assert {e.check_name for e in evaluations.values()} == {AGREEMENT_CHECK}
    return evaluations


def meta(evaluation: dg.AssetCheckEvaluation) -> dict:
    return {name: value.value for name, value in evaluation.metadata.items()}


def differences(evaluation: dg.AssetCheckEvaluation) -> list[dict]:
    table = evaluation.metadata["differences"]
    assert isinstance(table, dg.TableMetadataValue)
    return [dict(record.data) for record in table.records]


def wait_for_heartbeat(settings) -> None:
    """Until the streaming job's heartbeat reports every Kafka record of the event topics consumed."""
    consumer = kafka_io.open_consumer(settings.kafka, 10_000, "pinterest-agreement-test")
    try:
        ends = {
            (topic, str(p)): offsets.end
            for topic in EVENT_TOPICS
            for p, offsets in (kafka_io.partition_offsets(consumer, topic) or {}).items()
        }
    finally:
        consumer.close()
    deadline = time.monotonic() + 120
    while True:
        conn = connect(settings, settings.streaming_database)
        with conn.cursor() as cur:
            cur.execute("SELECT end_offsets FROM streaming_status")
            consumed = (cur.fetchone() or [None])[0] or {}
        conn.close()
        if all(consumed.get(topic, {}).get(p, 0) >= end for (topic, p), end in ends.items()):
            return
        assert time.monotonic() < deadline, "the heartbeat did not report every record consumed"
        time.sleep(1)


@pytest.fixture(scope="module")
def agreed(stack_settings):
    """Events posted, the streaming job caught up, the lake drained, the first minute of the
    events closed longer than the horizon's margin ago; then one passing run of the check."""
    settings = stack_settings
    started = datetime.now(UTC)
    post_triples(settings, 200, seed=2020)
    wait_until_caught_up(settings, settings.streaming_database, kafka_events(settings))
    wait_for_heartbeat(settings)
    prepare_instance(settings)
    logs: list[str] = []
    with dg.DagsterInstance.get() as instance:
        summary = batch.run_batch(build_definitions(settings), instance, log=logs.append, refresh_downstream=False)
    assert summary.ok, "\n".join(logs[-30:])
    first_minute_end = MINUTE.latest_start(started) + timedelta(seconds=MINUTE.length_s)
    time.sleep(max(0.0, (first_minute_end + timedelta(seconds=35) - datetime.now(UTC)).total_seconds()))
    began = time.monotonic()
    evaluations = run_agreement(settings)
    print(f"agreement check: {time.monotonic() - began:.1f}s for the run; metadata per table:")
    for table, evaluation in evaluations.items():
        print(f"  {table}: { ({k: v for k, v in meta(evaluation).items() if k != 'differences'}) }")
    return settings, evaluations


def test_on_caught_up_pipelines_every_agreement_check_passes(agreed):
    _, evaluations = agreed
    for table, evaluation in evaluations.items():
        assert evaluation.passed, (table, differences(evaluation))
        assert evaluation.severity == dg.AssetCheckSeverity.WARN
        assert meta(evaluation)["seconds"] > 0
    assert meta(evaluations["profile_popularity"])["compared_windows"] > 0
    assert meta(evaluations["category_trends"])["compared_windows"] > 0
    for table in ("experimental_data", "geo_data", "user_data"):
        assert meta(evaluations[table])["compared_events"] >= 200, table  # ours, and earlier tests'


def _closed_minute_row(settings, horizon: datetime, where: str) -> dict:
    conn = connect(settings, settings.streaming_database)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT * FROM profile_popularity WHERE window_name = %s AND window_end <= %s AND "
                f"{where} ORDER BY window_start DESC, poster_name LIMIT 1",
                (MINUTE.name, horizon),
            )
            assert cur.description is not None  # a SELECT
            names = [d.name for d in cur.description]
            row = cur.fetchone()
            assert row is not None, "no closed minute window"
            return dict(zip(names, row))
    finally:
        conn.close()


def _horizon(evaluations) -> datetime:
    return datetime.fromtimestamp(meta(evaluations["experimental_data"])["horizon"], UTC)


def test_a_changed_profile_popularity_row_warns_with_its_window_key_and_both_values(agreed):
    settings, evaluations = agreed
    row = _closed_minute_row(settings, _horizon(evaluations), "TRUE")
    key = (row["window_name"], row["window_start"], row["poster_name"])
    conn = connect(settings, settings.streaming_database)
    update = "UPDATE profile_popularity SET pins_posted = %s WHERE window_name = %s AND window_start = %s AND poster_name = %s"
    try:
        with conn.cursor() as cur:
            cur.execute(update, (row["pins_posted"] + 1, *key))
        warned = run_agreement(settings)
    finally:
        with conn.cursor() as cur:
            cur.execute(update, (row["pins_posted"], *key))
        conn.close()
    popularity = warned["profile_popularity"]
    assert not popularity.passed and popularity.severity == dg.AssetCheckSeverity.WARN
    assert meta(popularity)["disagreeing_windows"] == 1
    assert differences(popularity) == [
        {
            "window_name": row["window_name"],
            "window_start": row["window_start"].astimezone(UTC).isoformat(),
            "poster_name": row["poster_name"],
            "column": "pins_posted",
            "lake": str(row["pins_posted"]),
            "streaming": str(row["pins_posted"] + 1),
        }
    ]
    assert all(warned[table].passed for table in CHECKED if table != "profile_popularity")


def _recompute_windows(cur, pin: dict) -> None:
    """The aggregate rows of `pin`'s windows deleted and recomputed from experimental_data as the
    sink recomputes them, under its lock: as a job that never stored the pin would hold them."""
    cur.execute("SELECT pg_advisory_xact_lock(%s)", (WRITER_LOCK,))
    for window in PROFILE_WINDOWS:
        cur.execute(
            "DELETE FROM profile_popularity WHERE window_name = %s AND poster_name = %s AND window_start = ANY(%s)",
            (window.name, pin["poster_name"], window.starts(pin["received_at"])),
        )
    cur.execute(
        "DELETE FROM category_trends WHERE category = %s AND window_start = %s",
        (pin["category"], TREND_WINDOW.latest_start(pin["received_at"])),
    )
    cur.execute(NEW_PINS_TABLE)
    cur.execute("INSERT INTO new_pins VALUES (%s, %s, %s)", (pin["poster_name"], pin["category"], pin["received_at"]))
    recompute_touched_windows(cur)


def _expected(key: dict, count: int, column: str) -> dict:
    """The difference a dropped event makes to a window that counted `count` events with it."""
    if count == 1:
        return {**key, "column": "(row)", "lake": "present", "streaming": "absent"}
    return {**key, "column": column, "lake": str(count), "streaming": str(count - 1)}


def test_a_dropped_event_warns_with_its_day_count_and_its_windows(agreed):
    settings, evaluations = agreed
    window = _closed_minute_row(settings, _horizon(evaluations), "categories <> '{}'")
    columns = TABLE_COLUMNS["pin"]
    conn = connect(settings, settings.streaming_database)
    conn.autocommit = False
    with conn, conn.cursor() as cur:
        cur.execute(
            f"SELECT {', '.join(columns)} FROM experimental_data WHERE poster_name = %s AND received_at >= %s "
            "AND received_at < %s AND category IS NOT NULL LIMIT 1",
            (window["poster_name"], window["window_start"], window["window_end"]),
        )
        found = cur.fetchone()
        assert found is not None
        pin: dict[str, Any] = dict(zip(columns, found))
        cur.execute(
            "SELECT events FROM category_trends WHERE category = %s AND window_start = %s",
            (pin["category"], window["window_start"]),
        )
        (trend_events,) = cur.fetchone() or (0,)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("DELETE FROM experimental_data WHERE event_id = %s", (pin["event_id"],))
            _recompute_windows(cur, pin)
        warned = run_agreement(settings)
    finally:
        with conn, conn.cursor() as cur:
            cur.execute(
                f"INSERT INTO experimental_data ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))}) "
                "ON CONFLICT DO NOTHING",
                [pin[c] for c in columns],
            )
            _recompute_windows(cur, pin)
        conn.close()
    start = window["window_start"].astimezone(UTC).isoformat()
    pins = warned["experimental_data"]
    assert not pins.passed and pins.severity == dg.AssetCheckSeverity.WARN
    [counted] = differences(pins)
    assert counted == {
        "day": pin["received_at"].astimezone(UTC).date().isoformat(),
        "lake_events": counted["streaming_events"] + 1,
        "streaming_events": counted["streaming_events"],
        "only_in_lake": pin["event_id"],
        "only_in_streaming": "",
    }
    popularity = warned["profile_popularity"]
    assert not popularity.passed and popularity.severity == dg.AssetCheckSeverity.WARN
    minute = {"window_name": MINUTE.name, "window_start": start, "poster_name": pin["poster_name"]}
    assert _expected(minute, window["pins_posted"], "pins_posted") in differences(popularity)
    trends = warned["category_trends"]
    assert not trends.passed and trends.severity == dg.AssetCheckSeverity.WARN
    trend = {"category": pin["category"], "window_start": start}
    assert _expected(trend, trend_events, "events") in differences(trends)
    assert warned["geo_data"].passed and warned["user_data"].passed
