"""`make audit`: the installed Python distributions against PyPI's vulnerability data.

PyPI's JSON API lists the known vulnerabilities of a release (PyPA advisory database, OSV) under
`/pypi/<name>/<version>/json`; that is what pip-audit's PyPI service reads. Some package mirrors
serve only `/pypi/<name>/json`, which lists the vulnerabilities of the project's latest release:
there, a distribution at its latest release is still audited, and any other is reported as not
audited, with the reason, never passed in silence.

Exit status: 1 if an installed release has a known vulnerability (each printed with its id,
aliases and the versions that fix it); with --strict, 2 if a distribution could not be audited;
else 0.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

PYPI_JSON = "https://pypi.org/pypi"
TIMEOUT_S = 30


@dataclass
class Audit:
    name: str
    version: str
    vulnerabilities: list[dict] = field(default_factory=list)
    not_audited: str | None = None  # why, when PyPI's data could not be had for this release


def installed(skip: set[str]) -> dict[str, str]:
    """Installed distributions (normalised name -> version), without those in `skip`."""
    found = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"].lower().replace("_", "-")
        if name not in skip:
            found[name] = dist.version
    return found


def _json(url: str) -> dict | None:
    """The document at `url`, or None when the index has no such page (404)."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as answer:
            return json.load(answer)
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise


def audit(name: str, version: str, index: str = PYPI_JSON) -> Audit:
    try:
        release = _json(f"{index}/{name}/{version}/json")
        if release is not None:
            return Audit(name, version, release.get("vulnerabilities") or [])
        project = _json(f"{index}/{name}/json")
    except (urllib.error.URLError, OSError, ValueError) as error:
        return Audit(name, version, not_audited=f"PyPI's JSON API did not answer: {error}")
    if project is None:
        return Audit(name, version, not_audited="not on the index")
    latest = project["info"]["version"]
    if latest != version:
        return Audit(
            name, version, not_audited=f"the index serves no data for this release, only for the latest ({latest})"
        )
    return Audit(name, version, project.get("vulnerabilities") or [])


def report(audits: list[Audit]) -> str:
    lines = []
    for a in sorted(audits, key=lambda a: a.name):
        for v in a.vulnerabilities:
            aliases = ", ".join(v.get("aliases") or []) or "-"
            fixed = ", ".join(v.get("fixed_in") or []) or "no fix released"
            lines.append(f"VULNERABLE {a.name} {a.version}: {v.get('id')} ({aliases}); fixed in {fixed}")
            lines.append(f"    {(v.get('summary') or v.get('details') or '').strip()[:300]}")
    not_audited = [a for a in audits if a.not_audited]
    for a in sorted(not_audited, key=lambda a: a.name):
        lines.append(f"not audited {a.name} {a.version}: {a.not_audited}")
    vulnerable = sum(len(a.vulnerabilities) for a in audits)
    lines.append(
        f"[audit] {len(audits)} distributions: {len(audits) - len(not_audited)} audited, "
        f"{len(not_audited)} not audited; {vulnerable} known vulnerabilit{'y' if vulnerable == 1 else 'ies'}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="devstack.audit", description=__doc__ and __doc__.split("\n\n")[0])
    parser.add_argument("--strict", action="store_true", help="fail (exit 2) when a distribution could not be audited")
    parser.add_argument(
        "--skip",
        action="append",
        default=["pinterest-pipeline"],
        help="a distribution not to audit (default: this project itself)",
    )
    args = parser.parse_args(argv)
    distributions = installed(set(args.skip))
    with ThreadPoolExecutor(8) as pool:
        audits = list(pool.map(lambda item: audit(*item), distributions.items()))
    print(report(audits))
    if any(a.vulnerabilities for a in audits):
        return 1
    return 2 if args.strict and any(a.not_audited for a in audits) else 0


if __name__ == "__main__":
    sys.exit(main())
