"""`make up`'s `.env` for plain `dagster dev`: the configuration set, the instance and the secrets,
read back as Dagster reads it (python-dotenv), mode 0600, never someone else's file overwritten."""

import stat

from dotenv import dotenv_values as read_dotenv

from devstack.dotenv import MARKER, dotenv_values, write_dotenv
from pinterest_common.config import LOCAL_SECRETS, Settings


def settings(tmp_path, **overrides) -> Settings:
    environ = {
        "PINTEREST_HOME": str(tmp_path / "home"),
        **{name: f"secret {name} #1" for name in LOCAL_SECRETS},
        **overrides,
    }
    return Settings.from_env(environ)


def test_the_file_holds_the_configuration_set_the_instance_and_the_secrets(tmp_path):
    s = settings(tmp_path, PINTEREST_API_PORT="18000")
    environ = {"PINTEREST_API_PORT": "18000", "HOME": "/root", "UNRELATED": "x"}
    values = dotenv_values(s, environ)
    assert values["PINTEREST_API_PORT"] == "18000"
    assert "HOME" not in values and "UNRELATED" not in values  # configuration variables only
    assert values["DAGSTER_HOME"] == str(s.dagster_home)
    assert values["PINTEREST_PG_PASSWORD"] == s.pg_password
    assert values["PINTEREST_S3_SECRET_ACCESS_KEY"] == s.s3_secret_access_key


def test_written_with_mode_0600_and_read_back_as_dagster_reads_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PINTEREST_API_PORT", "18000")
    s, path = settings(tmp_path), tmp_path / ".env"
    assert write_dotenv(s, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().splitlines()[0] == MARKER
    read = read_dotenv(path)
    assert read["PINTEREST_PG_PASSWORD"] == "secret PINTEREST_PG_PASSWORD #1"  # quoted: spaces and '#'
    assert read["PINTEREST_API_PORT"] == "18000"
    assert (s.dagster_home / "dagster.yaml").exists()  # the instance it names is ready
    assert write_dotenv(s, path)  # ours: rewritten


def test_a_file_it_did_not_write_is_left_alone(tmp_path):
    path = tmp_path / ".env"
    path.write_text("MY_VARIABLE=mine\n")
    assert not write_dotenv(settings(tmp_path), path)
    assert path.read_text() == "MY_VARIABLE=mine\n"


def test_where_it_goes_follows_pinterest_dotenv(tmp_path):
    from pinterest_common.config import REPO_ROOT

    assert settings(tmp_path).dotenv == REPO_ROOT / ".env"  # `make up`: the repository's
    assert settings(tmp_path, PINTEREST_DOTENV=str(tmp_path / "x.env")).dotenv == tmp_path / "x.env"
    off = settings(tmp_path, PINTEREST_DOTENV="none")
    assert off.dotenv is None and not write_dotenv(off)
