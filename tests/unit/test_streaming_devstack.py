"""The local stack's streaming service: its command, its environment and its health check."""

from __future__ import annotations

import os
import time

from devstack.streaming_service import SparkStreaming
from pinterest_common.config import Settings
from pinterest_common.streaming_contract import QUERY_NAME
from streaming.status import JobStatus


def service(tmp_path) -> SparkStreaming:
    settings = Settings.from_env(
        {
            "PINTEREST_HOME": str(tmp_path),
            "PINTEREST_PG_PASSWORD": "pw",
            "PINTEREST_STREAMING_DATABASE": "streaming_db",
            "SPARK_MASTER": "local[1]",
        }
    )
    return SparkStreaming(settings, tmp_path / "stack")


def test_the_job_gets_the_stacks_settings_a_small_driver_and_its_checkpoint_under_the_state_dir(tmp_path):
    job = service(tmp_path)
    env = job._environment()
    assert (env["PINTEREST_STREAMING_DATABASE"], env["SPARK_MASTER"]) == ("streaming_db", "local[1]")
    assert env["PINTEREST_SPARK_DRIVER_MEMORY"] == "512m" and env["PINTEREST_PG_PASSWORD"] == "pw"
    assert job.checkpoint == tmp_path / "stack" / "streaming" / "checkpoint"
    assert job.endpoint == "postgres/streaming_db"


def test_healthy_only_while_its_own_process_beats_with_an_active_query(tmp_path):
    job = service(tmp_path)
    job.pid_file.parent.mkdir(parents=True)
    job.pid_file.write_text(str(os.getpid()))  # a live process stands in for the job's
    assert not job.healthy()  # no heartbeat yet
    JobStatus(os.getpid(), QUERY_NAME, "q", True, time.time(), 3).write(job.status_file)
    assert job.healthy()
    JobStatus(os.getpid(), QUERY_NAME, "q", False, time.time(), 3).write(job.status_file)
    assert not job.healthy()
    JobStatus(os.getpid(), QUERY_NAME, "q", True, time.time() - 60, 3).write(job.status_file)
    assert not job.healthy()
    JobStatus(os.getppid(), QUERY_NAME, "q", True, time.time(), 3).write(job.status_file)
    assert not job.healthy()  # another process's heartbeat


def test_status_file_round_trip(tmp_path):
    status = JobStatus(123, QUERY_NAME, None, True, 1.5, None)
    status.write(tmp_path / "status.json")
    assert JobStatus.read(tmp_path / "status.json") == status
    assert JobStatus.read(tmp_path / "missing.json") is None
