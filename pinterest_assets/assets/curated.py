"""cleaned_pins, cleaned_geo, cleaned_users: the raw lake cleaned by Spark into Parquet.

Incremental by default: a run folds in only the raw objects not yet processed (see
pinterest_assets.queries.lake_tables for the versioned layout). Launch with the run config
`{"ops": {"clean_raw_events": {"config": {"full_rebuild": true}}}}` to rebuild from the whole
raw lake. The blocking checks run inside the same Spark session; a failure stops the analytics.
"""


from collections.abc import Iterator
from datetime import datetime, timezone

import dagster as dg
from dagster_aws.s3 import S3Resource
from pydantic import Field
from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from pinterest_common.cleaning import CLEANED_COLUMNS, clean, dedup, null_rates
from pinterest_common.schema import CATEGORIES, EVENT_TYPES, PIN_SENTINELS

from ..queries.lake_tables import (
    CuratedState,
    CuratedTable,
    list_raw_objects,
    read_lake_lines,
    read_raw_events,
    write_parquet,
)
from ..raw_streams import STREAMS
from ..resources import LakeSparkResource, RawLakeResource

CURATED_GROUP = "curated"
CLEANED_TABLES = {"pin": "cleaned_pins", "geo": "cleaned_geo", "user": "cleaned_users"}
RECONCILED = "raw_keys_reconciled"


class CleanConfig(dg.Config):
    full_rebuild: bool = Field(
        default=False, description="Fold every raw object in again instead of only the new ones."
    )


