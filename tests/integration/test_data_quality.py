"""Bad data never stops the platform (docs/DATA_QUALITY.md), end to end on a stack of its own.

Through the real API: one event of every kind the API refuses (422 naming the field and the
rule), one event of every kind cleaning refuses (accepted, then quarantined), a clean triple with
a category nobody knew; straight into Kafka, garbage from another writer. Then `make batch`
twice: both pass, the analytics count the clean triple and its new category (a WARN check
reports it), every refused event is in its quarantine with its reason, in the batch lake and in
the streaming job alike, and every acknowledged event is cleaned or quarantined exactly once.
Then `make requarantine` after relaxing a rule, twice; then rows a faulty pipeline would write,
which fail every blocking check and stop the analytics.

On the same stack and batch passes, a client's retries: one triple posted three times per event
under one Idempotency-Key each (first while Kafka is frozen, answered 503; then with a client
timeout shorter than the answer; then acknowledged) is one row per event in the cleaned tables
and the streaming tables, and counted once in the analytics, while the raw lake holds every copy
that Kafka holds.

The expected reasons are written down per case here, not derived from the code under test.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import psycopg2
import pytest
import requests
from kafka import KafkaProducer

from devstack.fresh import settings_stack
from devstack.process import read_pid
from devstack.reconcile import api_records
from pinterest_common.config import ANALYTICS_DB, REPO_ROOT
from pinterest_common.records import RecordMetadata
from pinterest_common.schema import RELAXABLE_RULES
from tests.fixtures.pipeline import api_url, run_batch, s3_client

pytestmark = pytest.mark.integration

RUN = uuid.uuid4().hex[:8]
COUNTRY = f"Quarantinia {RUN}"  # only this module's clean triple has it
NEW_CATEGORY = f"gardening-{RUN}"
RELAXED = "age_at_least_13"
JOINED_2011 = "2011-03-04 05:06:07"  # the only user who joined in 2011: the one under 13


def _at(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%d %H:%M:%S")


def triple(ind: int, pin: dict | None = None, geo: dict | None = None, user: dict | None = None) -> dict[str, dict]:
    category = (pin or {}).get("category", "travel")
    return {
        "pin": {
            "index": ind,
            "unique_id": str(uuid.uuid4()),
            "title": "A title",
            "description": "A description",
            "poster_name": f"Poster {ind}",
            "follower_count": "12k",
            "tag_list": "a,b",
            "is_image_or_video": "image",
            "image_src": "https://example.invalid/i.jpg",
            "downloaded": 1,
            "save_location": f"Local save in /data/{category}",
            "category": category,
            **(pin or {}),
        },
        "geo": {
            "ind": ind,
            "timestamp": "2021-05-06 07:08:09",
            "latitude": 12.5,
            "longitude": -45.25,
            "country": COUNTRY if not pin else "Elsewhere",
            **(geo or {}),
        },
        "user": {
            "ind": ind,
            "first_name": "Ada",
            "last_name": f"L{ind}",
            "age": 30,
            "date_joined": "2016-01-02 03:04:05",
            **(user or {}),
        },
    }


# (event type, change, reason): accepted by the API, quarantined by cleaning.
CLEANING_CASES = [
    ("pin", {"unique_id": "pin-not-a-uuid"}, "unique_id_is_uuid"),
    ("pin", {"downloaded": 7}, "downloaded_is_flag"),
    ("pin", {"save_location": "Somewhere else"}, "save_location_is_path"),
    ("geo", {"timestamp": "2009-06-01 10:00:00"}, "timestamp_not_before_launch"),
    ("geo", {"timestamp": _at(timedelta(hours=2))}, "timestamp_not_after_receipt"),
    ("user", {"age": 12, "date_joined": JOINED_2011}, "age_at_least_13"),
    ("user", {"date_joined": "2005-01-01 00:00:00"}, "date_joined_not_before_launch"),
    ("user", {"date_joined": _at(timedelta(hours=2))}, "date_joined_not_after_receipt"),
]

# (event type, change, field, rule or None for a type problem): answered 422.
EDGE_CASES = [
    ("pin", {"index": -1}, "index", "index_in_range"),
    ("pin", {"unique_id": "   "}, "unique_id", "unique_id_not_blank"),
    ("pin", {"title": 5}, "title", None),
    ("pin", {"downloaded": "yes"}, "downloaded", None),
    ("geo", {"ind": 2**31}, "ind", "ind_in_range"),
    ("geo", {"latitude": 91}, "latitude", "latitude_in_range"),
    ("geo", {"longitude": "-180.5"}, "longitude", "longitude_in_range"),
    ("geo", {"timestamp": _at(timedelta(days=3))}, "timestamp", "timestamp_not_far_future"),
    ("geo", {"timestamp": "28/08/2020"}, "timestamp", None),
    ("user", {"age": 121}, "age", "age_plausible"),
    ("user", {"age": "twelve"}, "age", None),
    ("user", {"date_joined": _at(timedelta(days=3))}, "date_joined", "date_joined_not_far_future"),
    ("user", {"first_name": None}, "first_name", None),
]

# (description, value, with the API's (forged) headers, reason): written by another producer.
GARBAGE = [
    ("not JSON", b"{not json", True, "value_not_json"),
    ("not UTF-8", b"\xff\xfe garbage", True, "value_not_utf8"),
    ("no headers", None, False, "invalid_headers"),  # a valid event, but not from the API
]


def test_the_cases_cover_every_cleaning_rule():
    assert sorted({reason for _, _, reason in CLEANING_CASES}) == sorted(RELAXABLE_RULES)


def _post(settings, event_type: str, event: dict) -> requests.Response:
    return requests.post(f"{api_url(settings)}/{event_type}/", json=event, timeout=30)


def _write_garbage(settings, base_ind: int) -> dict[tuple[str, int, int], str]:
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    written = {}
    try:
        for i, (_, value, headers, reason) in enumerate(GARBAGE):
            event = triple(base_ind + i)["user"]
            value = value if value is not None else json.dumps(event).encode()
            metadata = producer.send(
                "pinterest.user",
                key=b"garbage",
                value=value,
                headers=RecordMetadata.new("user").headers() if headers else [],
            ).get(30)
            written[("pinterest.user", metadata.partition, metadata.offset)] = reason
    finally:
        producer.close()
    return written


def _rows(settings, database: str, query: str, *args) -> list[tuple]:
    conn = psycopg2.connect(settings.pg_dsn(database))
    try:
        with conn.cursor() as cur:
            cur.execute(query, args)
            return cur.fetchall()
    finally:
        conn.close()


def _quarantine(settings, event_type: str) -> dict[str, str]:
    """event_id -> reason of the batch quarantine in PostgreSQL."""
    table = {"pin": "quarantined_pins", "geo": "quarantined_geo", "user": "quarantined_users"}[event_type]
    return dict(_rows(settings, ANALYTICS_DB, f"SELECT event_id, reason FROM {table} WHERE event_id IS NOT NULL"))


def _batch(env: dict | None = None, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "devstack.batch", *args],
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=1800,
    )


RETRY_COUNTRY = f"Retryland {RUN}"


def _post_named(settings, event_type: str, event: dict, key: str, timeout=(5, 60)) -> requests.Response:
    return requests.post(
        f"{api_url(settings)}/{event_type}/", json=event, headers={"Idempotency-Key": key}, timeout=timeout
    )


@pytest.fixture(scope="module")
def retried(isolated_full_stack):
    """One triple, each event posted under one client id: with a read timeout too short for any
    answer (again until a post timed out and the API has written a copy: a client that gives up
    first may close the connection before the API read it, and on a loaded machine an answer can
    be in the socket before the client starts waiting for it), then while Kafka is frozen (SIGSTOP: the API
    answers 503; the record may still land once Kafka thaws), then again until acknowledged, as
    a client retries."""
    settings = isolated_full_stack
    events = triple(70)
    events["geo"]["country"] = RETRY_COUNTRY
    keys = {event_type: f"retry-{event_type}-{RUN}" for event_type in events}
    timed_out = dict.fromkeys(events, False)
    for event_type, event in events.items():
        for _ in range(5):
            try:
                _post_named(settings, event_type, event, keys[event_type], timeout=(5, 0.001))
            except requests.Timeout:
                timed_out[event_type] = True
                if _copies_within(settings, keys[event_type], 10):
                    break
    kafka_pid = read_pid(next(s for s in settings_stack(settings).services if s.name == "kafka").pid_file)
    os.kill(kafka_pid, signal.SIGSTOP)
    try:
        _wait_until_stopped(kafka_pid)
        with ThreadPoolExecutor(3) as pool:
            frozen = dict(zip(events, pool.map(lambda t: _post_named(settings, t, events[t], keys[t]), events)))
    finally:
        os.kill(kafka_pid, signal.SIGCONT)
    acknowledged = {}
    for event_type, event in events.items():
        deadline = time.monotonic() + 180
        while (answer := _post_named(settings, event_type, event, keys[event_type])).status_code == 503:
            if time.monotonic() > deadline:
                break
            time.sleep(1)
        acknowledged[event_type] = answer
    return keys, frozen, timed_out, acknowledged


@pytest.fixture(scope="module")
def posted(isolated_full_stack, retried, tmp_path_factory):
    settings = isolated_full_stack
    ledger, quarantined = [], {}
    clean = triple(1, pin={"category": NEW_CATEGORY})
    clean["geo"]["country"] = COUNTRY
    cases = [(clean, None, None)] + [
        (triple(10 + i, **{event_type: change}), event_type, reason)
        for i, (event_type, change, reason) in enumerate(CLEANING_CASES)
    ]
    for events, refused_type, reason in cases:
        for event_type, event in events.items():
            answer = _post(settings, event_type, event)
            assert answer.status_code == 202, answer.text
            event_id = answer.json()["event_id"]
            ledger.append(
                {
                    "client_event_id": answer.json()["client_event_id"],
                    "event_type": event_type,
                    "outcome": "acknowledged",
                    "attempts": 1,
                    "event_id": event_id,
                }
            )
            if event_type == refused_type:
                quarantined[event_id] = (event_type, reason)
    edge = [(case, _post(settings, case[0], {**triple(50)[case[0]], **case[1]})) for case in EDGE_CASES]
    garbage = _write_garbage(settings, 60)
    ledger_path = tmp_path_factory.mktemp("quality") / "ledger.jsonl"
    ledger_path.write_text("".join(json.dumps(entry) + "\n" for entry in ledger))
    passes = [run_batch(), run_batch()]
    return settings, ledger_path, quarantined, edge, garbage, passes


def test_both_batch_passes_exit_0(posted):
    *_, passes = posted
    for result in passes:
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]


@pytest.mark.parametrize("i", range(len(EDGE_CASES)), ids=[f"{c[0]}-{c[2]}-{c[3]}" for c in EDGE_CASES])
def test_the_api_refuses_with_422_naming_the_field_and_the_rule(posted, i):
    (event_type, _, field, rule), answer = posted[3][i]
    assert answer.status_code == 422, answer.text
    problems = " ".join(answer.json()["problems"])
    assert f"'{field}'" in problems
    if rule:
        assert rule in problems


def _latest_evaluation(settings, asset: str, check: str):
    """The latest evaluation of an asset check in the stack's Dagster instance."""
    import dagster as dg

    from pinterest_assets.instance import prepare_instance

    prepare_instance(settings)
    with dg.DagsterInstance.get() as instance:
        key = dg.AssetCheckKey(dg.AssetKey(asset), check)
        return instance.event_log_storage.get_latest_asset_check_execution_by_key([key])[key].evaluation


