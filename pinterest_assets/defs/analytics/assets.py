"""The analytics assets, one per question (pinterest_assets.lib.queries.analytics), computed in one
Spark session, written as Parquet under analytics/<name>/ and published to the PostgreSQL
database `pinterest_analytics` as a table of the same name, replaced atomically.

The three-way join of the cleaned tables is built once and persisted, and every question is
answered from it; each answer (small) is persisted too, so that its one computation feeds the
Parquet write, the rows published to PostgreSQL (and the previews) and the medians' check.
"""

from collections.abc import Iterator

import dagster as dg
from dagster_aws.s3 import S3Resource

from pinterest_assets.defs.cleaned.assets import CLEANED_TABLES, read_cleaned
from pinterest_assets.lib.automation import ANALYTICS_AUTOMATION
from pinterest_assets.lib.queries.analytics import QUESTIONS, CleanedTables, answer, medians_outside_group_range
from pinterest_assets.lib.queries.lake_tables import CleanedTable, write_parquet
from pinterest_assets.lib.queries.previews import chart_markdown, preview_table
from pinterest_assets.lib.queries.publish import postgres_columns, replace_table
from pinterest_assets.resources import LakeSparkResource, PostgresResource, RawLakeResource
from pinterest_common.config import ANALYTICS_DB
from pinterest_common.lake_layout import ANALYTICS_PREFIX

ANALYTICS_GROUP = "analytics"
NON_EMPTY, MEDIANS_IN_RANGE = "non_empty", "medians_within_group_range"

SPECS = [
    dg.AssetSpec(
        question.name,
        deps=list(CLEANED_TABLES.values()),
        group_name=ANALYTICS_GROUP,
        automation_condition=ANALYTICS_AUTOMATION,
        kinds={"spark", "parquet", "postgres"},
        description=f"{question.description}. Columns: {', '.join(question.columns)}.",
    )
    for question in QUESTIONS
]
CHECK_SPECS = [
    dg.AssetCheckSpec(NON_EMPTY, asset=question.name, description="The answer has at least one row.")
    for question in QUESTIONS
] + [
    dg.AssetCheckSpec(
        MEDIANS_IN_RANGE,
        asset=question.name,
        description="Every median lies between its group's smallest and largest follower count.",
    )
    for question in QUESTIONS
    if question.median_rows is not None
]


def _table_schema(columns: list[tuple[str, str]]) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(name, pg_type) for name, pg_type in columns])


@dg.multi_asset(specs=SPECS, check_specs=CHECK_SPECS, can_subset=True, name="answer_questions")
def analytics_tables(
    context: dg.AssetExecutionContext,
    pyspark: LakeSparkResource,
    s3: S3Resource,
    postgres: PostgresResource,
    raw_lake: RawLakeResource,
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    spark, client, bucket = pyspark.spark_session, s3.get_client(), raw_lake.bucket
    url = lambda key: f"s3a://{bucket}/{key}"

    def current(event_type: str):
        table = CleanedTable(client, bucket, CLEANED_TABLES[event_type])
        return read_cleaned(spark, table, event_type, table.read_state().version)

    tables = CleanedTables(*(current(event_type) for event_type in ("pin", "geo", "user")))
    joined = tables.joined.persist()
    connection = postgres.connect_publisher(ANALYTICS_DB)  # the publisher role: pinterest_analytics alone
    try:
        for question in QUESTIONS:
            if dg.AssetKey(question.name) not in context.selected_asset_keys:
                continue
            frame = answer(question, tables).persist()
            rows = [tuple(row) for row in frame.collect()]
            location = f"{ANALYTICS_PREFIX}/{question.name}/"
            write_parquet(frame.coalesce(1).write.mode("overwrite"), client, bucket, location)
            columns = postgres_columns(frame.schema)
            replace_table(connection, question.name, columns, rows)
            context.log.info(f"{question.name}: {len(rows)} row(s) published")
            yield dg.MaterializeResult(
                asset_key=question.name,
                metadata={
                    "dagster/row_count": len(rows),
                    "dagster/column_schema": _table_schema(columns),
                    "preview": preview_table(question.columns, rows),
                    "chart": chart_markdown(question.columns, rows),
                    "dagster/uri": url(location),
                    "postgres_table": f"{ANALYTICS_DB}.public.{question.name}",
                },
            )
            selected_checks = {
                key.name for key in context.selected_asset_check_keys if key.asset_key.path == [question.name]
            }
            if NON_EMPTY in selected_checks:
                yield dg.AssetCheckResult(
                    asset_key=question.name, check_name=NON_EMPTY, passed=bool(rows), metadata={"rows": len(rows)}
                )
            if MEDIANS_IN_RANGE in selected_checks:
                outside = medians_outside_group_range(question, tables, frame)
                yield dg.AssetCheckResult(
                    asset_key=question.name,
                    check_name=MEDIANS_IN_RANGE,
                    passed=outside == 0,
                    metadata={"medians_outside_range": outside},
                )
            frame.unpersist()
    finally:
        connection.close()
        joined.unpersist()
