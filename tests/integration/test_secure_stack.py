"""Issue 21 on a stack of its own, as `make up KAFKA_SECURITY=sasl_ssl PG_TLS=on` starts it: Kafka's
client listener on SASL_SSL (SCRAM-SHA-512), PostgreSQL accepting TLS connections only (the clients
verify-full), both with certificates of the stack's own CA; and the Spark drivers (the streaming
job's, the batch runs') on 127.0.0.2, a loopback address other than the default.

`make demo`'s module runs on it once (emulator -> API -> Kafka -> raw lake, analytics and streaming
tables, reconciled); the other tests look at that stack and that run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psycopg2
import pytest

from devstack.fresh import fresh_stack, settings_stack
from devstack.tls import secure_environment
from ingestion_api.app import create_app
from ingestion_api.kafka_producer import KafkaPublisher
from pinterest_common.config import DAGSTER_DB, PG_ADMIN, PG_API, PG_PUBLISHER, PG_STREAMING, REPO_ROOT, Settings

pytestmark = pytest.mark.integration

DRIVER_HOST = "127.0.0.2"
NOT_YET = "not connected to Kafka yet"


def secure_stack_environment(state_dir: Path) -> dict[str, str]:
    return {
        **secure_environment(state_dir),
        "PINTEREST_SPARK_DRIVER_HOST": DRIVER_HOST,
        "PINTEREST_SPARK_DRIVER_BIND_ADDRESS": DRIVER_HOST,
    }


@pytest.fixture(scope="module")
def secure_stack() -> Iterator[Settings]:
    with fresh_stack("test-secure-", environment=secure_stack_environment) as settings:
        yield settings


@pytest.fixture(scope="module")
def demo(secure_stack) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "devstack.demo", "--triples", "40", "--seed", "21", "--catch-up-timeout", "600"],
        cwd=REPO_ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=1200,
    )


def test_events_posted_through_the_api_reach_the_lake_the_analytics_and_the_streaming_tables_once(demo):
    output = demo.stdout + demo.stderr
    assert demo.returncode == 0, output[-6000:]
    accepted = int(re.search(r"^    ledger: [\d,]+ events tried, ([\d,]+) acknowledged", demo.stdout, re.M).group(1))
    stages = re.findall(
        r"^    (Kafka topics|raw lake \(S3\)|streaming \+ quarantine)\s+([\d,]+) of ([\d,]+)"
        r" acknowledged, 0 lost, (.*?); .*  ok$",
        demo.stdout,
        re.MULTILINE,
    )
    assert [stage for stage, *_ in stages] == ["Kafka topics", "raw lake (S3)", "streaming + quarantine"], output
    assert {(int(found), int(of)) for _, found, of, _ in stages} == {(accepted, accepted)}, output
    assert stages[2][3] == "0 duplicated", output  # the streaming tables: exactly once
    cleaned = re.search(
        r"cleaned \+ quarantined: ([\d,]+) acknowledged = .* 0 unaccounted, 0 twice  ok$", demo.stdout, re.M
    )
    assert cleaned and int(cleaned.group(1)) == accepted, output  # the analytics' input: each event once
    assert re.search(r"cleaned_pins\.unique_key\s+passed", demo.stdout), output
    assert "top_category_per_country" in demo.stdout and "[demo] ok" in demo.stdout, output


def health(settings: Settings, timeout_s: float = 90.0) -> tuple[int, dict]:
    """GET /healthz of an API built with `settings`, once its connection attempt has an outcome."""
    publisher = KafkaPublisher(settings)
    try:
        client = create_app(settings, publisher).test_client()
        deadline = time.monotonic() + timeout_s
        while True:
            answer = client.get("/healthz")
            if answer.status_code == 200 or answer.json["detail"] != NOT_YET or time.monotonic() > deadline:
                return answer.status_code, answer.json
            time.sleep(1)
    finally:
        publisher.close()


def make_status(**overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "status"], cwd=REPO_ROOT, env={**os.environ, **overrides}, capture_output=True, text=True, timeout=300
    )


def test_the_stack_itself_is_healthy_over_tls_and_sasl(secure_stack):
    assert health(secure_stack) == (200, {"status": "ok", "kafka": "reachable"})
    status = make_status()
    assert status.returncode == 0, status.stdout + status.stderr


def test_a_wrong_password_is_refused_with_a_clear_error(secure_stack):
    code, answer = health(replace(secure_stack, kafka_sasl_password="not-the-password"))
    assert (code, answer["detail"]) == (503, "Kafka authentication failed (SASL SCRAM-SHA-512 as user pinterest)")
    status = make_status(PINTEREST_KAFKA_SASL_PASSWORD="not-the-password")
    assert status.returncode == 2 and "Error 3" in status.stderr, status.stdout + status.stderr  # make's, devstack's
    assert re.search(
        r"^kafka +unhealthy .*\n +Kafka authentication failed \(SASL SCRAM-SHA-512 as user pinterest\)$",
        status.stdout,
        re.MULTILINE,
    ), status.stdout
    assert "not-the-password" not in status.stdout + status.stderr


def test_clients_without_tls_are_refused_with_a_clear_error(secure_stack):
    bootstrap = secure_stack.kafka_bootstrap_servers
    code, answer = health(replace(secure_stack, kafka_security_protocol="SASL_PLAINTEXT"))
    assert (code, answer["detail"]) == (
        503,
        f"Kafka at {bootstrap} requires TLS (PINTEREST_KAFKA_SECURITY_PROTOCOL is SASL_PLAINTEXT)",
    )
    status = make_status(PINTEREST_KAFKA_SECURITY_PROTOCOL="PLAINTEXT", PINTEREST_PG_SSLMODE="disable")
    assert status.returncode == 2 and "Error 3" in status.stderr, status.stdout + status.stderr  # make's, devstack's
    assert f"Kafka at {bootstrap} requires TLS (PINTEREST_KAFKA_SECURITY_PROTOCOL is PLAINTEXT)" in status.stdout
    assert re.search(r"PostgreSQL requires TLS \(PINTEREST_PG_SSLMODE is disable\): .*no encryption", status.stdout)
    with pytest.raises(psycopg2.OperationalError, match="no encryption"):
        psycopg2.connect(secure_stack.pg_dsn("postgres").replace("sslmode=verify-full", "sslmode=disable"))


def listening_addresses(pids: set[int]) -> set[str]:
    """The addresses (without port) on which the processes `pids` listen for TCP connections."""
    listing = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    found = set()
    for line in listing.splitlines():
        owners = {int(pid) for pid in re.findall(r"pid=(\d+)", line)}
        if owners & pids:
            found.add(line.split()[3].rsplit(":", 1)[0].strip("[]").removeprefix("::ffff:"))
    return found


def process_tree(root: int) -> set[int]:
    children: dict[int, set[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), set()).add(int(stat.parent.name))
    tree, todo = set(), [root]
    while todo:
        pid = todo.pop()
        tree.add(pid)
        todo += children.get(pid, set()) - tree
    return tree


def test_the_spark_driver_host_and_bind_address_follow_the_settings(secure_stack, demo):
    streaming = next(s for s in settings_stack(secure_stack).services if s.name == "streaming")
    job = process_tree(int(streaming.pid_file.read_text()))
    addresses = listening_addresses(job)
    # The driver's RPC and block manager ports; py4j's gateway stays on 127.0.0.1, as pyspark binds it.
    assert DRIVER_HOST in addresses and addresses <= {DRIVER_HOST, "127.0.0.1"}, addresses


def dagster_records(settings: Settings) -> list[str]:
    """Every run's configuration and every event (with its metadata) Dagster stored."""
    conn = psycopg2.connect(settings.pg_dsn(DAGSTER_DB))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT run_body FROM runs")
            runs = [row[0] for row in cur.fetchall()]
            cur.execute("SELECT event FROM event_logs")
            return runs + [row[0] for row in cur.fetchall()]
    finally:
        conn.close()


def test_no_log_line_or_dagster_metadata_holds_a_password(secure_stack, demo):
    s = secure_stack
    passwords = {
        "Kafka SASL": s.kafka_sasl_password,
        **{f"PostgreSQL {role}": s.pg_login(role)[1] for role in (PG_ADMIN, PG_STREAMING, PG_API, PG_PUBLISHER)},
    }
    assert all(len(password) >= 16 for password in passwords.values())
    stack_dir = settings_stack(s).state_dir
    logs = [path for path in (stack_dir / "logs").iterdir() if path.is_file()]
    dagster_files = [path for path in s.dagster_home.rglob("*") if path.is_file()]
    records = dagster_records(s)
    assert logs and dagster_files and len(records) > 100
    texts = {str(path): path.read_text(errors="replace") for path in logs + dagster_files}
    texts |= {"demo output": demo.stdout + demo.stderr, "Dagster's runs and events": "\n".join(records)}
    leaks = [(what, where) for what, password in passwords.items() for where, text in texts.items() if password in text]
    assert leaks == []