def _joined_2011(settings) -> list[tuple]:
    return _rows(settings, ANALYTICS_DB, "SELECT number_users_joined FROM users_joined_per_year WHERE post_year = 2011")


def _quarantines(settings) -> dict[str, dict[str, str]]:
    return {event_type: _quarantine(settings, event_type) for event_type in ("pin", "geo", "user")}


def _top_category(settings, country: str) -> list[tuple]:
    return _rows(
        settings,
        ANALYTICS_DB,
        "SELECT category, category_count FROM top_category_per_country WHERE country = %s",
        country,
    )


CLEANED = {"pin": "cleaned_pins", "geo": "cleaned_geo", "user": "cleaned_users"}


@pytest.fixture(scope="module")
def baseline(posted, retried, tmp_path_factory):
    """What the read-only tests look at, read right after the two batch passes. The steps after
    them (`requarantined`, then `planted`) change it, and need it read first whichever test runs
    first (the suite may run in random order)."""
    settings, ledger_path, *_ = posted
    accounting = subprocess.run(
        [sys.executable, "-m", "devstack.accounting", str(ledger_path)],
        cwd=REPO_ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=600,
    )
    workdir = tmp_path_factory.mktemp("cleaned")
    return {
        "quarantines": _quarantines(settings),
        "quarantined_users": _rows(
            settings,
            ANALYTICS_DB,
            "SELECT kafka_topic, kafka_partition, kafka_offset, reason, value, value_base64 FROM quarantined_users",
        ),
        "category_known": _latest_evaluation(settings, "cleaned_pins", "category_known"),
        "quarantine_share": _latest_evaluation(settings, "quarantined_pins", "quarantine_share"),
        "accounting": accounting,
        "top_category": {country: _top_category(settings, country) for country in (COUNTRY, RETRY_COUNTRY)},
        "joined_2011": _joined_2011(settings),
        "cleaned_retried": {
            event_type: _cleaned_rows(settings, CLEANED[event_type], key, workdir)
            for event_type, key in retried[0].items()
        },
    }


