"""Publish a small answer table to PostgreSQL, replacing the old one atomically."""

from __future__ import annotations

import json
from collections.abc import Sequence

from psycopg2 import sql
from psycopg2.extras import execute_values
from pyspark.sql.types import DataType, DoubleType, IntegerType, LongType, StringType, StructType

_POSTGRES_TYPES: dict[type[DataType], str] = {
    StringType: "text",
    IntegerType: "integer",
    LongType: "bigint",
    DoubleType: "double precision",
}


def postgres_columns(schema: StructType) -> list[tuple[str, str]]:
    """(name, PostgreSQL type) for each column of a Spark schema."""
    columns = []
    for spark_field in schema.fields:
        pg_type = _POSTGRES_TYPES.get(type(spark_field.dataType))
        if pg_type is None:
            raise TypeError(f"no PostgreSQL type for column {spark_field.name}: {spark_field.dataType}")
        columns.append((spark_field.name, pg_type))
    return columns


def replace_table(conn, table: str, columns: Sequence[tuple[str, str]], rows: Sequence[tuple]) -> None:
    """Load `rows` into a staging table and swap it in, in one transaction.

    Readers see the old table or the new one, never a half-loaded one.
    """
    staging = f"{table}__staging"
    definition = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(pg_type)) for name, pg_type in columns
    )
    with conn, conn.cursor() as cur:
        cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(staging)))
        cur.execute(sql.SQL("CREATE TABLE {} ({})").format(sql.Identifier(staging), definition))
        if rows:
            insert = sql.SQL("INSERT INTO {} VALUES %s").format(sql.Identifier(staging))
            execute_values(cur, insert.as_string(cur), rows, page_size=1000)
        cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))
        cur.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(sql.Identifier(staging), sql.Identifier(table)))


# The quarantine tables in PostgreSQL: the raw line, its reason and when (headers as JSON text).
QUARANTINE_PG_COLUMNS = [
    ("event_id", "text"),
    ("event_type", "text"),
    ("received_at", "text"),
    ("schema_version", "integer"),
    ("client_event_id", "text"),
    ("kafka_topic", "text"),
    ("kafka_partition", "integer"),
    ("kafka_offset", "bigint"),
    ("kafka_timestamp", "bigint"),
    ("key", "text"),
    ("value", "text"),
    ("key_base64", "text"),
    ("value_base64", "text"),
    ("headers", "jsonb"),
    ("reason", "text"),
    ("quarantined_at", "timestamptz"),
]
NUL, REPLACEMENT = "\x00", "\ufffd"


def replace_quarantine_table(conn, table: str, rows: Sequence) -> None:
    """Replace a quarantine table with `rows` (Spark rows of the quarantine's Parquet). PostgreSQL
    text cannot hold NUL, which a JSON string may: each becomes U+FFFD (the Parquet copy is exact)."""

    def storable(value):
        return value.replace(NUL, REPLACEMENT) if isinstance(value, str) else value

    names = [name for name, _ in QUARANTINE_PG_COLUMNS]
    values = []
    for row in rows:
        record = row.asDict(recursive=True)
        if record["headers"] is not None:
            record["headers"] = json.dumps(record["headers"], ensure_ascii=False).replace("\\u0000", "\\ufffd")
        values.append(tuple(storable(record[name]) for name in names))
    replace_table(conn, table, QUARANTINE_PG_COLUMNS, values)
