"""The streaming job in the local stack: `python -m streaming` as a background process."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from pinterest_common.spark_jars import ensure_resolved
from streaming.status import JobStatus

from .process import STOP_GRACE_S, _reap, pid_alive, read_pid, spawn, terminate
from .services import Service, connection_environment

HEARTBEAT_MAX_AGE_S = 15.0  # the job beats every 2 s
STOP_TIMEOUT_S = 90.0  # the running micro-batch finishes first


class SparkStreaming(Service):
    """The job on SPARK_MASTER with a small driver; healthy while its heartbeat says the query is
    active. Its checkpoint lives with the stack's Kafka data (`make clean-state` removes both)."""

    name = "streaming"
    start_timeout = 240.0  # JVM start, connector resolution, query start on a busy machine
    driver_memory = "512m"

    @property
    def endpoint(self) -> str:
        return f"postgres/{self.settings.streaming_database}"

    def prepare(self) -> None:
        ensure_resolved(self.settings)

    @property
    def checkpoint(self) -> Path:
        return self.dir / "checkpoint"

    @property
    def status_file(self) -> Path:
        return self.dir / "status.json"

    def _environment(self) -> dict[str, str]:
        """The job's settings, taken from this stack's settings rather than the caller's environment."""
        s = self.settings
        return {
            **os.environ,
            "PINTEREST_HOME": str(s.home),
            "KAFKA_BOOTSTRAP_SERVERS": s.kafka_bootstrap_servers,
            "PINTEREST_PG_HOST": s.pg_host,
            "PINTEREST_PG_PORT": str(s.pg_port),
            "PINTEREST_PG_USER": s.pg_user,
            "PINTEREST_PG_PASSWORD": s.pg_password,
            "PINTEREST_PG_STREAMING_USER": s.pg_streaming_user,
            "PINTEREST_PG_STREAMING_PASSWORD": s.pg_streaming_password,
            "PINTEREST_PG_API_USER": s.pg_api_user,
            "PINTEREST_PG_API_PASSWORD": s.pg_api_password,
            "PINTEREST_TOPIC_PARTITIONS": str(s.topic_partitions),
            "SPARK_MASTER": s.spark_master,
            "PINTEREST_SPARK_DRIVER_MEMORY": self.driver_memory,
            "PINTEREST_STREAMING_DATABASE": s.streaming_database,
            "PINTEREST_STREAMING_MAX_OFFSETS_PER_TRIGGER": str(s.streaming_max_offsets_per_trigger),
            "PINTEREST_RELAXED_RULES": ",".join(s.relaxed_rules),
            **connection_environment(s),
        }

    def _launch(self) -> None:
        self.status_file.unlink(missing_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "streaming",
            "--checkpoint",
            str(self.checkpoint),
            "--trigger-seconds",
            str(self.settings.streaming_trigger_seconds),
            "--status-file",
            str(self.status_file),
        ]
        spawn(cmd, self.log_file, self.pid_file, env=self._environment())

    def healthy(self) -> bool:
        pid = read_pid(self.pid_file)
        status = JobStatus.read(self.status_file)
        return (
            pid is not None
            and status is not None
            and status.pid == pid
            and status.active
            and time.time() - status.updated_at < HEARTBEAT_MAX_AGE_S
        )

    def stop(self, grace_s: float = STOP_TIMEOUT_S) -> bool:
        """SIGTERM to the job alone (it stops its query, then Spark), then the group if needed."""
        pid = read_pid(self.pid_file)
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + grace_s
            while pid_alive(pid) and time.monotonic() < deadline:
                _reap(pid)
                time.sleep(0.2)
        return terminate(self.pid_file, min(grace_s, STOP_GRACE_S)) or pid is not None
