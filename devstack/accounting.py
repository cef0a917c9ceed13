"""Where each acknowledged event ended up after cleaning: cleaned or quarantined, exactly once.

For the acknowledged events of a ledger, by client event (devstack.reconcile.read_client_ledger;
a client's retries are one event, whichever copy the API acknowledged), Spark reads the current
cleaned and quarantine tables of the lake and the raw lines of those events, and sorts each
event into:

- `cleaned`: its row is in the cleaned table;
- `superseded`: a later event of the same key (pin `unique_id`, geo/user `ind`) is the cleaned row;
- `quarantined`: it is in the quarantine (with its reason).

An event in none of them is *unaccounted*; one in both the cleaned table and the quarantine, or
twice in the quarantine, is *twice*. Both must be 0.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from pinterest_assets.defs.cleaned.assets import (
    CLEANED_KEYS,
    CLEANED_TABLES,
    QUARANTINE_TABLES,
    read_cleaned,
    read_quarantine,
)
from pinterest_assets.lib.queries.lake_tables import CleanedTable, list_raw_objects, read_lake_lines
from pinterest_assets.lib.queries.quality import dedup_id
from pinterest_common.config import Settings
from pinterest_common.s3 import s3_client
from pinterest_common.schema import EVENT_TYPES

from .local_secrets import ensure_local_secrets
from .reconcile import ClientKey

ID = "client_event_id"


@dataclass
class Accounting:
    acknowledged: int = 0
    cleaned: int = 0
    superseded: int = 0
    quarantined: int = 0
    unaccounted: int = 0
    twice: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        return self.unaccounted == 0 and self.twice == 0

    def line(self) -> str:
        reasons = ", ".join(f"{reason} {count:,}" for reason, count in sorted(self.reasons.items())) or "none"
        return (
            f"cleaned + quarantined: {self.acknowledged:,} acknowledged = {self.cleaned:,} cleaned "
            f"(+ {self.superseded:,} superseded by a later version of their key) + {self.quarantined:,} "
            f"quarantined; {self.unaccounted:,} unaccounted, {self.twice:,} twice  "
            f"{'ok' if self.ok else 'MISMATCH'}\n      quarantine reasons: {reasons}"
        )


def _key_of_value(event_type: str) -> Column:
    """The event's key as the cleaned table types it, read from the raw value."""
    field = EVENT_TYPES[event_type].key_field
    text = F.get_json_object("value", f"$.{field}")
    return text if event_type == "pin" else F.trim(text).try_cast("int")


def account(spark: SparkSession, settings: Settings, acknowledged: Iterable[ClientKey]) -> Accounting:
    """Sort the acknowledged client events as the module docstring says."""
    acknowledged = list(acknowledged)
    client, bucket = s3_client(settings), settings.s3_bucket
    result = Accounting()
    for event_type in EVENT_TYPES:
        ids = [client_id for kind, client_id in acknowledged if kind == event_type]
        if not ids:
            continue
        ledger = spark.createDataFrame([(i,) for i in ids], f"{ID} string")
        table = CleanedTable(client, bucket, CLEANED_TABLES[event_type])
        state = table.read_state()
        key = CLEANED_KEYS[event_type]
        cleaned = read_cleaned(spark, table, event_type, state.version).select(F.col("client_event_id").alias(ID), key)
        quarantine = read_quarantine(
            spark, CleanedTable(client, bucket, QUARANTINE_TABLES[event_type]), state.quarantine_version
        ).select(dedup_id().alias(ID), "reason")
        lines = read_lake_lines(spark, bucket, event_type, list_raw_objects(client, bucket, event_type))
        keys = lines.withColumn(ID, dedup_id()).join(ledger, ID).select(ID, _key_of_value(event_type).alias(key))
        keys = keys.distinct()
        rows = _sorted(ledger, cleaned, quarantine, keys, key).collect()
        result.acknowledged += len(ids)
        for row in rows:
            places = int(row["in_cleaned"]) + row["quarantined"]
            result.twice += places > 1
            result.unaccounted += places == 0 and not row["superseded"]
            result.cleaned += row["in_cleaned"]
            result.superseded += bool(row["superseded"]) and places == 0
            result.quarantined += row["quarantined"] > 0
            if row["reason"]:
                result.reasons[row["reason"]] += 1
    return result


def _sorted(acknowledged: DataFrame, cleaned: DataFrame, quarantine: DataFrame, keys: DataFrame, key: str) -> DataFrame:
    in_cleaned = cleaned.select(ID, F.lit(True).alias("in_cleaned"))
    quarantined = quarantine.groupBy(ID).agg(F.count(F.lit(1)).alias("quarantined"), F.min("reason").alias("reason"))
    superseded = keys.join(cleaned.select(key), key).select(ID, F.lit(True).alias("superseded")).distinct()
    return (
        acknowledged.join(in_cleaned, ID, "left")
        .join(quarantined, ID, "left")
        .join(superseded, ID, "left")
        .select(
            ID,
            F.coalesce("in_cleaned", F.lit(False)).alias("in_cleaned"),
            F.coalesce("quarantined", F.lit(0)).alias("quarantined"),
            "reason",
            F.coalesce("superseded", F.lit(False)).alias("superseded"),
        )
    )


def main(argv: list[str] | None = None) -> int:
    """`python -m devstack.accounting LEDGER...`: the accounting of ledgers (JSON lines, as the
    emulator writes them) against the environment's stack."""
    import argparse
    from pathlib import Path

    from pinterest_common.config import get_settings
    from pinterest_common.spark import build_spark_session

    from .reconcile import ACKNOWLEDGED, read_client_ledger

    parser = argparse.ArgumentParser(
        prog="python -m devstack.accounting", description=main.__doc__ and main.__doc__.splitlines()[0]
    )
    parser.add_argument("ledgers", nargs="+", type=Path)
    args = parser.parse_args(argv)
    ensure_local_secrets()
    settings = get_settings()
    spark = build_spark_session(settings, "pinterest-accounting")
    try:
        result = account(spark, settings, read_client_ledger(args.ledgers).keys(ACKNOWLEDGED))
    finally:
        spark.stop()
    print(result.line())
    return 0 if result.ok else 1


if __name__ == "__main__":
    import sys

    sys.exit(main())
