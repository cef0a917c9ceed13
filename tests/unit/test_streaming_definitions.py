"""The streaming tables in Dagster: observable assets next to the batch lineage, their freshness
and agreement checks, and the sensor that observes them (no services needed)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC

import dagster as dg

from pinterest_assets.definitions import build_definitions
from pinterest_assets.defs.streaming_tables.agreement import (
    AGREEMENT_CHECK,
    STREAMING_AGREEMENT_JOB,
    streaming_agreement,
)
from pinterest_assets.defs.streaming_tables.checks import FRESHNESS_CHECK
from pinterest_assets.defs.streaming_tables.jobs import OBSERVE_STREAMING_JOB
from pinterest_assets.defs.streaming_tables.sensors import streaming_observation_sensor
from pinterest_common.config import REPO_ROOT, Settings

TABLES = {"experimental_data", "geo_data", "user_data", "profile_popularity", "category_trends"}


def streaming_definitions() -> dg.Definitions:
    return build_definitions(Settings.from_env({}))


def test_tables_are_observable_in_the_streaming_group_downstream_of_the_topics():
    graph = streaming_definitions().get_repository_def().asset_graph
    for name in TABLES:
        node = graph.get(dg.AssetKey(name))
        assert node.group_name == "streaming" and node.kinds == {"spark", "postgres"}
        assert node.is_observable and not node.is_materializable
    assert graph.get(dg.AssetKey("experimental_data")).parent_keys == {dg.AssetKey("kafka_pin_events")}
    assert graph.get(dg.AssetKey("profile_popularity")).parent_keys == {dg.AssetKey("experimental_data")}
    checks = {
        (key.asset_key.to_user_string(), key.name)
        for key in graph.asset_check_keys
        if key.asset_key.to_user_string() in TABLES
    }
    freshness = {(table, FRESHNESS_CHECK) for table in ("experimental_data", "geo_data", "user_data")}
    assert checks == freshness | {(table, AGREEMENT_CHECK) for table in TABLES}


def test_the_agreement_job_runs_the_agreement_checks_only_and_blocks_nothing():
    defs = streaming_definitions()
    job = defs.resolve_job_def(STREAMING_AGREEMENT_JOB.name)
    assert set(job.graph.node_dict) == {"streaming_agreement"}
    specs = list(streaming_agreement.check_specs)
    assert {spec.asset_key.to_user_string() for spec in specs} == TABLES
    assert not any(spec.blocking for spec in specs)


def test_the_observation_job_observes_every_table_and_checks_freshness():
    job = streaming_definitions().resolve_job_def(OBSERVE_STREAMING_JOB.name)
    assert set(job.graph.node_dict) == {"observe_streaming_tables", "streaming_tables_freshness"}


def test_the_sensor_runs_by_default_and_requests_an_observation_unless_one_is_running(resource_secrets):
    assert streaming_observation_sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert (
        streaming_observation_sensor.minimum_interval_seconds
        == Settings.from_env({}).streaming_observe_interval_seconds
    )
    with dg.instance_for_test() as instance:
        request = streaming_observation_sensor(dg.build_sensor_context(instance=instance))
        assert isinstance(request, dg.RunRequest)
        instance.create_run_for_job(
            streaming_definitions().resolve_job_def(OBSERVE_STREAMING_JOB.name), status=dg.DagsterRunStatus.STARTED
        )
        assert isinstance(streaming_observation_sensor(dg.build_sensor_context(instance=instance)), dg.SkipReason)


def test_loading_the_definitions_emits_no_deprecation_warning():
    script = (
        "import warnings; warnings.simplefilter('error', DeprecationWarning)\n"
        "from tests.unit.test_streaming_definitions import streaming_definitions\n"
        "streaming_definitions().resolve_all_job_defs()\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr


def test_the_event_tables_report_their_quarantined_records_in_all_and_per_reason_and_their_copies_skipped():
    from datetime import datetime

    from pinterest_assets.defs.streaming_tables.assets import TABLES, TableState, TopicLag, _observation

    quarantined = {"pinterest.pin": {"value_not_json": 2, "unique_id_is_uuid": 1}}
    copies = {"pinterest.pin": 4, "pinterest.user": 1}
    metadata = {
        table.name: _observation(
            table, TableState(3, None, "3"), TopicLag(0, None), None, quarantined, copies, datetime.now(UTC)
        ).metadata
        for table in TABLES
    }
    assert [metadata[name]["duplicate_copies_skipped"] for name in ("experimental_data", "geo_data", "user_data")] == [
        4,
        0,
        1,
    ]
    assert "duplicate_copies_skipped" not in metadata["category_trends"]
    assert metadata["experimental_data"]["quarantined_records"] == 3
    assert metadata["experimental_data"]["quarantined_by_reason"].value == {"unique_id_is_uuid": 1, "value_not_json": 2}
    assert (
        metadata["geo_data"]["quarantined_records"] == 0 and metadata["geo_data"]["quarantined_by_reason"].value == {}
    )
    assert "quarantined_records" not in metadata["profile_popularity"]
