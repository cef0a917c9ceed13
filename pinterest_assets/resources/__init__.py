"""Resources, fed by the shared configuration (pinterest_common.config).

Secrets (the PostgreSQL password, the S3 secret key) are always `dg.EnvVar` references, so the
UI shows the variable's name, never the value. When such a variable is unset, loading the code
location exports the value pinterest_common.config settles on (for the local stack, the one
generated into $PINTEREST_HOME/secrets.env), so sensors and runs resolve the same secret.
"""

from __future__ import annotations

import functools
import os

import dagster as dg
import dagster_aws.s3

from pinterest_common.config import DAGSTER_DB, LOCAL_SECRETS, Settings, get_settings

from .kafka import KafkaResource
from .lake import RawLakeResource
from .postgres import PostgresResource
from .spark import LakeSparkResource, public_spark_conf

__all__ = [
    "KafkaResource", "LakeSparkResource", "PostgresResource", "RawLakeResource", "build_defs", "build_resources", "export_secrets",
]


PG_PASSWORD, S3_SECRET_KEY = "PINTEREST_PG_PASSWORD", "PINTEREST_S3_SECRET_ACCESS_KEY"
PUBLISHER_PASSWORD = "PINTEREST_PG_PUBLISHER_PASSWORD"


class S3Resource(dagster_aws.s3.S3Resource):
    """dagster_aws's S3 resource with one client per process and configuration: building a
    client loads botocore's service models (~0.3 s), which each step of a run paid again."""

    def get_client(self):
        return _s3_client(tuple(sorted(self.model_dump().items())))


@functools.lru_cache(maxsize=4)
def _s3_client(config: tuple) -> object:
    return dagster_aws.s3.S3Resource(**dict(config)).get_client()


def export_secrets(settings: Settings) -> None:
    """Set each unset secret variable to the value the settings resolved for it."""
    values = {PG_PASSWORD: settings.pg_password, S3_SECRET_KEY: settings.s3_secret_access_key,
              PUBLISHER_PASSWORD: settings.pg_publisher_password}
    for variable in LOCAL_SECRETS:
        if not os.environ.get(variable) and values.get(variable):
            os.environ[variable] = values[variable]


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
    )
    return {
        "kafka": KafkaResource(bootstrap_servers=settings.kafka_bootstrap_servers),
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
    settings = settings or get_settings()
    export_secrets(settings)
    return dg.Definitions(resources=build_resources(settings))