@pytest.fixture(scope="module")
def requarantined(posted, baseline):
    """`make requarantine` after relaxing a rule, twice: each run's outcome, the quarantines and
    the users who joined in 2011 after it."""
    settings, runs = posted[0], []
    for _ in range(2):
        result = _batch({"PINTEREST_RELAXED_RULES": RELAXED}, "--requarantine")
        runs.append((result, _quarantines(settings), _joined_2011(settings)))
    return runs


@pytest.fixture(scope="module")
def planted(posted, requarantined):
    """Rows a faulty pipeline writes, planted into the cleaned tables (last: they stay broken),
    then `make batch`: its outcome, the run whose checks failed and the latest materialisation's
    run of two questions."""
    import dagster as dg

    from pinterest_assets.instance import prepare_instance

    planting = subprocess.run(
        [sys.executable, "-m", "tests.fixtures.plant"],
        cwd=REPO_ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert planting.returncode == 0, planting.stderr[-3000:]
    result = run_batch()
    prepare_instance(posted[0])
    with dg.DagsterInstance.get() as instance:
        key = dg.AssetCheckKey(dg.AssetKey("cleaned_pins"), "unique_key")
        failed_run = instance.event_log_storage.get_latest_asset_check_execution_by_key([key])[key].run_id
        latest = {
            question: instance.fetch_materializations(dg.AssetKey(question), limit=1).records[0].run_id
            for question in ("top_category_per_country", "users_joined_per_year")
        }
    return result, failed_run, latest


def test_the_clean_triple_and_its_new_category_are_in_the_analytics(baseline):
    assert baseline["top_category"][COUNTRY] == [(NEW_CATEGORY, 1)]


def test_the_new_category_is_reported_by_the_warning_check(baseline):
    import dagster as dg

    evaluation = baseline["category_known"]
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    table = evaluation.metadata["unknown_categories"].value
    assert {record.data["value"]: record.data["rows"] for record in table.records} == {NEW_CATEGORY: 1}


def test_the_quarantine_share_check_warns_with_counts_and_examples(baseline):
    import dagster as dg

    evaluation = baseline["quarantine_share"]
    # 3 of this module's 10 pins are quarantined: far above the 5 % default
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    reasons = {r.data["value"]: r.data["rows"] for r in evaluation.metadata["reasons"].value.records}
    assert reasons == {"unique_id_is_uuid": 1, "downloaded_is_flag": 1, "save_location_is_path": 1}
    assert sorted(e["reason"] for e in evaluation.metadata["examples"].value) == sorted(reasons)


def test_every_refused_event_is_in_its_quarantine_with_its_reason(posted, baseline):
    quarantined = posted[2]
    for event_id, (event_type, reason) in quarantined.items():
        assert baseline["quarantines"][event_type].get(event_id) == reason, (event_type, reason)


def test_garbage_from_another_writer_is_in_the_raw_lake_and_quarantined(posted, baseline):
    garbage = posted[4]
    found = {(t, p, o): (reason, value, b64) for t, p, o, reason, value, b64 in baseline["quarantined_users"]}
    for position, reason in garbage.items():
        assert found[position][0] == reason, position
        assert found[position][1] is not None or found[position][2] is not None  # its bytes stay visible


def test_every_acknowledged_event_is_cleaned_or_quarantined_exactly_once(posted, baseline):
    result = baseline["accounting"]
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    quarantined = len(posted[2])
    assert f"+ {quarantined} quarantined; 0 unaccounted, 0 twice  ok" in result.stdout, result.stdout


def test_the_streaming_job_quarantines_the_same_events_and_stores_none_as_events(posted):
    settings, _, quarantined, *_ = posted
    deadline = time.monotonic() + 180
    while True:
        rows = dict(
            _rows(
                settings,
                settings.streaming_database,
                "SELECT event_id, reason FROM quarantined_events WHERE event_id = ANY(%s)",
                list(quarantined),
            )
        )
        if len(rows) == len(quarantined) or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert rows == {event_id: reason for event_id, (_, reason) in quarantined.items()}
    for table in ("experimental_data", "geo_data", "user_data"):
        stored = _rows(
            settings,
            settings.streaming_database,
            f"SELECT event_id FROM {table} WHERE event_id = ANY(%s)",
            list(quarantined),
        )
        assert stored == [], table


def test_requarantine_after_relaxing_a_rule_moves_its_rows_and_a_second_run_changes_nothing(
    posted, baseline, requarantined
):
    quarantined = posted[2]
    minor = next(event_id for event_id, (_, reason) in quarantined.items() if reason == RELAXED)
    assert minor in baseline["quarantines"]["user"] and baseline["joined_2011"] == []

    (first, after, joined), (second, again, joined_again) = requarantined
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-4000:]
    assert minor not in after["user"]
    still = {event_id: reason for event_id, (_, reason) in quarantined.items() if reason != RELAXED}
    assert {e: r for q in after.values() for e, r in q.items() if e in quarantined} == still
    assert joined == [(1,)]

    assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-4000:]
    assert again == after and joined_again == [(1,)]


