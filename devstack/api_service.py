"""The ingestion API in the local stack: gunicorn serving ingestion_api on 127.0.0.1."""

from __future__ import annotations

import os
import sys

from .jars import SetupError
from .process import port_open, spawn, wait_until
from .services import LOCALHOST, Service, connection_environment


class IngestionApi(Service):
    """gunicorn with the asyncio workers of ingestion_api/gunicorn_config.py (ingestion_api/asgi.py);
    healthy when GET /healthz answers 200, i.e. the API reaches Kafka."""

    name = "api"
    start_timeout = 60.0

    @property
    def endpoint(self) -> str:
        return f"http://{LOCALHOST}:{self.settings.api_port}"

    def _environment(self) -> dict[str, str]:
        """The API's settings, taken from this stack's settings rather than the caller's environment."""
        s = self.settings
        return {
            **os.environ,
            "PINTEREST_HOME": str(s.home),
            "KAFKA_BOOTSTRAP_SERVERS": s.kafka_bootstrap_servers,
            "PINTEREST_API_PORT": str(s.api_port),
            "PINTEREST_API_KEYS": ",".join(s.api_keys),
            "PINTEREST_API_WORKERS": str(s.api_workers),
            "PINTEREST_API_THREADS": str(s.api_threads),
            "PINTEREST_API_BATCH_MAX_EVENTS": str(s.api_batch_max_events),
            "PINTEREST_API_MAX_BYTES": str(s.api_max_bytes),
            "PINTEREST_API_KAFKA_TIMEOUT_S": str(s.api_kafka_timeout_s),
            "PINTEREST_API_READ_TIMEOUT_S": str(s.api_read_timeout_s),
            "PINTEREST_TOPIC_PARTITIONS": str(s.topic_partitions),
            # GET /recommendations/profiles reads the streaming database as the API's role.
            "PINTEREST_PG_HOST": s.pg_host,
            "PINTEREST_PG_PORT": str(s.pg_port),
            "PINTEREST_PG_API_USER": s.pg_api_user,
            "PINTEREST_PG_API_PASSWORD": s.pg_api_password,
            "PINTEREST_STREAMING_DATABASE": s.streaming_database,
            **connection_environment(s),
        }

    def _launch(self) -> None:
        port = self.settings.api_port
        if port_open(LOCALHOST, port):
            raise SetupError(f"port {port} is already in use by another process: set PINTEREST_API_PORT to a free port")
        cmd = [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            "python:ingestion_api.gunicorn_config",
            "--bind",
            f"{LOCALHOST}:{port}",
            "--name",
            "pinterest-api",
            # One control socket per stack, not gunicorn's shared default under $HOME.
            "--control-socket",
            str(self.pid_file.with_suffix(".ctl")),
            "ingestion_api.app:create_app()",
        ]
        spawn(cmd, self.log_file, self.pid_file, env=self._environment())

    def provision(self) -> None:
        """Wait until every worker reaches Kafka: answers in a row, as connections spread over workers."""
        wait_until(
            lambda: all(self.healthy() for _ in range(2 * self.settings.api_workers)),
            self.start_timeout,
            self.name,
            self.log_file,
        )

    def healthy(self) -> bool:
        import requests

        try:
            answer = requests.get(f"{self.endpoint}/healthz", timeout=3)
        except requests.RequestException as exc:
            self.problem = f"the API does not answer: {exc}"
            return False
        if answer.status_code == 200:
            return True
        try:
            detail = answer.json().get("detail") or answer.text[:200]
        except ValueError:
            detail = answer.text[:200]
        self.problem = f"the API answers {answer.status_code}: {detail}"
        return False
