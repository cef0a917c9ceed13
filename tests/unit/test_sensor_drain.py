"""The drain sensors through build_sensor_context: cursor, ranges, run keys and their dedup.

Kafka and PostgreSQL are replaced by subclasses of the real resources; the Dagster instance is a
real temporary one, holding the runs the sensor looks for.
"""

import json
import uuid

import dagster as dg
import pytest

from devstack.batch import existing_run
from pinterest_assets.definitions import build_definitions
from pinterest_assets.lib.topics import (
    ATTEMPT_TAG,
    DRAINED_TOPICS,
    PARTITION_TAG,
    RANGE_TAG,
    RUN_KEY_TAG,
    TOPIC_TAG,
    UNTIL_OFFSET_TAG,
)
from pinterest_assets.resources import KafkaResource, PostgresResource, RawLakeResource
from pinterest_common.kafka_io import PartitionOffsets

defs = build_definitions()

PIN = DRAINED_TOPICS[0]


class FakeKafka(KafkaResource):
    """Offsets per partition as "partition": [earliest, end]; no topic when `offsets` is None."""

    offsets: dict[str, list[int]] | None = None

    def partition_offsets(self, topic):
        if self.offsets is None:
            return None
        return {int(p): PartitionOffsets(*eo) for p, eo in self.offsets.items()}

    def read_range(self, topic, partition, start, end):
        raise AssertionError("a sensor tick must not read messages")


class FakeProgress:
    def __init__(self, landed):
        self.landed = landed

    def committed(self, topic):
        return dict(self.landed)


class FakeLake(RawLakeResource):
    landed: dict[str, int] = {}

    def progress(self, postgres):
        return FakeProgress({int(p): o for p, o in self.landed.items()})


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def tick(instance, *, offsets, landed=None, cursor=None, max_records=500, max_runs=20, run_timeout=900):
    sensor = defs.resolve_sensor_def(PIN.sensor_name)
    resources = {
        "kafka": FakeKafka(bootstrap_servers="unused:9092", offsets=offsets),
        "postgres": PostgresResource(host="unused", user="unused", password="unused"),
        "raw_lake": FakeLake(
            bucket="lake",
            landed=landed or {},
            max_records_per_run=max_records,
            max_runs_per_tick=max_runs,
            run_timeout_seconds=run_timeout,
        ),
    }
    with dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources) as context:
        return sensor(context)


def add_run(instance, run_key, tags, status):
    run = dg.DagsterRun(
        job_name=PIN.job_name,
        run_id=str(uuid.uuid4()),
        status=status,
        tags={**tags, RUN_KEY_TAG: run_key},
    )
    instance.add_run(run)
    return run


def launch_all(instance, result, status=dg.DagsterRunStatus.STARTED):
    """What a launcher does with a tick's requests: one run per run key the sensor has no run for
    yet, by `make batch`'s run-key rule (devstack.batch.existing_run, the rule of Dagster's daemon)."""
    return [
        add_run(instance, request.run_key, request.tags, status)
        for request in result.run_requests
        if existing_run(instance, request.run_key) is None
    ]


def ranges(result):
    """(partition, from, until) of each request, from its run config."""
    configs = [(r, r.run_config["ops"][PIN.asset_name]["config"]) for r in result.run_requests]
    assert all(int(r.tags[PARTITION_TAG]) == c["partition"] for r, c in configs)
    return [(c["partition"], c["from_offset"], c["until_offset"]) for _, c in configs]


def test_the_drain_sensors_are_running_by_default_and_target_the_landing_jobs():
    for stream in DRAINED_TOPICS:
        sensor = defs.resolve_sensor_def(stream.sensor_name)
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
        assert sensor.job_name == stream.job_name
        assert sensor.minimum_interval_seconds == 30


def test_first_tick_requests_one_run_per_range_with_the_range_in_config_tags_and_run_key(instance):
    result = tick(instance, offsets={"0": [0, 1200], "1": [0, 0], "2": [0, 7]})
    assert isinstance(result, dg.SensorResult)
    assert ranges(result) == [(0, 0, 500), (2, 0, 7), (0, 500, 1000), (0, 1000, 1200)]
    first = result.run_requests[0]
    assert first.run_key == "pinterest.pin/p0/o0-o499"
    assert first.tags[TOPIC_TAG] == "pinterest.pin"
    assert first.tags[RANGE_TAG] == "pinterest.pin/p0/o0-o499"
    assert first.tags[UNTIL_OFFSET_TAG] == "500"
    assert first.tags[ATTEMPT_TAG] == "0"
    assert first.tags[dg.MAX_RUNTIME_SECONDS_TAG] == "900"
    assert json.loads(result.cursor) == {"requested": {"0": 1200, "1": 0, "2": 7}}


