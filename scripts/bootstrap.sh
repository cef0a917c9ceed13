#!/usr/bin/env bash
# Install what the project needs on this machine: system packages (Java 17+, Maven, PostgreSQL
# server, Chromium for the UI browser test) when missing, the Python virtualenv with the pinned
# dependencies, and the service jars.
# Safe to run again: every step checks first.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

say() { printf '[bootstrap] %s\n' "$*"; }

missing=()
java_major() { java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1; }
if ! command -v java >/dev/null || [ "$(java_major)" -lt 17 ]; then missing+=(openjdk-17-jre-headless); fi
command -v mvn >/dev/null || missing+=(maven)
if ! command -v pg_ctl >/dev/null && ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  missing+=(postgresql)
fi
# Debian's Chromium (at /usr/bin/chromium) for tests/integration/test_dagster_ui_browser.py:
# Playwright drives it; Playwright's own browser downloads are never used. With a font, so
# that the screenshot shows text (fonts-liberation is only a recommendation of chromium-common).
[ -x /usr/bin/chromium ] || missing+=(chromium fonts-liberation)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing system packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    say "missing system packages: ${missing[*]}. Install them (Debian/Ubuntu: sudo apt-get install ${missing[*]}) and rerun." >&2
    exit 1
  fi
fi

"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { say "Python 3.11+ is required" >&2; exit 1; }
stamp="$VENV/.installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  say "creating $VENV and installing the pinned Python dependencies"
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  # venv's bundled setuptools (65.5 on Python 3.11) has known vulnerabilities (CVE-2024-6345, CVE-2025-47273).
  "$VENV/bin/pip" install -q --upgrade pip "setuptools>=78.1.1"
  "$VENV/bin/pip" install -q -e '.[dev]'
  "$VENV/bin/pip" check
  touch "$stamp"
fi

say "resolving service jars (cached under ${PINTEREST_HOME:-.pinterest}/cache)"
"$VENV/bin/python" -m devstack fetch
