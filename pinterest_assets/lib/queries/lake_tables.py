"""Reading the raw lake into Spark, and the versioned cleaned tables (plain PySpark + boto3).

Cleaned layout, per table (e.g. `cleaned_pins`):

    cleaned/<table>/version=<version>/part-*.parquet   one complete version of the table
    cleaned/<table>/_state.json                         {"version": ..., "raw_objects": [...]}

`_state.json` is written last and names the current version, the version of the table's
quarantine (e.g. `cleaned/quarantined_pins/version=<version>/`, same layout, no state of its own),
the version of its index of first copies (`cleaned/cleaned_pins_first_copies/version=<version>/`:
per client id, where its first copy is in Kafka; later copies are set aside), the raw objects
already folded into them and the running totals of their lines (what the accounting check sets
against the tables, pinterest_assets.lib.queries.quality). So an incremental run reads only the raw
objects that are new, merges them with the current version, writes a new version and then moves
the pointer: a reader never sees a half written table, and a run that dies before the pointer
moves changes nothing. A full rebuild ignores the state and folds in every raw object again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from pyspark.sql import DataFrame, DataFrameWriter, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, IntegerType, LongType, StringType, StructField, StructType

from pinterest_common.lake_layout import CLEANED_PREFIX, RAW_OBJECT_SUFFIX, RAW_PREFIX
from pinterest_common.s3 import delete_keys, list_keys, remove_tree

# One line of a raw lake object (pinterest_assets.lib.lake.records documents the fields). A line of a
# record that the API did not write may lack headers (NULL), and carries the bytes that are not
# UTF-8 in base64 (`key_base64`, `value_base64`) and its odd headers (`headers`).
HEADER_SCHEMA = StructType(
    [
        StructField("name", StringType()),
        StructField("value", StringType()),
        StructField("value_base64", StringType()),
    ]
)
LAKE_LINE_SCHEMA = StructType(
    [
        StructField("event_id", StringType()),
        StructField("event_type", StringType()),
        StructField("received_at", StringType()),
        StructField("schema_version", IntegerType()),
        StructField("client_event_id", StringType()),
        StructField("kafka_topic", StringType()),
        StructField("kafka_partition", IntegerType()),
        StructField("kafka_offset", LongType()),
        StructField("kafka_timestamp", LongType()),
        StructField("key", StringType()),
        StructField("value", StringType()),
        StructField("key_base64", StringType()),
        StructField("value_base64", StringType()),
        StructField("headers", ArrayType(HEADER_SCHEMA)),
    ]
)
RECEIVED_AT_FORMAT = "yyyy-MM-dd'T'HH:mm:ss.SSSSSSX"


def list_raw_objects(s3, bucket: str, event_type: str) -> list[str]:
    """Every raw object key of one event type, sorted."""
    return sorted(
        key for key in list_keys(s3, bucket, f"{RAW_PREFIX}/{event_type}/") if key.endswith(RAW_OBJECT_SUFFIX)
    )


def write_parquet(writer: DataFrameWriter, s3, bucket: str, prefix: str) -> None:
    """Write Parquet under `prefix` (a key ending in `/`) through s3a, then remove the committer's
    `_temporary/` folder markers children first. Spark skips the committer's own cleanup
    (pinterest_common.spark sets mapreduce.fileoutputcommitter.cleanup.skipped): it deletes the
    markers parent first, which costs 10 s per write on S3Proxy (see pinterest_common.s3.delete_keys).
    """
    writer.parquet(f"s3a://{bucket}/{prefix}")
    remove_tree(s3, bucket, f"{prefix}_temporary/")


def read_lake_lines(spark: SparkSession, bucket: str, event_type: str, keys: list[str]) -> DataFrame:
    """The lines of the raw objects `keys` (all of `event_type`; none: an empty frame).

    Spark lists the event type's prefix once (a LIST request per 1,000 objects) and reads only
    these objects: a filter on `_metadata.file_path` prunes the files before the scan. Handed the
    objects one by one, Spark checks that each exists and lists each in a task of its own (about
    25 ms an object on S3Proxy here: most of the time of a lake of small objects).
    """
    if not keys:
        return spark.createDataFrame([], LAKE_LINE_SCHEMA)
    prefix = f"s3a://{bucket}/{RAW_PREFIX}/{event_type}/"
    wanted = [f"s3a://{bucket}/{key}" for key in keys]
    return (
        spark.read.schema(LAKE_LINE_SCHEMA)
        .option("recursiveFileLookup", "true")
        .option("pathGlobFilter", f"*{RAW_OBJECT_SUFFIX}")
        .json(prefix)
        .where(F.col("_metadata.file_path").isin(wanted))
    )


def received_at_timestamp(column: str = "received_at"):
    """The lake line's received_at text as a timestamp (NULL when it does not parse)."""
    return F.try_to_timestamp(column, F.lit(RECEIVED_AT_FORMAT))


@dataclass(frozen=True)
class CleanedState:
    """A cleaned table's pointer: its version, its quarantine's and its first copies' index's
    versions, the raw objects they account for (every line of them is a later copy, or in the
    cleaned table or the quarantine), and the running totals of those lines
    (pinterest_assets.lib.queries.quality.TOTALS; None: a state from before them)."""

    version: str | None = None
    raw_objects: frozenset[str] = field(default_factory=frozenset)
    quarantine_version: str | None = None
    index_version: str | None = None
    totals: dict[str, int] | None = None


class CleanedTable:
    """A versioned Parquet table in the lake (see the module docstring)."""

    def __init__(self, s3, bucket: str, name: str):
        self.s3, self.bucket, self.name = s3, bucket, name
        self.prefix = f"{CLEANED_PREFIX}/{name}"

    @property
    def state_key(self) -> str:
        return f"{self.prefix}/_state.json"

    def version_key(self, version: str) -> str:
        return f"{self.prefix}/version={version}/"

    def read_state(self) -> CleanedState:
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=self.state_key)["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return CleanedState()
        state = json.loads(body)
        return CleanedState(
            state["version"],
            frozenset(state["raw_objects"]),
            state.get("quarantine_version"),
            state.get("index_version"),
            state.get("totals"),
        )

    def write_state(self, state: CleanedState) -> None:
        body = json.dumps(
            {
                "version": state.version,
                "quarantine_version": state.quarantine_version,
                "index_version": state.index_version,
                "totals": state.totals,
                "raw_objects": sorted(state.raw_objects),
            },
            indent=1,
        )
        self.s3.put_object(Bucket=self.bucket, Key=self.state_key, Body=body.encode())

    def remove_versions_except(self, *keep: str | None) -> list[str]:
        """Delete the objects (and folder markers) of every version not in `keep`; returns the
        deleted keys."""
        kept = tuple(self.version_key(v) for v in keep if v)
        versions = list_keys(self.s3, self.bucket, f"{self.prefix}/version=", markers=True)
        return delete_keys(self.s3, self.bucket, [key for key in versions if not key.startswith(kept)])
