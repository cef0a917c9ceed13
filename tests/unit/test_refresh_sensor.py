"""The sensor that refreshes the cleaned and analytics assets when new raw data lands."""

from types import SimpleNamespace

import dagster as dg

from pinterest_assets.definitions import build_definitions
from pinterest_assets.defs.analytics.jobs import REFRESH_JOB
from pinterest_assets.defs.analytics.sensors import covers, refresh_on_new_raw_data
from pinterest_common.config import Settings


def tick(instance: dg.DagsterInstance):
    return refresh_on_new_raw_data(dg.build_sensor_context(instance=instance))


def materialize(instance: dg.DagsterInstance, *names: str) -> None:
    for name in names:
        instance.report_runless_asset_event(dg.AssetMaterialization(name))


def test_it_runs_by_default_and_targets_the_refresh_job():
    assert refresh_on_new_raw_data.default_status == dg.DefaultSensorStatus.RUNNING
    assert refresh_on_new_raw_data.job_name == REFRESH_JOB.name
    defs = build_definitions(Settings.from_env({}))
    assert defs.resolve_sensor_def("refresh_on_new_raw_data").job_name == REFRESH_JOB.name


def test_new_raw_data_requests_one_refresh_per_raw_state():
    with dg.instance_for_test() as instance:
        assert isinstance(tick(instance), dg.SkipReason)  # nothing landed yet

        materialize(instance, "raw_pin_events")
        first = tick(instance)
        assert isinstance(first, dg.RunRequest)
        assert first.tags["pinterest/new_raw_data"] == "pin"
        assert tick(instance).run_key == first.run_key  # same raw state, same key: Dagster runs it once

        materialize(instance, "raw_geo_events")
        second = tick(instance)
        assert second.run_key != first.run_key and second.tags["pinterest/new_raw_data"] == "pin,geo"


def test_cleaned_tables_newer_than_their_raw_data_need_nothing():
    with dg.instance_for_test() as instance:
        materialize(instance, "raw_pin_events", "raw_geo_events", "raw_user_events")
        materialize(instance, "cleaned_pins", "cleaned_geo", "cleaned_users")
        assert isinstance(tick(instance), dg.SkipReason)
        materialize(instance, "raw_user_events")
        assert tick(instance).tags["pinterest/new_raw_data"] == "user"


def test_a_refresh_in_flight_makes_it_wait(resource_secrets):
    with dg.instance_for_test() as instance:
        materialize(instance, "raw_pin_events")
        job = build_definitions(Settings.from_env({})).resolve_job_def(REFRESH_JOB.name)
        instance.create_run_for_job(job, status=dg.DagsterRunStatus.STARTED)
        skip = tick(instance)
        assert isinstance(skip, dg.SkipReason) and "waiting for run" in skip.skip_message


class _Runs:
    """Just enough of an instance for `covers`: one run with a known start time."""

    def __init__(self, run_id: str, start_time: float):
        self.run_id, self.start_time = run_id, start_time

    def get_run_record_by_id(self, run_id):
        return SimpleNamespace(start_time=self.start_time) if run_id == self.run_id else None


def test_raw_data_landed_while_the_refresh_ran_is_not_covered_by_it():
    instance = _Runs("refresh", start_time=100.0)
    cleaned = SimpleNamespace(run_id="refresh", storage_id=50, timestamp=160.0)
    before = SimpleNamespace(storage_id=10, timestamp=90.0)
    during = SimpleNamespace(storage_id=40, timestamp=130.0)  # older event than cleaned, yet after the run began
    assert covers(instance, cleaned, before)
    assert not covers(instance, cleaned, during)
