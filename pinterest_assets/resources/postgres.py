"""PostgreSQL: the lake's progress (database `dagster`, schema `lake`) and, later, analytics."""

from __future__ import annotations

from typing import Any

import dagster as dg
from pydantic import Field


class PostgresResource(dg.ConfigurableResource):
    """The platform's PostgreSQL server (PINTEREST_PG_*)."""

    host: str
    port: int = 5432
    user: str
    password: str = Field(description="Shown as the environment variable when set from one.")
    database: str = Field(default="dagster", description="The database `connect()` uses by default.")
    connect_timeout_s: int = 10

    def connect(self, database: str | None = None) -> Any:
        """A new psycopg2 connection (the caller closes it)."""
        import psycopg2

        return psycopg2.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=database or self.database,
            connect_timeout=self.connect_timeout_s,
            application_name="pinterest-assets",
        )
