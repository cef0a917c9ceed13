"""The README and the pages of docs/ state what the code does: commands, variables, defaults, ports.

- the README starts with exactly the two set-up commands `make demo` and `make test`, in one code
  block; it is at most 10 KB and links every page of docs/;
- every relative link of the README and the pages names a file that exists, and a heading of it;
- every `make <target>` they name is a target of the Makefile;
- every environment variable they name (PINTEREST_*, KAFKA_*, SPARK_*, DEMO_*, DAGSTER_HOME) is a
  real one: in pinterest_common.config.DEFAULTS, .env.example or the Makefile, or read by the
  project's own code (a string literal naming it, e.g. the test harness's switch);
- docs/CONFIGURATION.md's table lists every variable of DEFAULTS with that default;
- the local ports they name (127.0.0.1:<port>) are the configured defaults.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlparse

import pytest

from pinterest_common.config import DEFAULTS, REPO_ROOT

README = REPO_ROOT / "README.md"
DOCS = REPO_ROOT / "docs"
CONFIGURATION = DOCS / "CONFIGURATION.md"
OPERATIONS = DOCS / "OPERATIONS.md"
README_MAX_BYTES = 10 * 1024
# Pages that scripts write (bench.run, bench.scaling): their upper-case names are the scripts'
# constants, not environment variables.
GENERATED = ("BENCHMARKS.md", "SCALING.md")
MAKEFILE = REPO_ROOT / "Makefile"
ENV_EXAMPLE = REPO_ROOT / ".env.example"

# Where the project's own code may read an environment variable that is not a setting of
# config.py (e.g. the test harness's PINTEREST_TEST_USE_RUNNING_STACK, a demo's knobs).
CODE_DIRS = ("pinterest_common", "devstack", "ingestion_api", "pinterest_assets", "streaming", "scripts", "bench")
CODE_FILES = ("tests/conftest.py",)

VARIABLE = re.compile(r"\b((?:PINTEREST|KAFKA|SPARK|DEMO)_[A-Z0-9_]*[A-Z0-9]|DAGSTER_HOME)(_\*)?(?![A-Za-z0-9_])")
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.M | re.S)
CODE_SPAN = re.compile(r"`([^`\n]+)`")
MAKE_COMMAND = re.compile(r"(?:^|[\s;&|(])make\s+((?:[A-Z_][A-Z0-9_]*=\S*\s+)*)([a-z][a-z0-9-]*)")
# A local address; not one assigned to a variable (`KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:19092` is an
# example of moving off the defaults, not a default).
LOCAL_PORT = re.compile(r"(?<!=)(?<!=http://)(?<!=https://)\b(?:127\.0\.0\.1|localhost):(\d+)\b")


# --- what the code says ---------------------------------------------------------------------


def makefile_targets() -> set[str]:
    targets = set()
    for line in MAKEFILE.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", line)
        if match and not match.group(1).startswith("."):
            targets.add(match.group(1))
    return targets


def makefile_variables() -> set[str]:
    text = MAKEFILE.read_text()
    names = set(re.findall(r"^\s*(?:export\s+|override\s+)*([A-Z_][A-Z0-9_]*)\s*(?:[:?+!]?=)", text, re.M))
    names |= set(re.findall(r"\$[({]([A-Z_][A-Z0-9_]*)[)}]", text))  # $(NAME), ${NAME}
    names |= set(re.findall(r"\$\$\{?([A-Z_][A-Z0-9_]*)", text))  # $$NAME, $${NAME} (shell)
    for exported in re.findall(r"^\s*export\s+([A-Z_][A-Z0-9_ ]*)$", text, re.M):  # export A B
        names |= set(exported.split())
    return names


def env_example_variables() -> set[str]:
    return set(re.findall(r"^(?:#\s*)?([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), re.M))


def code_literals() -> set[str]:
    """Upper-case names that the project's code spells as string literals or shell variables."""
    paths = [REPO_ROOT / name for name in CODE_FILES]
    for directory in CODE_DIRS:
        paths += sorted((REPO_ROOT / directory).rglob("*.py")) + sorted((REPO_ROOT / directory).rglob("*.sh"))
    names: set[str] = set()
    for path in paths:
        if path.is_file():
            text = path.read_text(errors="replace")
            names |= set(re.findall(r"""["']([A-Z][A-Z0-9_]*)["']""", text))
            if path.suffix == ".sh":
                names |= set(re.findall(r"\$\{?([A-Z_][A-Z0-9_]*)", text))
    return names