BLOCKING = [
    "cleaned_pins:no_sentinel_left",
    "cleaned_pins:follower_count_not_negative",
    "cleaned_pins:save_location_is_path",
    "cleaned_geo:coordinates_in_range",
    "cleaned_users:age_in_range",
    *(
        f"{table}:{check}"
        for table in ("cleaned_pins", "cleaned_geo", "cleaned_users")
        for check in ("unique_key", "unique_event_id", "raw_keys_reconciled")
    ),
]


def test_rows_a_faulty_pipeline_writes_fail_every_blocking_check_and_stop_the_analytics(planted):
    from pinterest_assets.defs.cleaned.assets import CHECK_SPECS

    assert {f"{s.asset_key.to_user_string()}:{s.name}" for s in CHECK_SPECS if s.blocking} == set(BLOCKING)
    result, failed_run, latest = planted
    assert result.returncode == 1, result.stdout[-4000:]
    failed_line = next(
        line
        for line in result.stdout.splitlines()
        if "refresh_cleaned_and_analytics" in line and "FAILED checks" in line
    )
    failed = set(failed_line.split("FAILED checks: ", 1)[1].split(", warnings: ", 1)[0].split(", "))
    assert failed == set(BLOCKING), failed_line
    for question, run_id in latest.items():
        assert run_id != failed_run, f"{question} was materialised by the run whose checks failed"


