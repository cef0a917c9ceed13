"""The code location's resources, fed by the shared configuration (pinterest_common.config):
Kafka (offsets and ranges for the drain), PostgreSQL (the lake's progress, the analytics), the
raw lake (bucket and roll limits), S3 and Spark.

Secrets (the PostgreSQL passwords, the S3 secret key, Kafka's SASL password) are always `dg.EnvVar` references, so the
UI shows the variable's name, never the value. The process sets them: a deployment's
environment, `make up`'s `.env` for plain `dagster dev`, pinterest_assets.instance for
`make ui`, `make batch` and the tests (the values pinterest_common.config settles on).
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Iterator
from typing import Any

import dagster as dg
import dagster_aws.s3
from dagster_pyspark import PySparkResource
from dagster_pyspark.resources import spark_session_from_config
from pydantic import Field

from pinterest_common import kafka_io
from pinterest_common.config import DAGSTER_DB, Settings, get_settings
from pinterest_common.kafka_io import PartitionOffsets
from pinterest_common.kafka_security import KafkaConnection
from pinterest_common.spark import spark_conf

from .lib.lake.objects import RollLimits
from .lib.lake.progress import ProgressStore


class PostgresResource(dg.ConfigurableResource):
    """The platform's PostgreSQL server (PINTEREST_PG_*): the admin role for Dagster's own
    database, and the analytics publisher's role (PINTEREST_PG_PUBLISHER_*) for pinterest_analytics."""

    host: str
    port: int = 5432
    user: str
    password: str = Field(description="Shown as the environment variable when set from one.")
    database: str = Field(default="dagster", description="The database `connect()` uses by default.")
    publisher_user: str | None = Field(
        default=None, description="The role that publishes the analytics tables (else `user`)."
    )
    publisher_password: str | None = Field(default=None, description="Shown as the environment variable.")
    connect_timeout_s: int = 10
    sslmode: str = Field(default="prefer", description="libpq's sslmode (PINTEREST_PG_SSLMODE).")
    sslrootcert: str | None = Field(default=None, description="The CA file that verify-* modes trust.")

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
            sslmode=self.sslmode,
            sslrootcert=self.sslrootcert,  # psycopg2 leaves out None
        )


