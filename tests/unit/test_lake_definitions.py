"""The code location's shape: what `dagster dev -w workspace.yaml` shows, and its instance config."""

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster_aws.s3 import S3Resource
from dagster_pyspark import PySparkResource

from devstack.local_secrets import ensure_local_secrets
from pinterest_assets import instance as instance_module
from pinterest_assets.definitions import build_definitions
from pinterest_assets.lib.topics import DRAINED_TOPICS
from pinterest_assets.resources import build_resources
from pinterest_common.config import REPO_ROOT, Settings

defs = build_definitions()


def asset_graph():
    return defs.get_repository_def().asset_graph


def test_assets_read_like_the_architecture():
    graph = asset_graph()
    for stream in DRAINED_TOPICS:
        raw = graph.get(dg.AssetKey(stream.asset_name))
        topic = graph.get(dg.AssetKey(stream.topic_asset_name))
        assert raw.group_name == "raw_lake" and raw.kinds == {"kafka", "s3"}
        assert topic.group_name == "kafka" and topic.kinds == {"kafka"} and not topic.is_materializable
        assert raw.parent_keys == {topic.key}
    groups = {"kafka", "raw_lake"}
    assert {k.to_user_string() for k in graph.get_all_asset_keys() if graph.get(k).group_name in groups} == {
        "raw_pin_events",
        "raw_geo_events",
        "raw_user_events",
        "kafka_pin_events",
        "kafka_geo_events",
        "kafka_user_events",
    }


def test_each_raw_asset_has_its_two_checks_and_its_landing_job_runs_them():
    graph = asset_graph()
    for stream in DRAINED_TOPICS:
        checks = {k.name for k in graph.asset_check_keys if k.asset_key == dg.AssetKey(stream.asset_name)}
        assert checks == {"nothing_lost", "no_duplicate_offsets"}
        job = defs.resolve_job_def(stream.job_name)
        assert set(job.graph.node_dict) == {stream.asset_name, f"{stream.asset_name}_checks"}


def test_resources_come_from_the_shared_configuration():
    settings = Settings.from_env({})
    resources = build_resources(settings)
    assert set(resources) == {"kafka", "s3", "postgres", "raw_lake", "pyspark"}
    assert resources["kafka"].bootstrap_servers == "127.0.0.1:9092"
    assert isinstance(resources["s3"], S3Resource) and resources["s3"].endpoint_url == "http://127.0.0.1:9000"
    assert resources["postgres"].database == "dagster" and resources["postgres"].port == 5432
    lake = resources["raw_lake"]
    assert (lake.bucket, lake.max_records_per_run, lake.roll_max_records) == ("pinterest-data-lake", 250_000, 10_000)
    assert lake.upload_threads == 2
    spark = resources["pyspark"]
    assert isinstance(spark, PySparkResource)
    assert spark.spark_config["spark.master"] == "local[2]"
    assert spark.spark_config["spark.hadoop.fs.s3a.endpoint"] == "http://127.0.0.1:9000"
    assert "spark.hadoop.fs.s3a.secret.key" not in spark.spark_config  # shown in the UI


def test_aws_means_no_endpoint_and_secrets_from_the_environment_are_env_vars(monkeypatch):
    monkeypatch.setenv("PINTEREST_PG_PASSWORD", "from-env")
    monkeypatch.setenv("PINTEREST_S3_SECRET_ACCESS_KEY", "secret-from-env")
    settings = Settings.from_env({"PINTEREST_S3_ENDPOINT_URL": "", "PINTEREST_S3_ACCESS_KEY_ID": ""})
    resources = build_resources(settings)
    assert resources["s3"].endpoint_url is None and resources["s3"].aws_access_key_id is None
    assert isinstance(resources["postgres"].password, dg.EnvVar)
    assert resources["postgres"].password == "PINTEREST_PG_PASSWORD"  # the name, not the value


def test_workspace_file_loads_the_module_and_no_pyproject_block_overrides_it():
    workspace = yaml.safe_load((REPO_ROOT / "workspace.yaml").read_text())
    target = workspace["load_from"][0]["python_module"]
    assert target["module_name"] == "pinterest_assets.definitions" and target["working_directory"] == "."
    tool = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text()).get("tool", {})
    assert "dagster" not in tool and "dg" not in tool


def test_dagsters_own_validation_of_the_workspace_passes(tmp_path):
    """`dagster definitions validate`: what `dg check defs` does for a dg project, on workspace.yaml
    (run from an empty directory: a `.env` in the checkout, `make up`'s, plays no part)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "PINTEREST_"))}
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("dagster")),
            "definitions",
            "validate",
            "-w",
            str(REPO_ROOT / "workspace.yaml"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_loading_the_definitions_sets_no_environment_variable():
    code = (
        "import os; before = dict(os.environ); from pinterest_assets.definitions import defs, build_definitions; "
        "build_definitions(); changed = {k for k in set(before) | set(os.environ) if before.get(k) != os.environ.get(k)}; "
        "print(sorted(changed))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if not k.startswith(("PINTEREST_", "DAGSTER_"))},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_loading_the_definitions_warns_about_nothing():
    code = (
        "from pinterest_assets.definitions import build_definitions; dg = __import__('dagster'); "
        "dg.Definitions.validate_loadable(build_definitions())"
    )
    result = subprocess.run(
        [sys.executable, "-W", "always", "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr, result.stderr


def test_the_instance_config_keeps_everything_in_postgres_through_env_references(tmp_path, monkeypatch):
    ensure_local_secrets(tmp_path)
    settings = Settings.from_env({"PINTEREST_HOME": str(tmp_path), "PINTEREST_PG_PORT": "6543"})
    assert settings.dagster_home == tmp_path / "dagster"
    environment = instance_module.instance_environment(settings)
    assert environment == {
        "DAGSTER_HOME": str(tmp_path / "dagster"),
        "PINTEREST_PG_HOST": "127.0.0.1",
        "PINTEREST_PG_PORT": "6543",
        "PINTEREST_PG_USER": "pinterest",
        "PINTEREST_PG_PASSWORD": settings.pg_password,
        "PGSSLMODE": "prefer",  # libpq's, for dagster-postgres
        # the secrets the resources name as EnvVars
        "PINTEREST_PG_PUBLISHER_PASSWORD": settings.pg_publisher_password,
        "PINTEREST_S3_SECRET_ACCESS_KEY": settings.s3_secret_access_key,
    }
    written = instance_module.write_instance_config(settings.dagster_home)
    config = yaml.safe_load(written.read_text())
    db = config["storage"]["postgres"]["postgres_db"]
    assert db["db_name"] == "dagster"
    assert {db[k]["env"] for k in ("hostname", "port", "username", "password")} == {
        "PINTEREST_PG_HOST",
        "PINTEREST_PG_PORT",
        "PINTEREST_PG_USER",
        "PINTEREST_PG_PASSWORD",
    }

    # Dagster's schema accepts it (it raises on an invalid dagster.yaml).
    from dagster._core.instance.config import dagster_instance_config

    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    validated, _ = dagster_instance_config(str(settings.dagster_home))
    assert set(validated) >= {"storage", "concurrency", "run_monitoring"}


@pytest.mark.parametrize("value", ["", "${PINTEREST_HOME}/dagster", "$PINTEREST_HOME/dagster"])
def test_dagster_home_defaults_under_pinterest_home(value, tmp_path):
    settings = Settings.from_env({"PINTEREST_HOME": str(tmp_path), "DAGSTER_HOME": value})
    assert settings.dagster_home == tmp_path / "dagster"