def test_each_retry_came_as_planned(retried):
    keys, frozen, timed_out, acknowledged = retried
    for event_type, key in keys.items():
        assert frozen[event_type].status_code == 503, frozen[event_type].text
        assert frozen[event_type].json()["client_event_id"] == key
        assert timed_out[event_type], f"every {event_type} post was answered within the 1 ms client timeout"
        assert acknowledged[event_type].status_code == 202, acknowledged[event_type].text
        assert acknowledged[event_type].json()["client_event_id"] == key


def _kafka_copies(settings, key: str) -> set[tuple[str, int, int]]:
    return {
        (r.topic, r.partition, r.offset) for r, metadata in api_records(settings) if metadata.client_event_id == key
    }


def _wait_until_stopped(pid: int, timeout_s: float = 30) -> None:
    """Until every thread of `pid` is stopped (state T): on a loaded machine the group stop that
    SIGSTOP starts completes only once each thread has been scheduled."""
    deadline = time.monotonic() + timeout_s
    while any((task / "stat").read_text().rsplit(") ", 1)[1][0] != "T" for task in Path(f"/proc/{pid}/task").iterdir()):
        assert time.monotonic() < deadline, f"Kafka ({pid}) did not stop within {timeout_s}s of SIGSTOP"
        time.sleep(0.05)


