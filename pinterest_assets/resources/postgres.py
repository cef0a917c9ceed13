"""PostgreSQL: the lake's progress (database `dagster`, schema `lake`) and, later, analytics."""

from __future__ import annotations

from typing import Any

import dagster as dg
from pydantic import Field


class PostgresResource(dg.ConfigurableResource):
    """The platform's PostgreSQL server (PINTEREST_PG_*): the admin role for Dagster's own
    database, and the analytics publisher's role (PINTEREST_PG_PUBLISHER_*) for pinterest_analytics."""

    host: str
    port: int = 5432
    user: str
    password: str = Field(description="Shown as the environment variable when set from one.")
    database: str = Field(default="dagster", description="The database `connect()` uses by default.")
    publisher_user: str | None = Field(
        default=None, description="The role that publishes the analytics tables (else `user`).")
    publisher_password: str | None = Field(default=None, description="Shown as the environment variable.")
    connect_timeout_s: int = 10

    def connect(self, database: str | None = None) -> Any:
        """A new psycopg2 connection as the admin role (the caller closes it)."""
        return self._connect(self.user, self.password, database or self.database)

    def connect_publisher(self, database: str) -> Any:
        """A new connection as the analytics publisher, which may write `pinterest_analytics` alone."""
        if self.publisher_user is None:
            return self.connect(database)
        return self._connect(self.publisher_user, self.publisher_password or "", database)

    def _connect(self, user: str, password: str, database: str) -> Any:
        import psycopg2

        return psycopg2.connect(
            host=self.host,
            port=self.port,
            user=user,
            password=password,
            dbname=database,
            connect_timeout=self.connect_timeout_s,
            application_name="pinterest-assets",
        )