class KafkaResource(dg.ConfigurableResource):
    """The Kafka cluster the API writes to (KAFKA_BOOTSTRAP_SERVERS)."""

    bootstrap_servers: str = Field(description="Comma-separated host:port list of the brokers.")
    security_protocol: str = Field(default="PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.")
    sasl_mechanism: str = Field(default="SCRAM-SHA-512", description="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.")
    sasl_username: str = Field(default="", description="The SASL user.")
    sasl_password: str | None = Field(default=None, description="Shown as the environment variable when set from one.")
    ssl_cafile: str = Field(default="", description="The CA file (PEM) to trust; empty: the system's.")
    request_timeout_ms: int = Field(default=10_000, description="Timeout of one Kafka request.")
    read_idle_timeout_s: float = Field(
        default=60.0, description="A landing run fails if reading its range makes no progress for this long."
    )

    @property
    def connection(self) -> KafkaConnection:
        return KafkaConnection(
            self.bootstrap_servers,
            self.security_protocol,
            self.sasl_mechanism,
            self.sasl_username,
            self.sasl_password or "",
            self.ssl_cafile,
        )

    def partition_offsets(self, topic: str) -> dict[int, PartitionOffsets] | None:
        """Earliest and end offset per partition (metadata only); None if the topic is missing.

        Bounded for sensor ticks: at worst about 3 request timeouts (bootstrap, metadata, and
        half a timeout for each of the two offset lookups), well inside Dagster's 60 s.
        """
        consumer = kafka_io.open_consumer(self.connection, self.request_timeout_ms, "pinterest-lake-sensor")
        try:
            return kafka_io.partition_offsets(consumer, topic, timeout_ms=self.request_timeout_ms // 2)
        finally:
            consumer.close()

    def earliest_offset(self, topic: str, partition: int) -> int:
        """The first offset Kafka still holds for one partition."""
        offsets = self.partition_offsets(topic) or {}
        if partition not in offsets:
            raise LookupError(f"{topic} has no partition {partition}")
        return offsets[partition].earliest

    def read_range(self, topic: str, partition: int, start: int, end: int) -> Iterator:
        """The records of one partition with offsets in [start, end), in order, as they arrive."""
        consumer = kafka_io.open_consumer(self.connection, self.request_timeout_ms, "pinterest-lake-landing")
        try:
            yield from kafka_io.read_range(consumer, topic, partition, start, end, self.read_idle_timeout_s)
        finally:
            consumer.close()


class RawLakeResource(dg.ConfigurableResource):
    """Where and how Kafka lands in S3 (PINTEREST_S3_BUCKET, PINTEREST_LAKE_*)."""

    bucket: str
    roll_max_records: int = Field(default=10_000, description="An object holds at most this many lines.")
    roll_max_bytes: int = Field(default=32 * 1024 * 1024, description="... and at most this many uncompressed bytes.")
    roll_max_span_seconds: int = Field(
        default=3600, description="... whose received_at values span at most this long (and one UTC day)."
    )
    max_records_per_run: int = Field(default=250_000, description="A landing run covers at most this many offsets.")
    upload_threads: int = Field(
        default=2, description="A landing run compresses and uploads this many objects at once while it reads on."
    )
    max_runs_per_tick: int = Field(default=20, description="A sensor tick requests at most this many runs.")
    run_timeout_seconds: int = Field(
        default=900, description="A landing run older than this is presumed dead; its range is requested again."
    )
    progress_database: str = Field(default="dagster", description="The database holding schema `lake`.")

    @property
    def roll_limits(self) -> RollLimits:
        return RollLimits(self.roll_max_records, self.roll_max_bytes, self.roll_max_span_seconds)

    def progress(self, postgres: PostgresResource) -> ProgressStore:
        return ProgressStore(lambda: postgres.connect(self.progress_database))


# These keys are filled in when the session starts, so the resource config shown in the UI
# holds no credentials.
_S3A_ACCESS_KEY = "spark.hadoop.fs.s3a.access.key"
_S3A_SECRET_KEY = "spark.hadoop.fs.s3a.secret.key"


class LakeSparkResource(PySparkResource):
    """A PySparkResource configured from `pinterest_common.spark.spark_conf` (Kafka and s3a
    connectors); the S3 keys come from their own fields (environment variables when set)."""

    s3_access_key_id: str | None = Field(default=None, description="For s3a; none: the AWS credential chain.")
    s3_secret_access_key: str | None = Field(default=None, description="For s3a.")

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        conf: dict[str, Any] = dict(self.spark_config)
        if self.s3_access_key_id and self.s3_secret_access_key:
            conf[_S3A_ACCESS_KEY] = self.s3_access_key_id
            conf[_S3A_SECRET_KEY] = self.s3_secret_access_key
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        self._spark_session = spark_session_from_config(conf)


def public_spark_conf(settings: Settings, app_name: str) -> dict[str, str]:
    """spark_conf without the credentials."""
    return {k: v for k, v in spark_conf(settings, app_name).items() if k not in (_S3A_ACCESS_KEY, _S3A_SECRET_KEY)}


PG_PASSWORD, S3_SECRET_KEY = "PINTEREST_PG_PASSWORD", "PINTEREST_S3_SECRET_ACCESS_KEY"
PUBLISHER_PASSWORD = "PINTEREST_PG_PUBLISHER_PASSWORD"
KAFKA_SASL_PASSWORD = "PINTEREST_KAFKA_SASL_PASSWORD"


class S3Resource(dagster_aws.s3.S3Resource):
    """dagster_aws's S3 resource with one client per process and configuration: building a
    client loads botocore's service models (~0.3 s), which each step of a run paid again."""

    def get_client(self):
        return _s3_client(tuple(sorted(self.model_dump().items())))


@functools.lru_cache(maxsize=4)
def _s3_client(config: tuple) -> object:
    return dagster_aws.s3.S3Resource(**dict(config)).get_client()


def build_resources(settings: Settings) -> dict[str, object]:
    # With no access key id, boto3 and s3a use the AWS credential chain, without a secret key.
    s3_secret = dg.EnvVar(S3_SECRET_KEY) if settings.s3_access_key_id else None
    postgres = PostgresResource(
        host=settings.pg_host,
        port=settings.pg_port,
        user=settings.pg_user,
        password=dg.EnvVar(PG_PASSWORD),
        database=DAGSTER_DB,
        publisher_user=settings.pg_publisher_user,
        publisher_password=dg.EnvVar(PUBLISHER_PASSWORD),
        sslmode=settings.pg_sslmode,
        sslrootcert=settings.pg_sslrootcert or None,
    )
    kafka = settings.kafka
    kafka_resource = KafkaResource(
        bootstrap_servers=kafka.bootstrap_servers,
        security_protocol=kafka.security_protocol,
        sasl_mechanism=kafka.sasl_mechanism,
        sasl_username=kafka.sasl_username if kafka.uses_sasl else "",
        sasl_password=dg.EnvVar(KAFKA_SASL_PASSWORD) if kafka.uses_sasl else None,
        ssl_cafile=kafka.ssl_cafile,
    )
    return {
        "kafka": kafka_resource,
        # No endpoint: AWS S3 itself; no keys: the AWS credential chain.
        "s3": S3Resource(
            endpoint_url=settings.s3_endpoint_url,
            region_name=settings.s3_region,
            aws_access_key_id=settings.s3_access_key_id,
            aws_secret_access_key=s3_secret,
        ),
        "postgres": postgres,
        "raw_lake": RawLakeResource(
            bucket=settings.s3_bucket,
            roll_max_records=settings.lake_roll_max_records,
            roll_max_bytes=settings.lake_roll_max_bytes,
            roll_max_span_seconds=settings.lake_roll_max_span_seconds,
            max_records_per_run=settings.lake_max_records_per_run,
            upload_threads=settings.lake_upload_threads,
            max_runs_per_tick=settings.lake_max_runs_per_tick,
            run_timeout_seconds=settings.lake_run_timeout_seconds,
            progress_database=DAGSTER_DB,
        ),
        "pyspark": LakeSparkResource(
            spark_config=public_spark_conf(settings, "pinterest-assets"),
            s3_access_key_id=settings.s3_access_key_id,
            s3_secret_access_key=s3_secret,
        ),
    }


def build_defs(settings: Settings | None = None) -> dg.Definitions:
    return dg.Definitions(resources=build_resources(settings or get_settings()))