def _copies_within(settings, key: str, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not _kafka_copies(settings, key):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


def _lake_copies(settings, key: str) -> set[tuple[str, int, int]]:
    client, found = s3_client(settings), set()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=settings.s3_bucket, Prefix="raw/"):
        for entry in page.get("Contents", []):
            if entry["Key"].endswith(".jsonl.gz"):
                body = gzip.decompress(client.get_object(Bucket=settings.s3_bucket, Key=entry["Key"])["Body"].read())
                for line in map(json.loads, body.splitlines()):
                    if line["client_event_id"] == key:
                        found.add((line["kafka_topic"], line["kafka_partition"], line["kafka_offset"]))
    return found


def test_the_raw_lake_holds_every_copy_that_kafka_holds(posted, retried):
    settings, keys = posted[0], retried[0]
    for key in keys.values():
        copies = _kafka_copies(settings, key)
        assert len(copies) >= 2, (key, copies)  # at least the timed-out copy and the acknowledged one
        assert _lake_copies(settings, key) == copies


def _cleaned_rows(settings, table: str, key: str, workdir) -> int:
    client = s3_client(settings)
    state = json.loads(client.get_object(Bucket=settings.s3_bucket, Key=f"cleaned/{table}/_state.json")["Body"].read())
    prefix = f"cleaned/{table}/version={state['version']}/"
    files = []
    for entry in client.list_objects_v2(Bucket=settings.s3_bucket, Prefix=prefix).get("Contents", []):
        if entry["Key"].endswith(".parquet"):
            files.append(workdir / entry["Key"].replace("/", "_"))
            client.download_file(settings.s3_bucket, entry["Key"], str(files[-1]))
    listing = ", ".join(f"'{path}'" for path in files)
    return duckdb.execute(
        f"SELECT count(*) FROM read_parquet([{listing}]) WHERE client_event_id = ?", [key]
    ).fetchall()[0][0]


def test_a_retried_event_is_one_row_in_the_cleaned_tables(baseline):
    assert baseline["cleaned_retried"] == {"pin": 1, "geo": 1, "user": 1}


def test_a_retried_event_is_one_row_in_the_streaming_tables(posted, retried):
    settings, keys = posted[0], retried[0]
    tables = {"pin": "experimental_data", "geo": "geo_data", "user": "user_data"}
    deadline = time.monotonic() + 180
    while True:
        counts = {
            event_type: _rows(
                settings,
                settings.streaming_database,
                f"SELECT count(*) FROM {tables[event_type]} WHERE client_event_id = %s",
                key,
            )[0][0]
            for event_type, key in keys.items()
        }
        if all(counts.values()) or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert counts == {"pin": 1, "geo": 1, "user": 1}


def test_a_retried_event_is_counted_once_in_the_analytics(baseline):
    assert baseline["top_category"][RETRY_COUNTRY] == [("travel", 1)]
