"""How sessions get the connector jars, and how lake writes clean up after Spark's committer."""

from __future__ import annotations

from pinterest_common.config import Settings
from pinterest_common.s3 import delete_keys
from pinterest_common.spark import spark_conf
from pinterest_common.spark_jars import classpath_file, spark_packages


def _settings(tmp_path, master: str) -> Settings:
    return Settings.from_env({"PINTEREST_HOME": str(tmp_path), "SPARK_MASTER": master})


def test_local_sessions_use_the_recorded_jars_on_the_driver_class_path(tmp_path):
    settings = _settings(tmp_path, "local[2]")
    assert spark_conf(settings, "t")["spark.jars.packages"] == ",".join(spark_packages())  # nothing recorded yet

    jars = [tmp_path / "a.jar", tmp_path / "b.jar"]
    for jar in jars:
        jar.write_bytes(b"")
    classpath_file(settings).parent.mkdir(parents=True)
    classpath_file(settings).write_text("\n".join(map(str, jars)) + "\n")
    conf = spark_conf(settings, "t")
    assert conf["spark.driver.extraClassPath"] == f"{jars[0]}:{jars[1]}"
    assert "spark.jars.packages" not in conf

    jars[1].unlink()  # a jar has gone: resolve again through the packages
    assert "spark.driver.extraClassPath" not in spark_conf(settings, "t")


def test_cluster_sessions_ship_the_packages_to_their_executors(tmp_path):
    settings = _settings(tmp_path, "spark://127.0.0.1:7077")
    jar = tmp_path / "a.jar"
    jar.write_bytes(b"")
    classpath_file(settings).parent.mkdir(parents=True)
    classpath_file(settings).write_text(f"{jar}\n")
    conf = spark_conf(settings, "t")
    assert conf["spark.jars.packages"] == ",".join(spark_packages())
    assert "spark.driver.extraClassPath" not in conf


class _RecordingS3:
    def __init__(self):
        self.requests: list[list[str]] = []

    def delete_objects(self, Bucket, Delete):
        self.requests.append([entry["Key"] for entry in Delete["Objects"]])


def test_keys_are_deleted_children_before_the_folders_that_hold_them():
    s3 = _RecordingS3()
    keys = [
        "out/",
        "out/_temporary/0/",
        "out/_temporary/0/task_1/",
        "out/_temporary/0/_temporary/",
        "out/part-0.parquet",
        "out/_temporary/0/task_1/part-0.parquet",
    ]
    delete_keys(s3, "bucket", keys)
    (sent,) = s3.requests
    assert sorted(sent) == sorted(keys)
    for key in keys:
        if key.endswith("/"):
            children = [other for other in keys if other != key and other.startswith(key)]
            assert all(sent.index(child) < sent.index(key) for child in children), (key, sent)


def test_more_keys_than_one_request_takes_go_in_pages():
    s3 = _RecordingS3()
    delete_keys(s3, "bucket", [f"k/{i:05d}" for i in range(2_500)])
    assert [len(page) for page in s3.requests] == [1000, 1000, 500]
