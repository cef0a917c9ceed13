"""The platform's PostgreSQL roles: one per component, each allowed only what that component does.

- admin (PINTEREST_PG_USER): owns the databases, runs this set-up, and is Dagster's own storage
  (database `dagster`, the lake's progress) and the streaming tables' observer.
- streaming writer (PINTEREST_PG_STREAMING_USER): connects to the streaming database only; may
  create in its schema `public`, so it owns the tables it creates (streaming/ddl.py) and writes
  them; temporary tables (the sink's `new_pins`).
- API reader (PINTEREST_PG_API_USER): connects to the streaming database only; SELECT on
  API_TABLES, nothing else. The writer grants it when it creates them (ddl.ensure_schema), and
  this set-up grants it on tables that exist already.
- analytics publisher (PINTEREST_PG_PUBLISHER_USER): connects to `pinterest_analytics` only, may
  create in its schema `public` and owns the answer tables it replaces
  (pinterest_assets/lib/queries/publish.py).

PUBLIC loses CONNECT and TEMPORARY on the platform's databases, so that no role reaches a
database it was not granted. Everything here is idempotent: the local stack runs it each time
PostgreSQL starts (devstack/services.py), docker/postgres-init.sql does the same for Compose,
and the streaming job for a database of its own (streaming/job.py). A role configured with the
admin's name is left alone (a single-role deployment). Role and database names are identifiers
(`sql.Identifier`), passwords parameters: nothing is formatted into SQL text.
"""

from __future__ import annotations

from collections.abc import Callable

from psycopg2 import errors, sql
from psycopg2.extensions import connection

from .config import ANALYTICS_DB, DAGSTER_DB, PG_API, PG_PUBLISHER, PG_STREAMING, Settings

# What the API reads in the streaming database (ingestion_api/recommendations.py).
API_TABLES = ("profile_popularity",)

# relkind -> the ALTER statement that changes the owner of such a relation.
_ALTER_OWNER = {"r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW", "S": "SEQUENCE"}


def ensure_login_role(cur, name: str, password: str) -> None:
    """Create the login role `name` when missing, and (re)set its password to `password`."""
    statement = "ALTER ROLE {} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %s"
    cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,))
    if cur.fetchone() is None:
        try:
            cur.execute(sql.SQL("CREATE ROLE {} WITH LOGIN PASSWORD %s").format(sql.Identifier(name)), (password,))
            return
        except errors.DuplicateObject:
            pass  # created by another process in the meantime
    cur.execute(sql.SQL(statement).format(sql.Identifier(name)), (password,))


def _roles(settings: Settings) -> dict[str, str]:
    """{what: role name} of the least-privileged roles that are not the admin itself."""
    names = {what: settings.pg_login(what)[0] for what in (PG_STREAMING, PG_API, PG_PUBLISHER)}
    return {what: name for what, name in names.items() if name != settings.pg_user}


def ensure_roles(admin_conn, settings: Settings) -> None:
    """The login roles, with the configured passwords. `admin_conn`: autocommit, any database."""
    with admin_conn.cursor() as cur:
        for what in _roles(settings):
            ensure_login_role(cur, *settings.pg_login(what))


def _database_exists(cur, database: str) -> bool:
    cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
    return cur.fetchone() is not None


def grant_database(admin_conn, database: str, grants: dict[str, str]) -> None:
    """PUBLIC loses every privilege on `database`; each role of `grants` gets its privileges
    (e.g. "CONNECT, TEMPORARY", from code constants). `admin_conn`: autocommit, any database."""
    with admin_conn.cursor() as cur:
        if not _database_exists(cur, database):
            return
        db = sql.Identifier(database)
        cur.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(db))
        for role, privileges in grants.items():
            cur.execute(sql.SQL("GRANT {} ON DATABASE {} TO {}").format(sql.SQL(privileges), db, sql.Identifier(role)))


def _own_schema(cur, owner: str) -> None:
    """Give `owner` every relation of schema `public` (tables made by the admin before the roles
    existed), and CREATE on the schema (PostgreSQL 15 grants PUBLIC only USAGE there)."""
    cur.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")  # the default before PostgreSQL 15
    cur.execute(sql.SQL("GRANT USAGE, CREATE ON SCHEMA public TO {}").format(sql.Identifier(owner)))
    cur.execute(
        "SELECT c.relname, c.relkind FROM pg_class c "
        "WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S') "
        "AND pg_get_userbyid(c.relowner) <> %s "
        # Sequences owned by a column follow their table.
        "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i') "
        "                AND d.classid = 'pg_class'::regclass AND c.relkind = 'S')",
        (owner,),
    )
    for name, kind in cur.fetchall():
        cur.execute(
            sql.SQL("ALTER {} {} OWNER TO {}").format(
                sql.SQL(_ALTER_OWNER[kind]), sql.Identifier("public", name), sql.Identifier(owner)
            )
        )


def grant_streaming(admin_conn, connect: Callable[[str], connection], settings: Settings) -> None:
    """The streaming database's privileges (the database must exist). `connect(database)`: a
    new admin connection."""
    roles = _roles(settings)
    writer, reader = roles.get(PG_STREAMING), roles.get(PG_API)
    database = settings.streaming_database
    grants = {role: privileges for role, privileges in ((writer, "CONNECT, TEMPORARY"), (reader, "CONNECT")) if role}
    grant_database(admin_conn, database, grants)
    conn = connect(database)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            if writer:
                _own_schema(cur, writer)
            if reader:
                cur.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(sql.Identifier(reader)))
                for table in API_TABLES:
                    cur.execute("SELECT to_regclass(%s)", (f"public.{table}",))
                    row = cur.fetchone()
                    assert row is not None  # a SELECT without FROM returns one row
                    if row[0] is not None:
                        cur.execute(
                            sql.SQL("GRANT SELECT ON {} TO {}").format(
                                sql.Identifier("public", table), sql.Identifier(reader)
                            )
                        )
    finally:
        conn.close()


def grant_analytics(admin_conn, connect: Callable[[str], connection], settings: Settings) -> None:
    """pinterest_analytics' privileges (the database must exist)."""
    publisher = _roles(settings).get(PG_PUBLISHER)
    grant_database(admin_conn, ANALYTICS_DB, {publisher: "CONNECT, TEMPORARY"} if publisher else {})
    if not publisher:
        return
    conn = connect(ANALYTICS_DB)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            _own_schema(cur, publisher)
    finally:
        conn.close()


def provision(settings: Settings, connect: Callable[[str], connection]) -> None:
    """Every role and privilege of the platform, on databases that exist (idempotent).
    `connect(database)`: a new connection as the admin (PINTEREST_PG_USER)."""
    admin = connect("postgres")
    admin.autocommit = True
    try:
        ensure_roles(admin, settings)
        grant_database(admin, DAGSTER_DB, {})  # the admin's alone
        with admin.cursor() as cur:
            streaming = _database_exists(cur, settings.streaming_database)
            analytics = _database_exists(cur, ANALYTICS_DB)
        if streaming:
            grant_streaming(admin, connect, settings)
        if analytics:
            grant_analytics(admin, connect, settings)
    finally:
        admin.close()


def main() -> int:
    """`python -m pinterest_common.pg_roles`: set up the roles on the configured server, as the admin."""
    import psycopg2

    from .config import get_settings

    settings = get_settings()
    provision(settings, lambda database: psycopg2.connect(settings.pg_dsn(database), connect_timeout=10))
    names = ", ".join(settings.pg_login(what)[0] for what in _roles(settings))
    print(f"roles and grants in place on {settings.pg_host}:{settings.pg_port}: {names or 'none (single role)'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
