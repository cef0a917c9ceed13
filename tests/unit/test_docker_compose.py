"""docker/compose.yaml: the platform's services, configured through pinterest_common/config.py.

Checks the file itself (no Docker engine needed): it parses; it has Kafka in KRaft mode, MinIO,
PostgreSQL, the API, the streaming job, the Dagster webserver and daemon; the project's
containers set only variables the configuration module knows, with its defaults, and no
credential; the published ports are the configured defaults; host names in the variables are
services of the file. Where a working `docker compose` client exists, `docker compose config -q`
validates the file too (it needs no engine); without one only that check is skipped.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from urllib.parse import urlparse

import pytest
import yaml

from pinterest_common.config import DEFAULTS, LOCAL_SECRETS, REPO_ROOT, Settings

COMPOSE = REPO_ROOT / "docker" / "compose.yaml"
DOCKERFILE = REPO_ROOT / "docker" / "Dockerfile"
MAKEFILE = REPO_ROOT / "Makefile"

INFRASTRUCTURE = {"kafka", "minio", "postgres"}
PROJECT_SERVICES = {"api", "streaming", "dagster-webserver", "dagster-daemon", "pg-roles"}

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}, $NAME; `$$` escapes.
INTERPOLATION = re.compile(r"(?<!\$)\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")
HOST_PORT = re.compile(r"(?:^|[/@,\s])([a-z][a-z0-9-]*):(\d+)\b")

# The defaults as settings (secrets empty, so that nothing is generated on disk).
DEFAULT_SETTINGS = Settings.from_env(dict(DEFAULTS))


@pytest.fixture(scope="module")
def compose() -> dict:
    document = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(document, dict) and isinstance(document.get("services"), dict)
    return document


def environment(service: dict) -> dict[str, str]:
    """A service's `environment`, mapping or list form, values as strings."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(key): "" if value is None else str(value) for key, value in env.items()}


def interpolations(text: str) -> list[tuple[str, str | None, str | None]]:
    """(variable, operator, argument) of each interpolation in `text`."""
    return [(m.group(1) or m.group(4), m.group(2), m.group(3)) for m in INTERPOLATION.finditer(text)]


def resolved(value: str) -> str:
    """The value with each interpolation replaced by its default (`<NAME>` when it has none)."""

    def substitute(match: re.Match) -> str:
        name, operator, argument = match.group(1) or match.group(4), match.group(2), match.group(3)
        if operator in ("-", ":-"):
            return argument
        return DEFAULTS.get(name) or f"<{name}>"

    return INTERPOLATION.sub(substitute, value).replace("$$", "$")


def command(service: dict) -> list[str]:
    value = service.get("command") or []
    return value.split() if isinstance(value, str) else [str(part) for part in value]


def published(service: dict) -> list[tuple[str, int, int]]:
    """(host ip, host port, container port) of each published port."""
    result = []
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            result.append((str(port.get("host_ip", "")), int(port["published"]), int(port["target"])))
            continue
        parts = str(port).split("/")[0].split(":")
        if len(parts) == 3:
            result.append((parts[0], int(parts[1]), int(parts[2])))
        elif len(parts) == 2:
            result.append(("", int(parts[0]), int(parts[1])))
        else:
            result.append(("", int(parts[0]), int(parts[0])))
    return result


def is_project_service(service: dict) -> bool:
    build = service.get("build")
    context = build if isinstance(build, str) else (build or {}).get("context")
    return service.get("image") == "pinterest-pipeline" or (
        context is not None and (COMPOSE.parent / context).resolve() == REPO_ROOT
    )


def kafka_listeners(compose: dict) -> tuple[dict[str, int], dict[str, str]]:
    """({listener name: port}, {listener name: advertised host:port}) of the kafka service."""
    env = environment(compose["services"]["kafka"])
    listeners = {name: int(port) for name, port in re.findall(r"([A-Z_]+)://[^:,]*:(\d+)", env["KAFKA_LISTENERS"])}
    advertised = dict(re.findall(r"([A-Z_]+)://([^,]+)", env.get("KAFKA_ADVERTISED_LISTENERS", "")))
    return listeners, advertised


def ui_port() -> int:
    ui = re.search(r"^ui:.*?\n((?:\t.*\n?)+)", MAKEFILE.read_text(), re.M)
    assert ui, "the Makefile has no `ui` target"
    return int(re.search(r"\s(?:-p|--port)\s+(\d+)", ui.group(1)).group(1))


# --- services -------------------------------------------------------------------------------


