"""The raw assets' checks on the real services, made to fail: a real landing (API -> Kafka ->
`make batch`'s drain -> S3 and the PostgreSQL manifest), then the landed objects or the manifest
broken by hand and the checks run alone, as from the UI: `nothing_lost` fails for an object gone
or rewritten with a line twice (S3's ETag is no longer the MD5 the run recorded),
`no_duplicate_offsets` for overlapping objects in the manifest (its SQL), both pass again once
repaired, and before anything landed they warn that they checked nothing. A stack of its own: the test breaks its lake on purpose.
(tests/unit/test_raw_checks.py covers the same logic without services.)"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass

import boto3
import dagster as dg
import psycopg2
import pytest
import requests

from devstack import batch
from ingestion_api.canonical import CANONICAL_TRIPLE
from pinterest_assets.definitions import build_definitions
from pinterest_assets.defs.raw_lake.assets import RAW_EVENTS
from pinterest_assets.defs.raw_lake.checks import NO_DUPLICATES, NOTHING_CHECKED, NOTHING_LOST, RAW_EVENTS_CHECKS
from pinterest_assets.instance import prepare_instance
from pinterest_assets.resources import build_resources
from pinterest_common.config import DAGSTER_DB

pytestmark = pytest.mark.integration

PINS = 30


@dataclass
class Lake:
    settings: object
    instance: dg.DagsterInstance
    s3: object

    def latest_landing(self, asset: str = "raw_pin_events") -> list[dict]:
        """The objects of the latest landing as it recorded them: key, offsets, records, md5."""
        record = self.instance.fetch_materializations(dg.AssetKey(asset), limit=1).records[0]
        return record.asset_materialization.metadata["objects"].value

    def get(self, key: str) -> bytes:
        return self.s3.get_object(Bucket=self.settings.s3_bucket, Key=key)["Body"].read()

    def put(self, key: str, body: bytes) -> None:
        self.s3.put_object(Bucket=self.settings.s3_bucket, Key=key, Body=body)

    def sql(self, statement: str, params: tuple = ()) -> list[tuple]:
        conn = psycopg2.connect(self.settings.pg_dsn(DAGSTER_DB))
        try:
            with conn, conn.cursor() as cur:
                cur.execute(statement, params)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def checks(self, asset: str = "raw_pin_events") -> dict[str, dg.AssetCheckEvaluation]:
        """The asset's raw checks run alone (as from the UI) against the real S3 and manifest."""
        index = [a.key for a in RAW_EVENTS].index(dg.AssetKey(asset))
        result = dg.materialize(
            [RAW_EVENTS[index], RAW_EVENTS_CHECKS[index]],
            instance=self.instance,
            selection=dg.AssetSelection.checks_for_assets(asset),
            resources=build_resources(self.settings),
        )
        assert result.success
        return {e.check_name: e for e in result.get_asset_check_evaluations()}


@pytest.fixture(scope="module")
def lake(isolated_stack):
    settings = isolated_stack
    prepare_instance(settings)
    pins = [
        {**CANONICAL_TRIPLE["pin"], "index": i, "unique_id": f"00000000-0000-4000-8000-{i:012d}"} for i in range(PINS)
    ]
    answer = requests.post(f"http://127.0.0.1:{settings.api_port}/pin/batch", json=pins, timeout=60)
    assert answer.status_code == 202, answer.text[:500]
    logs: list[str] = []
    with dg.DagsterInstance.get() as instance:
        summary = batch.run_batch(build_definitions(settings), instance, log=logs.append, refresh_downstream=False)
        assert summary.ok and summary.landed == PINS, "\n".join(logs)
        s3 = boto3.client(
            "s3",
            endpoint_url=settings.s3_endpoint_url,
            region_name=settings.s3_region,
            aws_access_key_id=settings.s3_access_key_id,
            aws_secret_access_key=settings.s3_secret_access_key,
        )
        yield Lake(settings, instance, s3)


def test_the_checks_pass_for_the_landing_as_it_is(lake):
    assert all(check.passed for check in lake.checks().values())


def test_an_object_gone_from_s3_fails_nothing_lost_until_it_is_back(lake):
    key = lake.latest_landing()[0]["key"]
    body = lake.get(key)
    lake.s3.delete_object(Bucket=lake.settings.s3_bucket, Key=key)
    try:
        checks = lake.checks()
        assert not checks[NOTHING_LOST].passed and checks[NOTHING_LOST].severity == dg.AssetCheckSeverity.ERROR
        assert checks[NOTHING_LOST].metadata["missing_objects"].value == 1
    finally:
        lake.put(key, body)
    assert lake.checks()[NOTHING_LOST].passed


def test_an_object_rewritten_with_a_line_twice_fails_nothing_lost_by_its_checksum(lake):
    landed = lake.latest_landing()[0]
    key, body = landed["key"], lake.get(landed["key"])
    lines = gzip.decompress(body).splitlines(keepends=True)
    lake.put(key, gzip.compress(b"".join(lines + lines[:1])))
    try:
        checks = lake.checks()
        lost = checks[NOTHING_LOST]
        assert not lost.passed and lost.severity == dg.AssetCheckSeverity.ERROR
        assert lost.metadata["checksum_mismatches"].value == 1 and lost.metadata["examples"].value == [key]
        assert checks[NO_DUPLICATES].passed  # the spans the run recorded are still disjoint
    finally:
        lake.put(key, body)
    assert all(check.passed for check in lake.checks().values())


def test_an_object_overlapping_a_landed_one_in_the_manifest_fails_no_duplicate_offsets(lake):
    landed = lake.latest_landing()[0]
    key = landed["key"]
    line = json.loads(gzip.decompress(lake.get(key)).splitlines()[0])
    forged = key.replace(".jsonl.gz", "+forged.jsonl.gz")
    lake.sql(
        "INSERT INTO lake.objects"
        " (object_key, topic, partition, kind, first_offset, last_offset, records, bytes, state)"
        " VALUES (%s, %s, %s, 'raw', %s, %s, 1, 1, 'landed')",
        (forged, line["kafka_topic"], line["kafka_partition"], landed["first_offset"], landed["first_offset"]),
    )
    try:
        checks = lake.checks()
        duplicates = checks[NO_DUPLICATES]
        assert not duplicates.passed and duplicates.metadata["overlapping_landed_objects"].value == 1
        assert any(forged in example and key in example for example in duplicates.metadata["examples"].value)
        assert checks[NOTHING_LOST].passed
    finally:
        lake.sql("DELETE FROM lake.objects WHERE object_key = %s", (forged,))
    assert lake.checks()[NO_DUPLICATES].passed


def test_before_anything_landed_the_checks_warn_that_they_checked_nothing(lake):
    checks = lake.checks("raw_geo_events")  # only pins were posted
    assert set(checks) == {NOTHING_LOST, NO_DUPLICATES}
    for check in checks.values():
        assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
        assert check.metadata["note"].value == NOTHING_CHECKED