def known_variables() -> set[str]:
    return set(DEFAULTS) | env_example_variables() | makefile_variables() | code_literals()


def readme_default(name: str) -> str:
    """DEFAULTS[name] as the README writes it: paths inside the repository relative to it."""
    value = DEFAULTS[name]
    if value.startswith(str(REPO_ROOT)):
        value = "." + value[len(str(REPO_ROOT)) :]
    return value


def default_ports() -> dict[str, int]:
    """The local stack's ports from config.py, plus the Dagster UI's from the Makefile."""
    ports = {
        "KAFKA_BOOTSTRAP_SERVERS": int(DEFAULTS["KAFKA_BOOTSTRAP_SERVERS"].split(",")[0].rsplit(":", 1)[1]),
        "PINTEREST_KAFKA_CONTROLLER_PORT": int(DEFAULTS["PINTEREST_KAFKA_CONTROLLER_PORT"]),
        "PINTEREST_S3_ENDPOINT_URL": urlparse(DEFAULTS["PINTEREST_S3_ENDPOINT_URL"]).port,
        "PINTEREST_PG_PORT": int(DEFAULTS["PINTEREST_PG_PORT"]),
        "PINTEREST_API_PORT": int(DEFAULTS["PINTEREST_API_PORT"]),
    }
    ui = re.search(r"^ui:.*?\n((?:\t.*\n?)+)", MAKEFILE.read_text(), re.M)
    assert ui, "the Makefile has no `ui` target"
    port = re.search(r"\s(?:-p|--port)\s+(\d+)", ui.group(1))
    assert port, "the Makefile's `ui` target names no port (-p or --port)"
    ports["make ui"] = int(port.group(1))
    return ports


# --- what the README says -------------------------------------------------------------------


@pytest.fixture(scope="module")
def readme() -> str:
    return README.read_text()


def pages() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


@pytest.fixture(scope="module")
def documentation() -> str:
    """The README and every page of docs/ but the generated ones, one text."""
    return "\n".join(page.read_text() for page in pages() if page.name not in GENERATED)


LINK = re.compile(r"\]\(([^)\s]+)\)")


def heading_anchors(text: str) -> set[str]:
    """The anchors GitHub gives the headings of a Markdown text."""
    anchors, in_fence = set(), False
    for line in text.splitlines():
        if line.startswith("```"):
            in_fence = not in_fence
        elif not in_fence and line.startswith("#"):
            title = re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower())
            anchors.add(title.replace(" ", "-"))
    return anchors


def code_fragments(text: str) -> list[str]:
    """Fenced blocks and inline code spans (where commands and names are written)."""
    fragments = [m.group(1) for m in FENCE.finditer(text)]
    prose = FENCE.sub("", text)
    return fragments + [m.group(1) for m in CODE_SPAN.finditer(prose)]


