"""The whole local stack: the services in start order, started and stopped together."""

from __future__ import annotations

from pathlib import Path

from pinterest_common.config import Settings

from .api_service import IngestionApi
from .services import Kafka, Postgres, S3Server, Service, ServiceStatus
from .streaming_service import SparkStreaming


class Stack:
    def __init__(self, settings: Settings, state_dir: Path | None = None):
        self.settings = settings
        self.state_dir = state_dir or settings.stack_dir
        services = (Postgres, S3Server, Kafka, IngestionApi, SparkStreaming)
        self.services: list[Service] = [service(settings, self.state_dir) for service in services]

    def prepare(self) -> None:
        """Resolve jars and check binaries, so `up` and the tests start without downloads."""
        for service in self.services:
            service.prepare()

    def up(self) -> None:
        for service in self.services:
            service.start()

    def down(self, grace_s: float | None = None) -> list[str]:
        """Stop every service, the last started first; `grace_s`: how long each may shut down
        after SIGTERM before it is killed (default: the service's own)."""
        stopping = reversed(self.services)
        if grace_s is None:
            return [service.name for service in stopping if service.stop()]
        return [service.name for service in stopping if service.stop(grace_s)]

    def status(self) -> list[ServiceStatus]:
        return [service.status() for service in self.services]
