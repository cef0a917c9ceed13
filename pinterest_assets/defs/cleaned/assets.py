"""cleaned_pins/geo/users and quarantined_pins/geo/users: the raw lake split by Spark into
Parquet tables, every raw line into exactly one of them.

The clean step is the one place that decides. A later copy of a client-named event (the same
(event type, client_event_id) as an earlier line: a client's retry) is set aside, counted; the
first copy wins, found through an index of first copies kept with the table
(`cleaned/cleaned_<type>_first_copies/`). Every other new raw line is checked against the contract
(pinterest_common.quarantine); a line that passes is cleaned and folded into its cleaned table
(one row per key, the latest received wins), one that does not is kept whole in the quarantine,
with the reason and when (Parquet under cleaned/quarantined_<type>/, and the PostgreSQL table of
the same name in `pinterest_analytics`).

One pass: a run reads its new raw objects once (an explicit schema, each value parsed once),
persists the triaged lines and derives from them the index's new entries, the cleaned rows, the
quarantine and the counts of its split (pinterest_assets.lib.queries.quality). The accounting check
reads no raw object again: the state keeps running totals of the lines folded in, which each
run adds its counts to and the check sets against the tables as written.

Incremental by default: a run folds in only the raw objects not yet processed (see
pinterest_assets.lib.queries.lake_tables for the versioned layout); a state from before the running
totals is rebuilt once. Run config:
`{"ops": {"clean_raw_events": {"config": {"full_rebuild": true}}}}` rebuilds from the whole raw
lake; `{"recheck_quarantine": true}` (`make requarantine`) checks the quarantined lines again
under the current rules (after a rule was relaxed with PINTEREST_RELAXED_RULES) and moves those
that pass into the cleaned tables.

Checks: ERROR (blocking the analytics) only where the pipeline itself would be wrong (raw lines
not accounted for exactly once, a key or event_id twice, a cleaned row breaking a rule cleaning enforces);
WARN for the data (categories outside the known list, the quarantine's share).

One unit: a run cleans every stream (those without new raw objects cost little), so the
automation (pinterest_assets/lib/automation.py) requests all six tables together with the
answers, one run and one Spark session per refresh.
"""

from collections.abc import Iterator
from datetime import UTC, datetime

import dagster as dg
from dagster_aws.s3 import S3Resource
from pydantic import Field
from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from pinterest_assets.lib.automation import CLEANED_AUTOMATION
from pinterest_assets.lib.queries import quality
from pinterest_assets.lib.queries.lake_tables import (
    LAKE_LINE_SCHEMA,
    CleanedState,
    CleanedTable,
    list_raw_objects,
    read_lake_lines,
    write_parquet,
)
from pinterest_assets.lib.queries.publish import replace_quarantine_table
from pinterest_assets.lib.topics import DRAINED_TOPICS
from pinterest_assets.resources import LakeSparkResource, PostgresResource, RawLakeResource
from pinterest_common.cleaning import CLEANED_COLUMNS
from pinterest_common.config import ANALYTICS_DB, get_settings
from pinterest_common.schema import CATEGORIES

CLEANED_GROUP = "cleaned"
CLEANED_TABLES = {"pin": "cleaned_pins", "geo": "cleaned_geo", "user": "cleaned_users"}
QUARANTINE_TABLES = {"pin": "quarantined_pins", "geo": "quarantined_geo", "user": "quarantined_users"}
CLEANED_KEYS = {"pin": "unique_id", "geo": "ind", "user": "ind"}

# Up to this many new cleaned events, a run ranks only the table's rows of their keys (broadcast).
FEW_EVENTS = 100_000
RECONCILED, UNIQUE_KEY, UNIQUE_EVENT_ID = "raw_keys_reconciled", "unique_key", "unique_event_id"
CATEGORY_KNOWN, QUARANTINE_SHARE = "category_known", "quarantine_share"
RULE_CHECKS = {
    "cleaned_pins": {
        "no_sentinel_left": "No sentinel value survived cleaning.",
        "follower_count_not_negative": "follower_count >= 0.",
        "save_location_is_path": "save_location starts with /data/.",
    },
    "cleaned_geo": {"coordinates_in_range": "latitude in [-90, 90], longitude in [-180, 180]."},
    "cleaned_users": {"age_in_range": "age in [0, 120]."},
}