def configuration_table(text: str) -> dict[str, str]:
    """{variable: default cell} of the table whose header is `| variable | default | ... |`."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        cells = [cell.strip().lower() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[:2] == ["variable", "default"]:
            rows = {}
            for row in lines[index + 2 :]:
                if not row.startswith("|"):
                    break
                name, default = (cell.strip() for cell in row.strip().strip("|").split("|")[:2])
                rows[name.strip("`")] = default
            return rows
    raise AssertionError("no configuration table (header `| variable | default | ... |`)")


# --- the checks -----------------------------------------------------------------------------


def test_readme_starts_with_make_demo_and_make_test(readme):
    lines = [line for line in readme.splitlines() if line.strip()]
    if lines and lines[0].startswith("# "):
        lines = lines[1:]  # the title
    assert lines and lines[0].startswith("```"), "the README must start (after its title) with a code block"
    block = []
    for line in lines[1:]:
        if line.startswith("```"):
            break
        block.append(line)
    else:
        raise AssertionError("the README's first code block is not closed")
    commands = [line.split("#", 1)[0].strip() for line in block]
    assert commands == ["make demo", "make test"], f"first code block: {block}"
    for line in block:
        assert "#" in line and line.split("#", 1)[1].strip(), f"no one-line explanation on: {line}"


def test_readme_is_short_and_links_every_page(readme):
    assert len(README.read_bytes()) <= README_MAX_BYTES, f"README.md is {len(README.read_bytes()):,} bytes"
    linked = {target.split("#")[0] for target in LINK.findall(readme)}
    unlinked = [page.name for page in sorted(DOCS.glob("*.md")) if f"docs/{page.name}" not in linked]
    assert not unlinked, f"pages of docs/ the README does not link: {unlinked}"


def test_every_relative_link_names_an_existing_file_and_heading():
    broken = []
    for page in pages():
        for target in LINK.findall(page.read_text()):
            if re.match(r"[a-z]+:", target):
                continue  # http(s), mailto
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            if not file.exists():
                broken.append(f"{page.name}: {target} (no such file)")
            elif anchor and file.suffix == ".md" and anchor not in heading_anchors(file.read_text()):
                broken.append(f"{page.name}: {target} (no such heading)")
    assert not broken, broken


def test_every_make_target_named_exists(documentation):
    targets = makefile_targets()
    named = {match.group(2) for fragment in code_fragments(documentation) for match in MAKE_COMMAND.finditer(fragment)}
    assert {"demo", "test", "up", "down"} <= named, named
    assert sorted(named - targets) == [], f"the docs name make targets the Makefile lacks (has: {sorted(targets)})"


def test_every_variable_named_is_real(documentation):
    known = known_variables()
    unknown, unknown_prefixes = set(), set()
    for match in VARIABLE.finditer(documentation):
        name, wildcard = match.groups()
        if wildcard:  # PINTEREST_PG_* names a family: some variable must have that prefix
            if not any(variable.startswith(name + "_") for variable in known):
                unknown_prefixes.add(name + "_*")
        elif name not in known:
            unknown.add(name)
    assert not unknown | unknown_prefixes, (
        f"the docs name variables that neither config.py, .env.example, the Makefile nor the code "
        f"know: {sorted(unknown | unknown_prefixes)}"
    )


def test_configuration_table_lists_every_setting_with_its_default():
    table = configuration_table(CONFIGURATION.read_text())
    assert sorted(set(DEFAULTS) - set(table)) == [], "variables of config.DEFAULTS missing from the table"
    assert sorted(set(table) - set(DEFAULTS)) == [], "the table lists variables config.DEFAULTS does not have"
    for name in DEFAULTS:
        cell, expected = table[name], readme_default(name)
        if expected == "":
            assert re.match(r"\((empty|unset)\b", cell), f"{name}: default is empty, the table says {cell!r}"
        else:
            spans = CODE_SPAN.findall(cell)
            assert spans and spans[0] == expected, f"{name}: default {expected!r}, the table says {cell!r}"


def test_local_ports_named_are_the_configured_defaults(documentation):
    ports = default_ports()
    named = {int(port) for port in LOCAL_PORT.findall(documentation)}
    stray = sorted(named - set(ports.values()))
    assert not stray, f"the docs name local ports {stray} that are no default (the defaults: {ports})"
    missing = {name: port for name, port in ports.items() if port not in named}
    assert not missing, f"the docs do not name these default ports as 127.0.0.1:<port>: {missing}"


def test_logs_and_state_paths_are_the_stacks(tmp_path):
    """The log paths docs/OPERATIONS.md gives are where devstack writes them."""
    from devstack.stack import Stack
    from pinterest_common.config import Settings

    settings = Settings.from_env({"PINTEREST_HOME": str(tmp_path)})
    stack = Stack(settings)
    readme = OPERATIONS.read_text()
    assert "$PINTEREST_HOME/stack/logs/<service>.log" in readme
    for service in stack.services:
        relative = service.log_file.relative_to(settings.home / "stack")
        assert f"`{relative.as_posix()}`" in readme, (
            f"{service.name}: docs/OPERATIONS.md does not name its log {relative}"
        )
        assert f"`{service.name}`" in readme


def test_variable_pattern_catches_what_it_should():
    found = [
        m.groups() for m in VARIABLE.finditer("`PINTEREST_PG_*`, KAFKA_BOOTSTRAP_SERVERS=x, DAGSTER_HOME; DEMO_TRIPLES")
    ]
    assert found == [
        ("PINTEREST_PG", "_*"),
        ("KAFKA_BOOTSTRAP_SERVERS", None),
        ("DAGSTER_HOME", None),
        ("DEMO_TRIPLES", None),
    ]
    assert [m.group(2) for m in MAKE_COMMAND.finditer("make demo DEMO_TRIPLES=2 ; make up X=1 status")] == [
        "demo",
        "up",
    ]
    assert [m.group(2) for m in MAKE_COMMAND.finditer("make DEMO_TRIPLES=2000 demo")] == ["demo"]
    assert Path(README).is_file()
