"""Build SparkSessions that can read Kafka and the S3 lake (`s3a://`), for batch and streaming.

Connector jars come through Spark's own package resolution from Maven Central, cached under
`$PINTEREST_HOME/cache/ivy` (see pinterest_common.spark_jars): local sessions put the recorded
jars on the driver's class path, cluster sessions (and local ones before they are recorded) use
`spark.jars.packages`.
"""

from __future__ import annotations

import os
import sys

from .config import Settings
from .spark_jars import ivy_dir, recorded_jars, spark_packages


def spark_conf(settings: Settings, app_name: str) -> dict[str, str]:
    """The Spark configuration shared by the batch assets and the streaming job."""
    conf = {
        "spark.app.name": app_name,
        "spark.master": settings.spark_master,
        "spark.driver.memory": settings.spark_driver_memory,
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": "4",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",  # progress bars would garble the run logs
        "spark.driver.host": settings.spark_driver_host,
        "spark.driver.bindAddress": settings.spark_driver_bind_address,
        "spark.local.dir": str(settings.home / "spark-tmp"),
        "spark.hadoop.fs.s3a.bucket.probe": "0",
        # With the default S3A input stream of Hadoop 3.5 (its analytics-accelerator classes) every
        # stream's statistics stayed alive: reading 50,000 small objects filled a 2 GB driver.
        # The classic stream releases them.
        "spark.hadoop.fs.s3a.input.stream.type": "classic",
        # Memory pages of 8 MB, not 64 (the default for a 2 GB driver on 2 cores): every broadcast
        # hash join holds at least a page until Spark's cleaner frees it, ten questions ~640 MB.
        "spark.buffer.pageSize": "8m",
        # The committer's cleanup deletes _temporary/ parent first: 10 s a write on S3Proxy.
        # pinterest_assets.lib.queries.lake_tables.write_parquet removes it children first instead.
        "spark.hadoop.mapreduce.fileoutputcommitter.cleanup.skipped": "true",
        # A task's files are renamed into place when the task commits, not again at the job's
        # commit: on S3 a rename is a copy, so every table written is copied once, not twice.
        # A job that fails may leave files behind: the cleaned tables' pointer then never names
        # that version, and an analytics answer is overwritten by the next run.
        "spark.hadoop.mapreduce.fileoutputcommitter.algorithm.version": "2",
        "spark.hadoop.fs.s3a.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "spark.hadoop.fs.s3a.endpoint.region": settings.s3_region,
    }
    local_jars = recorded_jars(settings) if settings.spark_master.startswith("local") else None
    if local_jars:
        conf["spark.driver.extraClassPath"] = os.pathsep.join(local_jars)
    else:
        conf.update({"spark.jars.packages": ",".join(spark_packages()), "spark.jars.ivy": str(ivy_dir(settings))})
    if settings.s3_endpoint_url:
        conf.update(
            {
                "spark.hadoop.fs.s3a.endpoint": settings.s3_endpoint_url,
                "spark.hadoop.fs.s3a.path.style.access": "true",
                "spark.hadoop.fs.s3a.connection.ssl.enabled": str(settings.s3_endpoint_url.startswith("https")).lower(),
                "spark.hadoop.fs.s3a.change.detection.mode": "none",
            }
        )
    if settings.s3_access_key_id and settings.s3_secret_access_key:
        conf.update(
            {
                "spark.hadoop.fs.s3a.aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
                "spark.hadoop.fs.s3a.access.key": settings.s3_access_key_id,
                "spark.hadoop.fs.s3a.secret.key": settings.s3_secret_access_key,
            }
        )
    return conf


def build_spark_session(settings: Settings, app_name: str = "pinterest", extra: dict[str, str] | None = None):
    """A SparkSession for `settings.spark_master` with the Kafka and S3 connectors (the one
    session factory; `extra`: settings of one component, e.g. the streaming driver's JVM)."""
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder
    for key, value in {**spark_conf(settings, app_name), **(extra or {})}.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()
