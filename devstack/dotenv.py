"""The repository's `.env` (PINTEREST_DOTENV), written by `make up`: Dagster's own commands (`dagster dev`, `dg dev`,
`dagster-webserver`, `dagster-daemon`) load it from the directory they start in, so a plain
`dagster dev` in the repository root opens the instance, settings and generated secrets that
`make ui`, `make batch` and the demo use (instead of a throw-away instance).

It holds the configuration variables set when `make up` ran, DAGSTER_HOME and the variables the
instance and the resources read (pinterest_assets.instance). Mode 0600, ignored by git. A `.env`
this module did not write (no MARKER line) is left alone.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pinterest_assets.instance import instance_environment, write_instance_config
from pinterest_common.config import DEFAULTS, Settings

MARKER = "# Written by `make up` (devstack/dotenv.py); rewritten each time. Not committed: it holds secrets."


def dotenv_values(settings: Settings, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The configuration set in `environ` (the variables pinterest_common.config reads), then the
    instance's and the resources' variables for `settings`."""
    values = {name: value for name, value in environ.items() if name in DEFAULTS}
    values.update(instance_environment(settings))
    return dict(sorted(values.items()))


def _line(name: str, value: str) -> str:
    if any(c in value for c in " #\"'\\$\n") or not value:
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{name}="{escaped}"'
    return f"{name}={value}"


def write_dotenv(settings: Settings, path: Path | None = None) -> bool:
    """Write `path` (default: settings.dotenv) and the instance's dagster.yaml; False, nothing
    written, when there is no path or someone else's file is there."""
    path = path or settings.dotenv
    if path is None or (path.exists() and MARKER not in path.read_text().splitlines()[:1]):
        return False
    write_instance_config(settings.dagster_home)
    text = "\n".join([MARKER, *(_line(n, v) for n, v in dotenv_values(settings).items())]) + "\n"
    draft = path.with_name(f".env.{os.getpid()}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(draft, path)
    return True
