"""The PostgreSQL roles against the real server: each component's role can do what it does and
nothing else (pinterest_common/pg_roles.py); the API answers from the streaming table as its
reader role, behind its keys."""

from __future__ import annotations

import uuid
from dataclasses import replace

import psycopg2
import pytest
from psycopg2 import errors, sql

from ingestion_api.app import create_app
from pinterest_assets.lib.queries.publish import replace_table
from pinterest_common import pg_roles
from pinterest_common.config import ANALYTICS_DB, DAGSTER_DB, PG_API, PG_PUBLISHER, PG_STREAMING
from pinterest_common.streaming_contract import EVENT_TABLES
from streaming.ddl import ensure_database, ensure_schema
from streaming.job import prepare_database
from tests.fixtures.streaming import connect, drop_database, new_database

pytestmark = pytest.mark.integration

STREAMING_TABLES = (
    *EVENT_TABLES.values(),
    "quarantined_events",
    "profile_popularity",
    "category_trends",
    "streaming_batches",
    "streaming_status",
)
ANALYTICS_TABLE = "security_test_answer"


def login(settings, database: str, role: str):
    conn = psycopg2.connect(settings.pg_dsn(database, role), connect_timeout=10)
    conn.autocommit = True
    return conn


def denied(conn, statement: str, args=None) -> bool:
    """True when PostgreSQL refuses `statement` for lack of privilege."""
    try:
        with conn.cursor() as cur:
            cur.execute(statement, args)
        return False
    except errors.InsufficientPrivilege:
        return True


def cannot_connect(settings, database: str, role: str) -> bool:
    try:
        login(settings, database, role).close()
        return False
    except psycopg2.OperationalError as exc:
        assert "permission denied for database" in str(exc), exc
        return True


@pytest.fixture(scope="module")
def streaming_db(stack_settings):
    """The stack's streaming database, its tables created as the job creates them."""
    prepare_database(stack_settings)
    return stack_settings.streaming_database


@pytest.fixture(scope="module")
def analytics_table(stack_settings):
    """An answer table published as the analytics publisher."""
    conn = login(stack_settings, ANALYTICS_DB, PG_PUBLISHER)
    conn.autocommit = False
    try:
        replace_table(conn, ANALYTICS_TABLE, [("name", "text"), ("n", "integer")], [("a", 1)])
        replace_table(conn, ANALYTICS_TABLE, [("name", "text"), ("n", "integer")], [("b", 2)])  # it owns it
    finally:
        conn.close()
    yield ANALYTICS_TABLE
    admin = connect(stack_settings, ANALYTICS_DB)
    with admin.cursor() as cur:
        cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(ANALYTICS_TABLE)))
    admin.close()


def test_the_streaming_tables_belong_to_the_writer(stack_settings, streaming_db):
    admin = connect(stack_settings, streaming_db)
    with admin.cursor() as cur:
        cur.execute(
            "SELECT relname, pg_get_userbyid(relowner) FROM pg_class "
            "WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'v')"
        )
        owners = dict(cur.fetchall())
    admin.close()
    assert set(STREAMING_TABLES) <= set(owners)
    assert set(owners.values()) == {stack_settings.pg_streaming_user}


def test_the_api_role_reads_profile_popularity_and_nothing_else(stack_settings, streaming_db):
    conn = login(stack_settings, streaming_db, PG_API)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM profile_popularity")
        for table in STREAMING_TABLES:
            column = (
                "event_id" if table in EVENT_TABLES.values() else "batch_id" if table == "streaming_batches" else None
            )
            assert denied(conn, sql.SQL("INSERT INTO {} DEFAULT VALUES").format(sql.Identifier(table))), table
            assert denied(conn, sql.SQL("DELETE FROM {}").format(sql.Identifier(table))), table
            assert denied(conn, sql.SQL("TRUNCATE {}").format(sql.Identifier(table))), table
            if table == "profile_popularity":
                assert denied(conn, "UPDATE profile_popularity SET pins_posted = 0"), table
            else:
                assert denied(conn, sql.SQL("SELECT * FROM {} LIMIT 1").format(sql.Identifier(table))), table
                if column:
                    assert denied(
                        conn,
                        sql.SQL("UPDATE {} SET {} = {}").format(
                            sql.Identifier(table), sql.Identifier(column), sql.Identifier(column)
                        ),
                    ), table
        assert denied(conn, "SELECT * FROM experimental_data_enriched LIMIT 1")
        assert denied(conn, "CREATE TABLE api_was_here (x integer)")
        assert denied(conn, "CREATE TEMPORARY TABLE api_was_here (x integer)")
        assert denied(conn, "DROP TABLE profile_popularity")
    finally:
        conn.close()