def _check(name: str, table: str, description: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(name, asset=table, description=description, blocking=True)


CHECK_SPECS = [
    _check("unique_unique_id", "cleaned_pins", "One row per unique_id."),
    _check("no_sentinel_left", "cleaned_pins", "No sentinel value survived cleaning."),
    _check("follower_count_not_negative", "cleaned_pins", "follower_count >= 0."),
    _check("category_known", "cleaned_pins", f"category is one of the {len(CATEGORIES)} categories."),
    _check("save_location_is_path", "cleaned_pins", "save_location starts with /data/."),
    _check("coordinates_in_range", "cleaned_geo", "latitude in [-90, 90], longitude in [-180, 180]."),
    *(
        _check(RECONCILED, table, "Distinct keys in the raw lake equal the cleaned rows.")
        for table in CLEANED_TABLES.values()
    ),
]

SPECS = [
    dg.AssetSpec(
        CLEANED_TABLES[stream.name],
        deps=[stream.asset_name],
        group_name=CURATED_GROUP,
        kinds={"spark", "parquet", "s3"},
        description=(
            f"{stream.name.capitalize()} events cleaned by the shared rules (pinterest_common.cleaning), one row per "
            f"{stream.event_type.key_field} (latest received wins), Parquet under curated/{CLEANED_TABLES[stream.name]}/."
        ),
    )
    for stream in STREAMS
]


def read_cleaned(spark: SparkSession, table: CuratedTable, event_type: str, version: str | None) -> DataFrame:
    """A version of a cleaned table; no version yet: an empty frame with the cleaned columns."""
    if version is None:
        return clean(event_type, read_raw_events(spark, table.bucket, EVENT_TYPES[event_type], []))
    return spark.read.parquet(f"s3a://{table.bucket}/{table.version_key(version)}")


def _violations(table: str, frame: DataFrame) -> dict[str, int]:
    """Rows breaking each row-level rule of `table`, in one aggregation."""
    count = lambda condition: F.sum(F.when(condition, 1).otherwise(0))  # noqa: E731
    if table == "cleaned_pins":
        sentinel_left = F.lit(False)
        for column, sentinels in PIN_SENTINELS.items():
            sentinel_left = sentinel_left | F.col(column).cast("string").isin(list(sentinels))
        aggregates = {
            "unique_unique_id": F.count("*") - F.countDistinct("unique_id"),
            "no_sentinel_left": count(sentinel_left),
            "follower_count_not_negative": count(F.col("follower_count") < 0),
            "category_known": count(F.col("category").isNotNull() & ~F.col("category").isin(list(CATEGORIES))),
            "save_location_is_path": count(
                F.col("save_location").isNotNull() & ~F.col("save_location").startswith("/data/")
            ),
        }
    elif table == "cleaned_geo":
        lat, lon = F.col("coordinates")[0], F.col("coordinates")[1]
        aggregates = {"coordinates_in_range": count(~lat.between(-90, 90) | ~lon.between(-180, 180))}
    else:
        return {}
    row = frame.agg(*(expr.alias(name) for name, expr in aggregates.items())).first()
    return {name: int(row[name] or 0) for name in aggregates}


@dg.multi_asset(specs=SPECS, check_specs=CHECK_SPECS, can_subset=True, name="clean_raw_events")
def cleaned_tables(
    context: dg.AssetExecutionContext,
    config: CleanConfig,
    pyspark: LakeSparkResource,
    s3: S3Resource,
    raw_lake: RawLakeResource,
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    spark, client, bucket = pyspark.spark_session, s3.get_client(), raw_lake.bucket
    url = lambda key: f"s3a://{bucket}/{key}"  # noqa: E731
    for stream in STREAMS:
        table_name = CLEANED_TABLES[stream.name]
        if dg.AssetKey(table_name) not in context.selected_asset_keys:
            continue
        table = CuratedTable(client, bucket, table_name)
        state = CuratedState() if config.full_rebuild else table.read_state()
        raw_keys = list_raw_objects(client, bucket, stream.name)
        new_keys = [key for key in raw_keys if key not in state.raw_objects]
        context.log.info(f"{table_name}: {len(new_keys)} new raw object(s) of {len(raw_keys)}")
        metadata: dict = {"new_raw_objects": len(new_keys), "raw_objects": len(raw_keys), "full_rebuild": config.full_rebuild}

        version = state.version
        if new_keys:
            rule_changes = Observation(f"rule_changes_{stream.name}")
            merged = clean(stream.name, read_raw_events(spark, bucket, stream.event_type, new_keys), rule_changes)
            if state.version is not None:
                merged = merged.unionByName(spark.read.parquet(url(table.version_key(state.version))))
            version = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{context.run.run_id[:8]}"
            write_parquet(dedup(stream.name, merged).write, client, bucket, table.version_key(version))
            table.write_state(CuratedState(version, state.raw_objects | set(new_keys)))
            table.remove_versions_except(version, state.version)
            metadata["rule_changes"] = dg.MetadataValue.json(rule_changes.get)

        cleaned = read_cleaned(spark, table, stream.name, version)
        rows = cleaned.count()
        metadata.update({
            "dagster/row_count": rows,
            "null_rates": dg.MetadataValue.json(null_rates(cleaned, CLEANED_COLUMNS[stream.name])),
            "version": version or "none",
            "dagster/uri": url(table.version_key(version)) if version else url(table.prefix),
        })
        yield dg.MaterializeResult(asset_key=table_name, metadata=metadata)

        selected_checks = context.selected_asset_check_keys
        violations = _violations(table_name, cleaned)
        for name, bad in violations.items():
            if dg.AssetCheckKey(dg.AssetKey(table_name), name) in selected_checks:
                yield dg.AssetCheckResult(asset_key=table_name, check_name=name, passed=bad == 0,
                                          metadata={"violating_rows": bad})
        if dg.AssetCheckKey(dg.AssetKey(table_name), RECONCILED) in selected_checks:
            raw_distinct = read_lake_lines(spark, bucket, stream.name, raw_keys).select("key").distinct().count()
            yield dg.AssetCheckResult(
                asset_key=table_name, check_name=RECONCILED, passed=raw_distinct == rows,
                metadata={"distinct_raw_keys": raw_distinct, "cleaned_rows": rows},
            )