class CleanConfig(dg.Config):
    full_rebuild: bool = Field(
        default=False, description="Fold every raw object in again instead of only the new ones."
    )
    recheck_quarantine: bool = Field(
        default=False,
        description="Check the quarantined lines again under the current rules (PINTEREST_RELAXED_RULES) and move "
        "those that pass into the cleaned tables.",
    )


def _blocking(name: str, table: str, description: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(name, asset=table, description=description, blocking=True)


CHECK_SPECS = [
    *(
        _blocking(name, table, description)
        for table, checks in RULE_CHECKS.items()
        for name, description in checks.items()
    ),
    *(
        spec
        for event_type, table in CLEANED_TABLES.items()
        for spec in (
            _blocking(UNIQUE_KEY, table, f"One row per {CLEANED_KEYS[event_type]}."),
            _blocking(UNIQUE_EVENT_ID, table, "No event_id twice."),
            _blocking(
                RECONCILED,
                table,
                f"Every raw {event_type} line is a cleaned row, superseded by a later version "
                "of its key, quarantined or a later copy, exactly once: the running totals "
                "against the tables' rows; every first copy with an id in the index.",
            ),
        )
    ),
    dg.AssetCheckSpec(
        CATEGORY_KNOWN,
        asset="cleaned_pins",
        description=f"Warns about categories outside the {len(CATEGORIES)} known ones, with counts.",
    ),
    *(
        dg.AssetCheckSpec(
            QUARANTINE_SHARE,
            asset=table,
            description="Warns when the quarantine holds more than PINTEREST_QUARANTINE_WARN_SHARE of "
            "the raw lines, with the counts per reason.",
        )
        for table in QUARANTINE_TABLES.values()
    ),
]

SPECS = [
    spec
    for stream in DRAINED_TOPICS
    for spec in (
        dg.AssetSpec(
            CLEANED_TABLES[stream.name],
            deps=[stream.asset_name],
            group_name=CLEANED_GROUP,
            automation_condition=CLEANED_AUTOMATION,
            kinds={"spark", "parquet", "s3"},
            description=(
                f"{stream.name.capitalize()} events cleaned by the shared rules (pinterest_common.cleaning), one row "
                f"per {CLEANED_KEYS[stream.name]} (latest received wins), Parquet under "
                f"cleaned/{CLEANED_TABLES[stream.name]}/."
            ),
        ),
        dg.AssetSpec(
            QUARANTINE_TABLES[stream.name],
            deps=[stream.asset_name],
            group_name=CLEANED_GROUP,
            automation_condition=CLEANED_AUTOMATION,
            kinds={"spark", "parquet", "postgres"},
            description=(
                f"Raw {stream.name} lines the contract refuses (pinterest_common.quarantine), whole, with the Kafka "
                f"coordinates, the reason and when: Parquet under cleaned/{QUARANTINE_TABLES[stream.name]}/ and the "
                f"table {ANALYTICS_DB}.public.{QUARANTINE_TABLES[stream.name]}."
            ),
        ),
    )
]


def read_cleaned(spark: SparkSession, table: CleanedTable, event_type: str, version: str | None) -> DataFrame:
    """A version of a cleaned table; no version yet: an empty frame with the cleaned columns. A
    version from before client ids gets its event_id as client_event_id."""
    empty = quality.cleaned_events(quality.triage(spark.createDataFrame([], LAKE_LINE_SCHEMA), event_type), event_type)
    if version is None:
        return empty
    stored = spark.read.parquet(f"s3a://{table.bucket}/{table.version_key(version)}")
    if "client_event_id" not in stored.columns:
        stored = stored.withColumn("client_event_id", F.col("event_id"))
    return stored.select(*empty.columns)


def read_quarantine(spark: SparkSession, table: CleanedTable, version: str | None) -> DataFrame:
    """A version of a quarantine table; no version yet: an empty frame with its columns. A version
    from before a line column existed (client_event_id) reads it as NULL."""
    empty = spark.createDataFrame([], LAKE_LINE_SCHEMA).select(
        *quality.LINE_COLUMNS,
        F.lit(None).cast("string").alias(quality.REASON),
        F.lit(None).cast("timestamp").alias(quality.QUARANTINED_AT),
    )
    if version is None:
        return empty
    stored = spark.read.parquet(f"s3a://{table.bucket}/{table.version_key(version)}")
    return empty.unionByName(stored, allowMissingColumns=True)


def first_copies_table(client, bucket: str, cleaned_name: str) -> CleanedTable:
    return CleanedTable(client, bucket, f"{cleaned_name}_first_copies")


def read_index(spark: SparkSession, table: CleanedTable, version: str | None) -> DataFrame:
    """A version of the first copies' index; none yet: empty."""
    if version is None:
        return spark.createDataFrame([], quality.INDEX_SCHEMA)
    return spark.read.parquet(f"s3a://{table.bucket}/{table.version_key(version)}")


def _examples(counts: dict[str, int]) -> dg.MetadataValue:
    return dg.MetadataValue.table(
        records=[dg.TableRecord({"value": str(name), "rows": rows}) for name, rows in counts.items()],
        schema=dg.TableSchema(columns=[dg.TableColumn("value", "string"), dg.TableColumn("rows", "int")]),
    )


@dg.multi_asset(specs=SPECS, check_specs=CHECK_SPECS, can_subset=False, name="clean_raw_events")
def cleaned_tables(
    context: dg.AssetExecutionContext,
    config: CleanConfig,
    pyspark: LakeSparkResource,
    s3: S3Resource,
    postgres: PostgresResource,
    raw_lake: RawLakeResource,
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    settings = get_settings()
    spark, client, bucket = pyspark.spark_session, s3.get_client(), raw_lake.bucket
    url = lambda key: f"s3a://{bucket}/{key}"  # noqa: E731
    run_version = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{context.run.run_id[:8]}"
    now = datetime.now(UTC)
    selected_checks = context.selected_asset_check_keys
    if settings.relaxed_rules:
        context.log.info(f"relaxed cleaning rules (PINTEREST_RELAXED_RULES): {', '.join(settings.relaxed_rules)}")

    def check(table: str, name: str, passed: bool, metadata: dict, severity=dg.AssetCheckSeverity.ERROR):
        if dg.AssetCheckKey(dg.AssetKey(table), name) in selected_checks:
            yield dg.AssetCheckResult(
                asset_key=table, check_name=name, passed=passed, severity=severity, metadata=metadata
            )

    for stream in DRAINED_TOPICS:
        cleaned_name, quarantine_name = CLEANED_TABLES[stream.name], QUARANTINE_TABLES[stream.name]
        table, quarantine_table = (
            CleanedTable(client, bucket, cleaned_name),
            CleanedTable(client, bucket, quarantine_name),
        )
        index_table = first_copies_table(client, bucket, cleaned_name)
        state = table.read_state()
        rebuild = config.full_rebuild or (state.version is not None and state.totals is None)
        if rebuild and not config.full_rebuild:
            context.log.info(f"{cleaned_name}: a state from before the running totals: rebuilt from the whole raw lake")
        if rebuild:
            state = CleanedState()
        raw_keys = list_raw_objects(client, bucket, stream.name)
        new_keys = [key for key in raw_keys if key not in state.raw_objects]
        context.log.info(f"{cleaned_name}: {len(new_keys)} new raw object(s) of {len(raw_keys)}")
        metadata: dict = {"new_raw_objects": len(new_keys), "raw_objects": len(raw_keys), "full_rebuild": rebuild}

        version, quarantine_version, index_version = state.version, state.quarantine_version, state.index_version
        totals = state.totals or dict.fromkeys(quality.TOTALS, 0)
        if new_keys or config.recheck_quarantine:
            old_quarantine = read_quarantine(spark, quarantine_table, quarantine_version)
            lines = read_lake_lines(spark, bucket, stream.name, new_keys).withColumn(quality.REREAD, F.lit(False))
            kept = old_quarantine
            if config.recheck_quarantine:
                lines = lines.unionByName(quality.lines_of(old_quarantine).withColumn(quality.REREAD, F.lit(True)))
                kept = old_quarantine.limit(0)
            old_index = read_index(spark, index_table, index_version)
            # The one read of the new lines (and one parse of each value): everything below comes from it.
            staged = quality.stage(lines, stream.name, settings.relaxed_rules).persist()
            contested = quality.contested_ids(staged, old_index).persist()
            marked = quality.mark_copies(staged, contested)
            split = quality.split_counts(marked)
            metadata["this_run"] = dg.MetadataValue.json(split)
            write_parquet(
                old_index.unionByName(quality.index_entries(marked)).write,
                client,
                bucket,
                index_table.version_key(run_version),
            )
            rule_changes, folded = Observation(f"rule_changes_{stream.name}"), Observation(f"folded_{stream.name}")
            events = quality.cleaned_events(marked, stream.name, rule_changes)
            current = read_cleaned(spark, table, stream.name, version) if version is not None else None
            # Not with none: the keys' join, found empty, drops the events' branch and its Observation.
            few = quality.cleaned_events(marked, stream.name) if 0 < split["cleaned"] <= FEW_EVENTS else None
            merged = quality.fold(current, events, stream.name, folded, few)
            write_parquet(merged.write, client, bucket, table.version_key(run_version))
            quarantined = quality.quarantine_rows(marked, now)
            if config.recheck_quarantine:
                quarantined = quality.keep_first_quarantined_at(quarantined, old_quarantine)
            write_parquet(
                kept.unionByName(quarantined).write, client, bucket, quarantine_table.version_key(run_version)
            )
            contested.unpersist()
            staged.unpersist()
            totals = quality.add_totals(totals, split, folded.get)
            table.write_state(
                CleanedState(run_version, state.raw_objects | set(new_keys), run_version, run_version, totals)
            )
            table.remove_versions_except(run_version, state.version)
            quarantine_table.remove_versions_except(run_version, state.quarantine_version)
            index_table.remove_versions_except(run_version, state.index_version)
            version = quarantine_version = index_version = run_version
            metadata["rule_changes"] = dg.MetadataValue.json(rule_changes.get)

        cleaned = read_cleaned(spark, table, stream.name, version)
        figures = quality.table_figures(cleaned_name, cleaned, CLEANED_KEYS[stream.name], CLEANED_COLUMNS[stream.name])
        quarantine = read_quarantine(spark, quarantine_table, quarantine_version).collect()
        reasons = quality.reason_counts(quarantine)
        connection = postgres.connect_publisher(ANALYTICS_DB)
        try:
            replace_quarantine_table(connection, quarantine_name, quarantine)
        finally:
            connection.close()
        yield dg.MaterializeResult(
            asset_key=quarantine_name,
            metadata={
                "dagster/row_count": len(quarantine),
                "reasons": _examples(reasons),
                "relaxed_rules": ", ".join(settings.relaxed_rules) or "none",
                "version": quarantine_version or "none",
                "dagster/uri": url(
                    quarantine_table.version_key(quarantine_version) if quarantine_version else quarantine_table.prefix
                ),
                "postgres_table": f"{ANALYTICS_DB}.public.{quarantine_name}",
            },
        )
        metadata.update(
            {
                "dagster/row_count": figures["rows"],
                "null_rates": dg.MetadataValue.json(figures["null_rates"]),
                "version": version or "none",
                "dagster/uri": url(table.version_key(version)) if version else url(table.prefix),
            }
        )
        yield dg.MaterializeResult(asset_key=cleaned_name, metadata=metadata)

        for name, bad in figures["violations"].items():
            yield from check(cleaned_name, name, bad == 0, {"violating_rows": bad})
        found = {name: figures[name] for name in ("duplicate_keys", "duplicate_event_ids")}
        yield from check(cleaned_name, UNIQUE_KEY, found["duplicate_keys"] == 0, found)
        yield from check(cleaned_name, UNIQUE_EVENT_ID, found["duplicate_event_ids"] == 0, found)
        if stream.name == "pin":
            unknown = quality.category_counts(cleaned) if figures["unknown_category_rows"] else {}
            yield from check(
                cleaned_name,
                CATEGORY_KNOWN,
                not unknown,
                {"pins_with_unknown_category": sum(unknown.values()), "unknown_categories": _examples(unknown)},
                dg.AssetCheckSeverity.WARN,
            )
        index_rows = read_index(spark, index_table, index_version).count()
        counts = quality.accounting(totals, figures["rows"], quarantine, index_rows)
        yield from check(cleaned_name, RECONCILED, quality.balanced(counts), counts)
        share = counts["quarantined_lines"] / counts["raw_lines"] if counts["raw_lines"] else 0.0
        yield from check(
            quarantine_name,
            QUARANTINE_SHARE,
            share <= settings.quarantine_warn_share,
            {
                "quarantined_lines": counts["quarantined_lines"],
                "raw_lines": counts["raw_lines"],
                "share": round(share, 6),
                "warn_above": settings.quarantine_warn_share,
                "reasons": _examples(reasons),
                "examples": dg.MetadataValue.json(quality.examples(quarantine)),
            },
            dg.AssetCheckSeverity.WARN,
        )
