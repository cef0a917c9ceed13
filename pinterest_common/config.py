"""The one configuration module: every component reads its settings from here.

Settings come from environment variables with defaults for the local stack (`make up`).
`.env.example` documents every variable; production deployments override them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

REPO_ROOT = Path(__file__).resolve().parent.parent

# Local-stack defaults. The credentials below are development defaults for services bound to
# 127.0.0.1, like MinIO's `minioadmin`; production sets its own through the environment.
DEFAULTS: dict[str, str] = {
    "PINTEREST_HOME": str(REPO_ROOT / ".pinterest"),
    "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
    "PINTEREST_KAFKA_CONTROLLER_PORT": "9093",
    "PINTEREST_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
    "PINTEREST_S3_BUCKET": "pinterest-data-lake",
    "PINTEREST_S3_REGION": "us-east-1",
    "PINTEREST_S3_ACCESS_KEY_ID": "pinterest",
    "PINTEREST_S3_SECRET_ACCESS_KEY": "pinterest-local-secret",
    "PINTEREST_PG_HOST": "127.0.0.1",
    "PINTEREST_PG_PORT": "5432",
    "PINTEREST_PG_USER": "pinterest",
    "PINTEREST_PG_PASSWORD": "pinterest-local",
    "SPARK_MASTER": "local[2]",
    "PINTEREST_SPARK_DRIVER_MEMORY": "1g",
}

# The PostgreSQL databases the platform uses, created by `make up`.
STREAMING_DB = "pinterest_streaming"
ANALYTICS_DB = "pinterest_analytics"
DAGSTER_DB = "dagster"
DATABASES = (STREAMING_DB, ANALYTICS_DB, DAGSTER_DB)

# Maven coordinates Spark resolves through its own package mechanism (--packages).
# hadoop-aws must match the Hadoop client bundled with pyspark (see spark_hadoop_version()).
SPARK_KAFKA_PACKAGE = "org.apache.spark:spark-sql-kafka-0-10_2.13:{spark_version}"
HADOOP_AWS_PACKAGE = "org.apache.hadoop:hadoop-aws:{hadoop_version}"


def _env(name: str, environ: dict[str, str] | None = None) -> str:
    source = os.environ if environ is None else environ
    value = source.get(name)
    return DEFAULTS[name] if value is None else value


def _optional(value: str) -> str | None:
    """An empty string means "not set" (e.g. no S3 endpoint: real AWS)."""
    return value or None


@dataclass(frozen=True)
class Settings:
    home: Path
    kafka_bootstrap_servers: str
    kafka_controller_port: int
    s3_endpoint_url: str | None
    s3_bucket: str
    s3_region: str
    s3_access_key_id: str | None
    s3_secret_access_key: str | None
    pg_host: str
    pg_port: int
    pg_user: str
    pg_password: str
    spark_master: str
    spark_driver_memory: str

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        get = lambda name: _env(name, environ)  # noqa: E731
        return cls(
            home=Path(get("PINTEREST_HOME")).expanduser().resolve(),
            kafka_bootstrap_servers=get("KAFKA_BOOTSTRAP_SERVERS"),
            kafka_controller_port=int(get("PINTEREST_KAFKA_CONTROLLER_PORT")),
            s3_endpoint_url=_optional(get("PINTEREST_S3_ENDPOINT_URL")),
            s3_bucket=get("PINTEREST_S3_BUCKET"),
            s3_region=get("PINTEREST_S3_REGION"),
            s3_access_key_id=_optional(get("PINTEREST_S3_ACCESS_KEY_ID")),
            s3_secret_access_key=_optional(get("PINTEREST_S3_SECRET_ACCESS_KEY")),
            pg_host=get("PINTEREST_PG_HOST"),
            pg_port=int(get("PINTEREST_PG_PORT")),
            pg_user=get("PINTEREST_PG_USER"),
            pg_password=get("PINTEREST_PG_PASSWORD"),
            spark_master=get("SPARK_MASTER"),
            spark_driver_memory=get("PINTEREST_SPARK_DRIVER_MEMORY"),
        )

    # Derived locations under PINTEREST_HOME.
    @property
    def cache_dir(self) -> Path:
        """Downloaded jars and package caches; survives `make clean-state`."""
        return self.home / "cache"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def kafka_port(self) -> int:
        return int(self.kafka_bootstrap_servers.split(",")[0].rsplit(":", 1)[1])

    @property
    def s3_port(self) -> int:
        if not self.s3_endpoint_url:
            raise ValueError("PINTEREST_S3_ENDPOINT_URL is not set: S3 is AWS, not a local server")
        return urlparse(self.s3_endpoint_url).port or 80

    def pg_dsn(self, database: str) -> str:
        """A libpq connection string for one of the platform's databases."""
        return (
            f"host={self.pg_host} port={self.pg_port} dbname={database} "
            f"user={self.pg_user} password={self.pg_password}"
        )

    def pg_url(self, database: str) -> str:
        """An SQLAlchemy-style URL (used by dagster-postgres)."""
        return (
            f"postgresql://{self.pg_user}:{self.pg_password}@{self.pg_host}:{self.pg_port}/{database}"
        )

    def s3a_url(self, key: str = "") -> str:
        return f"s3a://{self.s3_bucket}/{key}"


def get_settings() -> Settings:
    return Settings.from_env()