def test_a_missing_topic_or_nothing_new_is_a_skip(instance):
    result = tick(instance, offsets=None)
    assert isinstance(result, dg.SkipReason) and "does not exist" in result.skip_message
    result = tick(instance, offsets={"0": [0, 40]}, landed={"0": 40})
    assert result.run_requests == [] and "nothing to land" in result.skip_reason.skip_message


def test_two_ticks_over_the_same_offsets_launch_one_run(instance):
    first = tick(instance, offsets={"0": [0, 40]})
    second = tick(instance, offsets={"0": [0, 40]})  # e.g. the cursor was lost
    assert [r.run_key for r in first.run_requests] == [r.run_key for r in second.run_requests]
    assert [r.run_key for r in second.run_requests] == ["pinterest.pin/p0/o0-o39"]
    assert len(launch_all(instance, first)) == 1
    assert launch_all(instance, second) == []
    assert len(instance.get_runs()) == 1


def test_with_a_run_in_flight_the_next_tick_only_requests_newer_offsets(instance):
    first = tick(instance, offsets={"0": [0, 300]})
    launch_all(instance, first)
    second = tick(instance, offsets={"0": [0, 450]}, cursor=first.cursor)
    assert ranges(second) == [(0, 300, 450)]
    assert launch_all(instance, second) and len(instance.get_runs()) == 2
    third = tick(instance, offsets={"0": [0, 450]}, cursor=second.cursor)
    assert third.run_requests == []


def test_in_flight_runs_are_found_without_the_cursor(instance):
    launch_all(instance, tick(instance, offsets={"0": [0, 300]}))
    result = tick(instance, offsets={"0": [0, 450]}, cursor=None)
    assert ranges(result) == [(0, 300, 450)]


def test_after_a_landing_the_next_tick_starts_at_the_committed_offset(instance):
    first = tick(instance, offsets={"0": [0, 300]})
    launch_all(instance, first, status=dg.DagsterRunStatus.SUCCESS)
    second = tick(instance, offsets={"0": [0, 350]}, landed={"0": 300}, cursor=first.cursor)
    assert [r.run_key for r in second.run_requests] == ["pinterest.pin/p0/o300-o349"]


def test_a_failed_run_has_its_range_requested_again_under_a_new_run_key(instance):
    first = tick(instance, offsets={"0": [0, 300]})
    launch_all(instance, first, status=dg.DagsterRunStatus.FAILURE)
    again = tick(instance, offsets={"0": [0, 300]}, cursor=first.cursor)
    assert [r.run_key for r in again.run_requests] == ["pinterest.pin/p0/o0-o299/retry-1"]
    assert again.run_requests[0].tags[ATTEMPT_TAG] == "1"
    launch_all(instance, again, status=dg.DagsterRunStatus.FAILURE)
    third = tick(instance, offsets={"0": [0, 300]}, cursor=again.cursor)
    assert [r.run_key for r in third.run_requests] == ["pinterest.pin/p0/o0-o299/retry-2"]


def test_a_run_older_than_the_run_timeout_counts_as_dead(instance):
    first = tick(instance, offsets={"0": [0, 300]})
    launch_all(instance, first)  # STARTED, but its process is gone
    alive = tick(instance, offsets={"0": [0, 300]}, cursor=first.cursor)
    assert alive.run_requests == []
    dead = tick(instance, offsets={"0": [0, 300]}, cursor=first.cursor, run_timeout=0)
    assert [r.run_key for r in dead.run_requests] == ["pinterest.pin/p0/o0-o299/retry-1"]


def test_a_tick_requests_at_most_max_runs(instance):
    result = tick(instance, offsets={"0": [0, 10_000], "1": [0, 10_000]}, max_records=1000, max_runs=5)
    assert len(result.run_requests) == 5
    assert json.loads(result.cursor)["requested"] == {"0": 3000, "1": 2000}
