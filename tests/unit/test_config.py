import re
from pathlib import Path

import pytest

from devstack.local_secrets import ensure_local_secrets
from pinterest_common.config import DEFAULTS, REPO_ROOT, MissingSecret, Settings


def test_defaults_point_at_the_local_stack():
    settings = Settings.from_env({})
    assert settings.kafka_bootstrap_servers == "127.0.0.1:9092"
    assert settings.s3_endpoint_url == "http://127.0.0.1:9000"
    assert settings.s3_bucket == "pinterest-data-lake"
    assert (settings.pg_host, settings.pg_port) == ("127.0.0.1", 5432)
    assert settings.spark_master == "local[2]"
    assert settings.home == REPO_ROOT / ".pinterest"
    assert settings.stack_dir == REPO_ROOT / ".pinterest" / "stack"


def test_environment_overrides_and_empty_endpoint_means_aws():
    settings = Settings.from_env(
        {
            "PINTEREST_HOME": "/srv/pinterest",
            "KAFKA_BOOTSTRAP_SERVERS": "broker-1:9092,broker-2:9092",
            "PINTEREST_S3_ENDPOINT_URL": "",
            "PINTEREST_S3_ACCESS_KEY_ID": "",
            "PINTEREST_PG_PORT": "6543",
            "PINTEREST_PG_PASSWORD": "from-the-environment",
        }
    )
    assert settings.home == Path("/srv/pinterest")
    assert settings.stack_dir == Path("/srv/pinterest/stack")
    assert settings.kafka_port == 9092
    assert settings.s3_endpoint_url is None
    assert settings.s3_access_key_id is None
    assert settings.pg_port == 6543
    assert "port=6543" in settings.pg_dsn("dagster")
    assert "password=from-the-environment" in settings.pg_dsn("dagster")


def test_env_example_documents_every_variable():
    assignment = re.compile(r"^(?:# )?([A-Z][A-Z0-9_]*)=")
    documented = {
        match.group(1)
        for line in (REPO_ROOT / ".env.example").read_text().splitlines()
        if (match := assignment.match(line))
    }
    assert set(DEFAULTS) <= documented


def test_local_secrets_are_generated_once_by_the_devstack_and_kept_out_of_repr(tmp_path):
    assert Settings.from_env({"PINTEREST_HOME": str(tmp_path)}).pg_password == ""  # reading generates nothing
    assert not (tmp_path / "secrets.env").exists()
    ensure_local_secrets(tmp_path)
    first = Settings.from_env({"PINTEREST_HOME": str(tmp_path)})
    ensure_local_secrets(tmp_path)
    again = Settings.from_env({"PINTEREST_HOME": str(tmp_path)})
    assert len(first.pg_password) >= 24 and first.pg_password == again.pg_password
    assert first.s3_secret_access_key and first.s3_secret_access_key != first.pg_password
    assert (tmp_path / "secrets.env").stat().st_mode & 0o777 == 0o600
    assert first.pg_password not in repr(first) and first.s3_secret_access_key not in repr(first)
    explicit = Settings.from_env({"PINTEREST_HOME": str(tmp_path), "PINTEREST_PG_PASSWORD": "from-env"})
    assert explicit.pg_password == "from-env"


def test_a_password_neither_set_nor_generated_is_a_clear_error(tmp_path):
    settings = Settings.from_env({"PINTEREST_HOME": str(tmp_path)})
    with pytest.raises(MissingSecret, match="PINTEREST_PG_PASSWORD is not set .*make up"):
        settings.pg_dsn("dagster")


def test_role_passwords_are_added_to_an_older_secrets_file_without_changing_it(tmp_path):
    from devstack.local_secrets import ensure_local_secrets

    (tmp_path / "secrets.env").write_text("PINTEREST_S3_SECRET_ACCESS_KEY=old-s3\nPINTEREST_PG_PASSWORD=old-pg\n")
    ensure_local_secrets(tmp_path)
    settings = Settings.from_env({"PINTEREST_HOME": str(tmp_path)})
    assert (settings.pg_password, settings.s3_secret_access_key) == ("old-pg", "old-s3")
    passwords = {settings.pg_streaming_password, settings.pg_api_password, settings.pg_publisher_password}
    assert len(passwords) == 3 and all(len(p) >= 24 for p in passwords) and "old-pg" not in passwords
    ensure_local_secrets(tmp_path)
    assert Settings.from_env({"PINTEREST_HOME": str(tmp_path)}) == settings
    assert (tmp_path / "secrets.env").stat().st_mode & 0o777 == 0o600
    assert all(p not in repr(settings) for p in passwords)


def test_each_component_connects_as_its_own_role(tmp_path):
    from pinterest_common.config import PG_API, PG_PUBLISHER, PG_STREAMING

    ensure_local_secrets(tmp_path)
    settings = Settings.from_env({"PINTEREST_HOME": str(tmp_path), "PINTEREST_PG_API_PASSWORD": "it's a secret"})
    assert "user=pinterest " in settings.pg_dsn("dagster") + " "
    assert "user=pinterest_streaming_writer " in settings.pg_dsn("pinterest_streaming", PG_STREAMING)
    assert "user=pinterest_analytics_publisher " in settings.pg_dsn("pinterest_analytics", PG_PUBLISHER)
    api = settings.pg_dsn("pinterest_streaming", PG_API)
    assert "user=pinterest_api_reader " in api and "password='it\\'s a secret' " in api
