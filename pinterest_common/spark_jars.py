"""The Kafka and S3 connectors' jars, resolved once by Spark's own package resolution (Ivy, from
Maven Central) into `$PINTEREST_HOME/cache/ivy`, and recorded in a class-path file there.

Why: a `local[*]` session given `spark.jars.packages` copies every resolved jar (about 700 MB,
mostly the AWS SDK bundle) into its temporary directory at start, every time. With the class-path
file, local sessions put the cached jars on the driver's class path instead
(`spark.driver.extraClassPath`, see pinterest_common.spark.spark_conf). Sessions on a cluster
master keep `spark.jars.packages`: their executors need the jars shipped.

    python -m pinterest_common.spark_jars     # resolve and record (`make install` does it)
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlparse

from .config import HADOOP_AWS_PACKAGE, SPARK_KAFKA_PACKAGE, Settings, get_settings


def spark_packages() -> list[str]:
    import pyspark

    return [
        SPARK_KAFKA_PACKAGE.format(spark_version=pyspark.__version__),
        HADOOP_AWS_PACKAGE.format(hadoop_version=hadoop_version()),
    ]


def _artifact(jar_name: str) -> str:
    """`lz4-java` of `lz4-java-1.11.0.jar`."""
    return re.sub(r"-\d[^-]*\.jar$", "", jar_name)


def _pyspark_jars() -> str:
    """The directory of the jars the pyspark distribution bundles."""
    import pyspark

    return os.path.join(os.path.dirname(pyspark.__file__), "jars")


def _bundled_artifacts() -> set[str]:
    return {_artifact(name) for name in os.listdir(_pyspark_jars())}


def hadoop_version() -> str:
    """The Hadoop client version bundled with pyspark; hadoop-aws must match it exactly."""
    jars = _pyspark_jars()
    for name in os.listdir(jars):
        if name.startswith("hadoop-client-api-") and name.endswith(".jar"):
            return name[len("hadoop-client-api-") : -len(".jar")]
    raise RuntimeError(f"no hadoop-client-api jar in {jars}")


def ivy_dir(settings: Settings) -> Path:
    return settings.cache_dir / "ivy"


def classpath_file(settings: Settings) -> Path:
    """Named after the packages, so a new pyspark (new connector versions) resolves again."""
    digest = hashlib.sha256(",".join(spark_packages()).encode()).hexdigest()[:12]
    return ivy_dir(settings) / f"classpath-{digest}.txt"


def recorded_jars(settings: Settings) -> list[str] | None:
    """The recorded connector jars, or None if not recorded yet (or a jar has gone)."""
    path = classpath_file(settings)
    if not path.exists():
        return None
    jars = path.read_text().split()
    return jars if jars and all(os.path.exists(jar) for jar in jars) else None


def resolve(settings: Settings) -> list[str]:
    """Resolve the packages in a throwaway local session and record the jars it was given."""
    from pyspark.sql import SparkSession

    with tempfile.TemporaryDirectory(prefix="spark-resolve-") as local_dir:
        session = (
            SparkSession.builder.master("local[1]")
            .appName("resolve-connectors")
            .config("spark.jars.packages", ",".join(spark_packages()))
            .config("spark.jars.ivy", str(ivy_dir(settings)))
            .config("spark.local.dir", local_dir)
            .config("spark.ui.enabled", "false")
            .getOrCreate()
        )
        try:
            resolved = session.conf.get("spark.jars")
            assert resolved is not None  # without a default, get() answers a value or raises
            jars = [urlparse(url).path for url in resolved.split(",") if url]
        finally:
            session.stop()
    if not jars:
        raise RuntimeError("Spark resolved no jars for " + ", ".join(spark_packages()))
    # On the driver's class path they would come before pyspark's own jars: leave out what pyspark
    # bundles already (as with spark.jars.packages, where pyspark's copy wins).
    bundled = _bundled_artifacts()
    jars = [
        jar for jar in jars if _artifact(os.path.basename(jar).split("_", 1)[1]) not in bundled
    ]  # Ivy: group_artifact-version
    classpath_file(settings).write_text("\n".join(jars) + "\n")
    return jars


def ensure_resolved(settings: Settings) -> list[str]:
    """The recorded jars; resolves them first, in a child process (its JVM must not be ours)."""
    jars = recorded_jars(settings)
    if jars is None:
        print(f"[spark] resolving {', '.join(spark_packages())} into {ivy_dir(settings)} ...", flush=True)
        subprocess.run([sys.executable, "-m", "pinterest_common.spark_jars"], check=True)
        jars = recorded_jars(settings)
        if jars is None:
            raise RuntimeError(f"resolving the Spark connectors recorded nothing in {classpath_file(settings)}")
    return jars


if __name__ == "__main__":
    for jar in resolve(get_settings()):
        print(jar)
