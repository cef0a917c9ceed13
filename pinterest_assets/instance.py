"""The local Dagster instance: DAGSTER_HOME, its dagster.yaml, and the variables it reads.

`pinterest_assets/dagster.yaml` is the template: PostgreSQL storage (database `dagster`) through
`env:` references to PINTEREST_PG_HOST/PORT/USER/PASSWORD. Since those variables have defaults
in pinterest_common.config and need not be set, this module exports them (with DAGSTER_HOME and
the secrets the resources name as `EnvVar`s) for a process about to open the instance or run
the definitions: loading the code location itself sets no variable. `make up` writes the same
variables into the repository's `.env` (devstack/dotenv.py), which plain `dagster dev` loads.

    python -m pinterest_assets.instance
        write $DAGSTER_HOME/dagster.yaml and print the variables as `export` lines (secrets
        are named, not printed)
    python -m pinterest_assets.instance -- dagster dev -w workspace.yaml -p 3000
        the same, then run the command with those variables set
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

from pinterest_common.config import LOCAL_SECRETS, Settings, get_settings

TEMPLATE = Path(__file__).with_name("dagster.yaml")


def instance_environment(settings: Settings) -> dict[str, str]:
    """The variables the instance and the resources need: DAGSTER_HOME, those dagster.yaml refers
    to, and the secrets of the resources (pinterest_assets.resources names them as EnvVars)."""
    environment = {
        "DAGSTER_HOME": str(settings.dagster_home),
        "PINTEREST_PG_HOST": settings.pg_host,
        "PINTEREST_PG_PORT": str(settings.pg_port),
        "PINTEREST_PG_USER": settings.pg_user,
        "PINTEREST_PG_PASSWORD": settings.pg_password,
        # libpq reads these where dagster.yaml's storage names no sslmode (dagster-postgres).
        "PGSSLMODE": settings.pg_sslmode,
    }
    if settings.pg_sslrootcert:
        environment["PGSSLROOTCERT"] = settings.pg_sslrootcert
    if settings.kafka.uses_sasl:
        environment["PINTEREST_KAFKA_SASL_PASSWORD"] = settings.kafka_sasl_password
    if settings.pg_publisher_password:
        environment["PINTEREST_PG_PUBLISHER_PASSWORD"] = settings.pg_publisher_password
    if settings.s3_secret_access_key:
        environment["PINTEREST_S3_SECRET_ACCESS_KEY"] = settings.s3_secret_access_key
    return environment


def export_environment(settings: Settings) -> dict[str, str]:
    """Set the instance's and the resources' variables for this process (and its children)."""
    environment = instance_environment(settings)
    os.environ.update(environment)
    return environment


def write_instance_config(dagster_home: Path) -> Path:
    """$DAGSTER_HOME/dagster.yaml from the template (rewritten when it differs)."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    target = dagster_home / "dagster.yaml"
    text = TEMPLATE.read_text()
    if not target.exists() or target.read_text() != text:
        target.write_text(text)
    return target


def prepare_instance(settings: Settings | None = None) -> dict[str, str]:
    """Write dagster.yaml and export the instance's variables into os.environ."""
    settings = settings or get_settings()
    write_instance_config(settings.dagster_home)
    return export_environment(settings)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    environment = prepare_instance()
    if argv and argv[0] == "--":
        argv = argv[1:]
    if argv:
        os.execvpe(argv[0], argv, os.environ)
    for name, value in environment.items():
        if name in LOCAL_SECRETS:
            print(f"# {name}: set it yourself, or run commands as `python -m pinterest_assets.instance -- <command>`")
        else:
            print(f"export {name}={shlex.quote(value)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