def test_compose_has_the_platforms_services(compose):
    services = compose["services"]
    assert INFRASTRUCTURE | PROJECT_SERVICES <= set(services), sorted(services)
    assert {name for name, service in services.items() if is_project_service(service)} == PROJECT_SERVICES
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["minio"]["image"].startswith("minio/minio")
    assert services["postgres"]["image"].startswith("postgres:")


def test_kafka_runs_in_kraft_mode(compose):
    services = compose["services"]
    env = environment(services["kafka"])
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] in kafka_listeners(compose)[0]
    assert re.fullmatch(r"\d+@kafka:(\d+)", env["KAFKA_CONTROLLER_QUORUM_VOTERS"])
    assert not any("zookeeper" in name for name in services)
    assert not any("ZOOKEEPER" in key for key in env)
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"  # as in the local stack: writers create topics


def test_project_containers_run_the_platforms_commands(compose):
    services = compose["services"]
    assert command(services["streaming"])[:3] == ["python", "-m", "streaming"]
    # the roles come from the code the local stack runs, not from a second copy in SQL
    assert command(services["pg-roles"]) == ["python", "-m", "pinterest_common.pg_roles"]
    sql = [
        line.upper()
        for line in (COMPOSE.parent / "postgres-init.sql").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("--")
    ]
    assert sql and not any("ROLE" in line or "GRANT" in line for line in sql), sql
    webserver, daemon = command(services["dagster-webserver"]), command(services["dagster-daemon"])
    assert "dagster-webserver" in webserver and "workspace.yaml" in webserver
    assert daemon[daemon.index("dagster-daemon") :][:2] == ["dagster-daemon", "run"] and "workspace.yaml" in daemon
    api = command(services["api"]) or re.search(r"^CMD\s+(.*)$", DOCKERFILE.read_text(), re.M).group(1)
    assert "gunicorn" in str(api) and "ingestion_api.app:create_app()" in str(api)


# --- variables ------------------------------------------------------------------------------


def test_project_containers_set_only_configuration_variables(compose):
    for name, service in compose["services"].items():
        if not is_project_service(service):
            continue
        env = environment(service)
        unknown = sorted(set(env) - set(DEFAULTS))
        assert not unknown, f"{name} sets variables pinterest_common/config.py does not know: {unknown}"
        for required in ("PINTEREST_HOME", "KAFKA_BOOTSTRAP_SERVERS", "PINTEREST_S3_ENDPOINT_URL", "PINTEREST_PG_HOST"):
            assert required in env, f"{name} does not set {required}"
    dagster = environment(compose["services"]["dagster-daemon"])
    assert "DAGSTER_HOME" in dagster and dagster == environment(compose["services"]["dagster-webserver"])


def test_compose_reads_the_configuration_variables_with_their_defaults(compose):
    """Every variable the file interpolates is one of config.py's, with config.py's default."""
    found = interpolations(COMPOSE.read_text())
    assert found
    unknown = sorted({name for name, _, _ in found} - set(DEFAULTS))
    assert not unknown, f"compose.yaml reads variables that pinterest_common/config.py does not know: {unknown}"
    for name, operator, argument in found:
        if operator in ("-", ":-"):
            assert argument == DEFAULTS[name], f"${{{name}}} defaults to {argument!r}, config.py to {DEFAULTS[name]!r}"


def test_secrets_have_no_default(compose):
    for name, service in compose["services"].items():
        for key, value in environment(service).items():
            for variable, operator, _ in interpolations(value):
                if variable in LOCAL_SECRETS:
                    assert operator in (":?", "?"), f"{name}.{key}: {variable} must be required, not defaulted"
            if key in LOCAL_SECRETS or "PASSWORD" in key:
                assert interpolations(value), f"{name}.{key} holds a literal credential"


# --- ports and host names -------------------------------------------------------------------


def test_published_ports_are_the_configured_defaults(compose):
    expected = {
        "kafka": DEFAULT_SETTINGS.kafka_port,
        "minio": DEFAULT_SETTINGS.s3_port,
        "postgres": DEFAULT_SETTINGS.pg_port,
        "api": DEFAULT_SETTINGS.api_port,
        "dagster-webserver": ui_port(),
    }
    for name, service in compose["services"].items():
        ports = published(service)
        if name not in expected:
            assert not ports, f"{name} publishes {ports}: no configured default port"
            continue
        assert [(ip, host) for ip, host, _ in ports] == [("127.0.0.1", expected[name])], f"{name}: {ports}"