def test_the_api_role_cannot_reach_analytics_nor_dagster(stack_settings, analytics_table):
    assert cannot_connect(stack_settings, ANALYTICS_DB, PG_API)
    assert cannot_connect(stack_settings, DAGSTER_DB, PG_API)


def test_the_streaming_role_cannot_reach_analytics_nor_dagster(stack_settings, analytics_table):
    assert cannot_connect(stack_settings, ANALYTICS_DB, PG_STREAMING)
    assert cannot_connect(stack_settings, DAGSTER_DB, PG_STREAMING)


def test_the_publisher_writes_analytics_and_cannot_reach_the_streaming_tables(
    stack_settings, streaming_db, analytics_table
):
    conn = login(stack_settings, ANALYTICS_DB, PG_PUBLISHER)
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT name, n FROM {}").format(sql.Identifier(analytics_table)))
        assert cur.fetchall() == [("b", 2)]
    conn.close()
    assert cannot_connect(stack_settings, streaming_db, PG_PUBLISHER)
    assert cannot_connect(stack_settings, DAGSTER_DB, PG_PUBLISHER)


def test_the_roles_are_no_superusers_and_provisioning_is_idempotent(stack_settings):
    admin = connect(stack_settings, "postgres")
    try:
        pg_roles.provision(stack_settings, lambda database: connect(stack_settings, database))
        pg_roles.provision(stack_settings, lambda database: connect(stack_settings, database))
        names = [stack_settings.pg_login(role)[0] for role in (PG_STREAMING, PG_API, PG_PUBLISHER)]
        with admin.cursor() as cur:
            cur.execute(
                "SELECT rolname, rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = ANY(%s)", (names,)
            )
            rows = cur.fetchall()
    finally:
        admin.close()
    assert sorted(rows) == sorted((name, False, False, False) for name in names)


def test_tables_made_by_the_admin_are_handed_to_the_writer(stack_settings):
    """A database set up before the roles existed (tables owned by the admin): the job's set-up
    gives the writer its tables, and the reader SELECT on what the API reads."""
    database = new_database()
    admin = connect(stack_settings, "postgres")
    ensure_database(admin, database)
    admin.close()
    try:
        old = psycopg2.connect(stack_settings.pg_dsn(database))
        ensure_schema(old)
        old.close()
        settings = replace(stack_settings, streaming_database=database)
        prepare_database(settings)
        test_the_streaming_tables_belong_to_the_writer(settings, database)
        reader = login(settings, database, PG_API)
        with reader.cursor() as cur:
            cur.execute("SELECT count(*) FROM profile_popularity")
        assert denied(reader, "SELECT count(*) FROM streaming_status")
        reader.close()
    finally:
        drop_database(stack_settings, database)


def test_recommendations_are_read_as_the_api_role_behind_the_keys(stack_settings, streaming_db):
    key = f"key-{uuid.uuid4().hex}"
    app = create_app(replace(stack_settings, api_keys=(key,)))
    try:
        client = app.test_client()
        assert client.get("/recommendations/profiles").status_code == 401
        assert client.get("/recommendations/profiles", headers={"X-API-Key": key + "x"}).status_code == 401
        answer = client.get("/recommendations/profiles", headers={"X-API-Key": key})
        assert answer.status_code == 200, answer.get_json()
        assert isinstance(answer.get_json()["profiles"], list)
    finally:
        app.extensions["publisher"].close()
