"""Resolve the Java services' jars from Maven Central into the cache under PINTEREST_HOME."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

POMS_DIR = Path(__file__).parent / "poms"


class SetupError(RuntimeError):
    """Something the stack needs is missing; the message says how to get it."""


def require_tool(name: str, hint: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise SetupError(f"`{name}` not found on PATH. {hint}")
    return path


def resolve_classpath(service: str, cache_dir: Path) -> list[Path]:
    """Copy `service`'s dependencies (devstack/poms/<service>.xml) into the cache, once.

    Returns the jar files. A completed resolution leaves a marker so later calls only read
    the directory; the Maven local repository also lives in the cache.
    """
    jar_dir = cache_dir / "jars" / service
    pom = POMS_DIR / f"{service}.xml"
    marker = jar_dir / ".resolved"
    if not marker.exists() or marker.read_text() != pom.read_text():
        mvn = require_tool("mvn", "Install Maven (Debian: apt-get install maven) or run `make install`.")
        if jar_dir.exists():
            shutil.rmtree(jar_dir)
        jar_dir.mkdir(parents=True)
        print(f"[devstack] resolving {service} jars from Maven Central into {jar_dir} ...", flush=True)
        result = subprocess.run(
            [
                mvn,
                "-q",
                "-B",
                "-f",
                str(pom),
                f"-Dmaven.repo.local={cache_dir / 'm2'}",
                "dependency:copy-dependencies",
                f"-DoutputDirectory={jar_dir}",
                "-DincludeScope=runtime",
            ],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise SetupError(f"Maven could not resolve {service}:\n{result.stdout}\n{result.stderr}")
        marker.write_text(pom.read_text())
    jars = sorted(jar_dir.glob("*.jar"))
    if not jars:
        raise SetupError(f"no jars in {jar_dir}; delete it and retry")
    return jars
