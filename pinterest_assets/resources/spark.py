"""Spark for the cleaning assets (next issue), through dagster-pyspark."""

from __future__ import annotations

import os
import sys
from typing import Any

import dagster as dg
from dagster_pyspark import PySparkResource
from dagster_pyspark.resources import spark_session_from_config
from pydantic import Field

from pinterest_common.config import Settings
from pinterest_common.spark import spark_conf

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
