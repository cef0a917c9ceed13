"""The code location under Dagster's own tools: `dagster definitions validate` and `dagster dev`.

The `dagster dev` test runs the real webserver and daemon on a free port, with a temporary
DAGSTER_HOME whose dagster.yaml keeps everything in the test stack's PostgreSQL: the sensors
tick by themselves, launch runs that land the events produced beforehand, then the refresh
sensor launches the run that cleans them and publishes the answers, nobody clicking; the UI's
GraphQL API shows the assets, checks, sensors and runs. It is stopped at the end.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import dagster as dg
import psycopg2
import pytest
import requests

from devstack.process import free_port
from pinterest_assets.defs.analytics.sensors import refresh_on_new_raw_data
from pinterest_assets.defs.cleaned.assets import CLEANED_TABLES
from pinterest_assets.defs.streaming_tables.sensors import streaming_observation_sensor
from pinterest_assets.instance import prepare_instance
from pinterest_assets.lib.automation import REFRESH_TAG
from pinterest_assets.lib.lake.progress import ProgressStore
from pinterest_assets.lib.topics import DRAINED_TOPICS
from pinterest_common.config import DAGSTER_DB, REPO_ROOT, get_settings
from pinterest_common.kafka_admin import EVENT_TOPICS, ensure_topics
from tests.fixtures.dagster_ui import LOCATIONS, graphql, stop_process_group, wait_for
from tests.fixtures.pipeline import postgres_rows
from tests.integration.test_batch_lake import accept_events, triples

DAGSTER = str(Path(sys.executable).with_name("dagster"))


def test_definitions_validate_passes(tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    result = subprocess.run(
        [DAGSTER, "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "All code locations passed validation." in output


@pytest.fixture
def dagster_dev(stack_settings, tmp_path):
    """`dagster dev -w workspace.yaml` on a free port; yields (port, instance, log path)."""
    saved = dict(os.environ)
    os.environ["DAGSTER_HOME"] = str(tmp_path / "dagster_home")
    settings = get_settings()
    prepare_instance(settings)
    ensure_topics(settings, 3, topics=EVENT_TOPICS)
    port = free_port()
    log_path = tmp_path / "dagster-dev.log"
    env = {**os.environ, "PYTHONWARNINGS": "default"}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [DAGSTER, "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        with dg.DagsterInstance.get() as instance:
            yield port, instance, log_path
    finally:
        stop_process_group(process)
        os.environ.clear()
        os.environ.update(saved)


@pytest.mark.integration
def test_dagster_dev_serves_the_location_and_its_sensors_land_events(stack_settings, dagster_dev):
    port, instance, log_path = dagster_dev
    base_url = f"http://127.0.0.1:{port}"
    settings = get_settings()
    accepted = accept_events(settings, triples(6, seed="dagster-dev"))
    end = {a.event_type: {} for a in accepted}
    for a in accepted:
        end[a.event_type][a.partition] = max(end[a.event_type].get(a.partition, 0), a.offset + 1)

    def served():
        try:
            return requests.get(f"http://127.0.0.1:{port}/server_info", timeout=5).ok
        except requests.RequestException:
            return False

    wait_for(served, 240, "the webserver did not answer")
    locations = wait_for(
        lambda: [
            e
            for e in graphql(base_url, LOCATIONS)["workspaceOrError"]["locationEntries"]
            if e["loadStatus"] == "LOADED"
        ],
        120,
        "the code location did not load",
    )
    assert [e["name"] for e in locations] == ["pinterest_assets"]
    assert locations[0]["locationOrLoadError"]["__typename"] == "RepositoryLocation", locations

    nodes = {"/".join(n["assetKey"]["path"]): n for n in graphql(base_url, ASSETS)["assetNodes"]}
    for stream in DRAINED_TOPICS:
        raw = nodes[stream.asset_name]
        assert raw["groupName"] == "raw_lake" and set(raw["kinds"]) == {"kafka", "s3"}
        assert {c["name"] for c in raw["assetChecksOrError"]["checks"]} == {
            "nothing_lost",
            "no_duplicate_offsets",
        }
        assert nodes[stream.topic_asset_name]["groupName"] == "kafka"

    # The daemon's sensors land the events by themselves.
    progress = ProgressStore(lambda: psycopg2.connect(settings.pg_dsn(DAGSTER_DB)))

    def landed():
        return all(
            progress.committed(f"pinterest.{event_type}").get(p, 0) >= offset
            for event_type, partitions in end.items()
            for p, offset in partitions.items()
        )

    wait_for(landed, 900, "the sensors' runs did not land the events", interval=5)
    wait_for(
        lambda: (
            not instance.get_runs(
                filters=dg.RunsFilter(
                    tags={"pinterest/topic": "pinterest.pin"},
                    statuses=[
                        s
                        for s in dg.DagsterRunStatus
                        if s
                        not in (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)
                    ],
                )
            )
        ),
        180,
        "landing runs still in flight",
    )

    # ... and the refresh automation cleans them and answers the questions, by itself too.
    def refreshed():
        runs = instance.get_runs(filters=dg.RunsFilter(tags={REFRESH_TAG: "automation"}))
        finished = [r for r in runs if r.status in (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE)]
        return finished if cleaned_covers_raw(instance) and finished and len(finished) == len(runs) else None

    refresh_runs = wait_for(refreshed, 1500, "the refresh automation's runs did not finish", interval=5)
    assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in refresh_runs), refresh_runs
    # Each refresh run answered the questions in the run that cleaned (one Spark session); never two at once.
    for run in refresh_runs:
        assert run.asset_selection and any(key.path[0] == "top_category_per_country" for key in run.asset_selection), (
            run
        )
    spans = sorted(
        (record.start_time, record.end_time)
        for record in instance.get_run_records(filters=dg.RunsFilter(run_ids=[run.run_id for run in refresh_runs]))
    )
    assert all(end <= next_start for (_, end), (next_start, _) in zip(spans, spans[1:])), spans
    assert postgres_rows(settings, "top_category_per_country", ("country",))

    sensors = graphql(base_url, SENSORS)["sensorsOrError"]["results"]
    assert {s["name"] for s in sensors} == {s.sensor_name for s in DRAINED_TOPICS} | {
        refresh_on_new_raw_data.name,
        streaming_observation_sensor.name,
    }
    for sensor in sensors:
        assert sensor["sensorState"]["status"] == "RUNNING"
        ticks = sensor["sensorState"]["ticks"]
        assert ticks and all(t["error"] is None for t in ticks), sensor
    runs = graphql(base_url, RUNS)["runsOrError"]["results"]
    assert runs and all(r["status"] == "SUCCESS" for r in runs), runs
    assert any(t["key"] == "dagster/sensor_name" for r in runs for t in r["tags"])

    # With every warning shown (PYTHONWARNINGS=default): no deprecation at all (Dagster's own
    # notice that `dagster dev` is superseded by `dg dev` is a SupersessionWarning), nothing about
    # our code, and no error. One exception, Dagster's own: its daemon evaluates every automation
    # tick through its own deprecated `AssetSelection.keys` (dagster/_daemon/asset_daemon.py),
    # whatever the conditions (shown only with every warning on, as here).
    log = log_path.read_text(errors="replace")
    warned = [
        line
        for line in log.splitlines()
        if ("DeprecationWarning" in line or ("Warning" in line and "pinterest" in line))
        and not ("dagster/_daemon/asset_daemon.py" in line and "`AssetSelection.keys` is deprecated" in line)
    ]
    assert warned == [], "\n".join(warned)
    assert "Traceback" not in log and not re.search(r"\bERROR\b", log), log[-5000:]


def cleaned_covers_raw(instance: dg.DagsterInstance) -> bool:
    """Whether each cleaned table was last materialised by a run that started after its raw asset's
    newest landing."""
    for stream in DRAINED_TOPICS:
        raw = instance.fetch_materializations(dg.AssetKey(stream.asset_name), limit=1).records
        cleaned = instance.fetch_materializations(dg.AssetKey(CLEANED_TABLES[stream.name]), limit=1).records
        if not raw:
            continue
        run = instance.get_run_record_by_id(cleaned[0].run_id) if cleaned else None
        if run is None or run.start_time is None or raw[0].timestamp >= run.start_time:
            return False
    return True


ASSETS = """
{ assetNodes { assetKey { path } groupName kinds
    assetChecksOrError { ... on AssetChecks { checks { name } } } } }
"""
SENSORS = """
{ sensorsOrError(repositorySelector: {repositoryName: "__repository__", repositoryLocationName: "pinterest_assets"}) {
    ... on Sensors { results { name sensorState { status ticks(limit: 5) { status error { message } } } } } } }
"""
RUNS = """
{ runsOrError(filter: {tags: [{key: "pinterest/topic", value: "pinterest.pin"}]}) {
    ... on Runs { results { runId status tags { key value } } } } }
"""
