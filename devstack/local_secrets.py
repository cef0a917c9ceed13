"""The local stack's secrets: generated once per PINTEREST_HOME, never committed.

The PostgreSQL passwords (the admin's and each least-privileged role's) and the S3 server's secret
key have no default. Each process that starts or uses a local stack (`python -m devstack`, the
demo, `make batch`, `make ui`, the fault suite, the benchmarks and the tests' stacks) calls
`ensure_local_secrets` first: a secret missing from `$PINTEREST_HOME/secrets.env` (mode 0600) is
generated into it, and pinterest_common.config reads that file for every variable left unset.
"""

from __future__ import annotations

import fcntl
import os
import secrets
from pathlib import Path

from pinterest_common.config import DEFAULTS, LOCAL_SECRETS, LOCAL_SECRETS_FILE, local_secrets_path, stored_secrets


def ensure_local_secrets(home: Path | None = None) -> dict[str, str]:
    """The secrets under `home` (default: PINTEREST_HOME), each missing one generated (safe
    against concurrent callers). A file from before a secret existed gets it appended; the values
    it holds never change."""
    home = home or Path(os.environ.get("PINTEREST_HOME") or DEFAULTS["PINTEREST_HOME"])
    values = stored_secrets(home)
    if all(name in values for name in LOCAL_SECRETS):
        return values
    path = local_secrets_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_fd = os.open(path.with_name(f".{LOCAL_SECRETS_FILE}.lock"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)  # one writer at a time; readers see the old or the new file
        existing = path.read_text() if path.exists() else ""
        values = stored_secrets(home)
        missing = [name for name in LOCAL_SECRETS if name not in values]
        if missing:
            new = {name: secrets.token_urlsafe(24) for name in missing}
            draft = path.with_name(f".{LOCAL_SECRETS_FILE}.{os.getpid()}")
            fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                if existing and not existing.endswith("\n"):
                    existing += "\n"
                out.write(existing)
                out.writelines(f"{name}={value}\n" for name, value in new.items())
            os.replace(draft, path)
            values.update(new)
    finally:
        os.close(lock_fd)
    return values