def test_container_ports_are_what_the_services_listen_on(compose):
    services = compose["services"]
    listeners, advertised = kafka_listeners(compose)
    # Kafka: the published port is the listener advertised as KAFKA_BOOTSTRAP_SERVERS's default,
    # so clients on the host work against it with the default settings.
    [(_, _, kafka_target)] = published(services["kafka"])
    host_listener = next(name for name, port in listeners.items() if port == kafka_target)
    assert advertised[host_listener] == DEFAULTS["KAFKA_BOOTSTRAP_SERVERS"]
    assert str(DEFAULT_SETTINGS.kafka_controller_port) == str(
        listeners[environment(services["kafka"])["KAFKA_CONTROLLER_LISTENER_NAMES"]]
    )
    # MinIO serves S3 on its --address (9000 when absent).
    minio_command = command(services["minio"])
    address = minio_command[minio_command.index("--address") + 1] if "--address" in minio_command else ":9000"
    minio_port = int(address.rsplit(":", 1)[1])
    assert published(services["minio"])[0][2] == minio_port
    # PostgreSQL listens on 5432 unless its command says otherwise.
    assert "-p" not in command(services["postgres"]) and published(services["postgres"])[0][2] == 5432
    # The API's gunicorn binds the configured port; the webserver its -p.
    bind = re.search(r'"--bind",\s*"[^"]*:(\d+)"', DOCKERFILE.read_text())
    assert bind and published(services["api"])[0][2] == int(bind.group(1)) == DEFAULT_SETTINGS.api_port
    webserver = command(services["dagster-webserver"])
    assert published(services["dagster-webserver"])[0][2] == int(webserver[webserver.index("-p") + 1])
    # What the project's containers connect to.
    for name in PROJECT_SERVICES:
        env = {key: resolved(value) for key, value in environment(services[name]).items()}
        for server in env["KAFKA_BOOTSTRAP_SERVERS"].split(","):
            host, port = server.rsplit(":", 1)
            assert host == "kafka" and int(port) in listeners.values(), f"{name}: {server}"
            assert server in advertised.values(), f"{name}: {server} is not an advertised listener"
        endpoint = urlparse(env["PINTEREST_S3_ENDPOINT_URL"])
        assert (endpoint.hostname, endpoint.port) == ("minio", minio_port), f"{name}: {endpoint.geturl()}"
        assert env["PINTEREST_PG_HOST"] == "postgres" and int(env["PINTEREST_PG_PORT"]) == 5432


def test_host_names_in_variables_are_services(compose):
    services = compose["services"]
    checked = 0
    for name, service in services.items():
        for key, value in environment(service).items():
            value = resolved(value)
            for host, _ in HOST_PORT.findall(value):
                assert host in services, f"{name}.{key}={value}: no service named {host!r}"
                checked += 1
            if key == "PINTEREST_PG_HOST":
                assert value in services, f"{name}.{key}={value}: no such service"
                checked += 1
    assert checked >= len(PROJECT_SERVICES) * 2


def test_build_context_leaves_out_local_state():
    """The build context is the repository root: .pinterest/ (gigabytes), .venv/, .env stay out."""
    text = (REPO_ROOT / "docker" / "Dockerfile.dockerignore").read_text()
    patterns = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    assert patterns[0] == "*", "the ignore file should exclude everything, then include what the image copies"
    included = [pattern[1:] for pattern in patterns if pattern.startswith("!")]
    assert not [p for p in included if p.startswith((".pinterest", ".venv", ".env", ".git"))], included
    copied = re.findall(r"^COPY\s+(.+?)\s+\S+$", DOCKERFILE.read_text(), re.M)
    for sources in copied:
        for source in sources.split():
            assert source.rstrip("/") in {p.rstrip("/") for p in included}, f"the Dockerfile copies {source}, ignored"


# --- the real client, where there is one ----------------------------------------------------


def _compose_client() -> tuple[list[str] | None, str]:
    docker = shutil.which("docker")
    if docker is None:
        return None, "no docker client on PATH"
    try:
        version = subprocess.run([docker, "compose", "version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"`docker compose version` did not run: {exc}"
    if version.returncode != 0:
        reason = (version.stderr or version.stdout).strip().splitlines()
        return None, f"`docker compose version` exits {version.returncode} (no compose plugin?): {reason[:1]}"
    return [docker, "compose"], ""


def test_docker_compose_config_accepts_the_file():
    client, reason = _compose_client()
    if client is None:
        pytest.skip(f"docker compose client unavailable, `docker compose config -q` not run: {reason}")
    # The secrets are required (no defaults); placeholders let `config` resolve the file.
    env = {**os.environ, **{name: "placeholder-secret" for name in LOCAL_SECRETS}}
    result = subprocess.run(
        [*client, "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stderr or result.stdout
