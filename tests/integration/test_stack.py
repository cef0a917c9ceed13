"""The local stack's real services answer, and every component can reach them."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import boto3
import psycopg2
import pytest
from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from pinterest_common.config import DATABASES
from pinterest_common.s3 import list_keys

pytestmark = pytest.mark.integration


def _new_topic(settings, partitions: int = 1) -> str:
    topic = f"test.roundtrip.{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    try:
        admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
    finally:
        admin.close()
    return topic


def _s3(settings):
    return boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        region_name=settings.s3_region,
        aws_access_key_id=settings.s3_access_key_id,
        aws_secret_access_key=settings.s3_secret_access_key,
    )


def test_kafka_produce_consume_round_trip(stack_settings):
    topic = _new_topic(stack_settings)
    producer = KafkaProducer(bootstrap_servers=stack_settings.kafka_bootstrap_servers, acks="all")
    sent = [f"message-{i}".encode() for i in range(10)]
    for value in sent:
        producer.send(topic, key=b"k", value=value)
    producer.flush()
    producer.close()

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=stack_settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        consumer_timeout_ms=10_000,
    )
    received = [record.value for record in consumer]
    consumer.close()
    assert received == sent


def test_s3_put_list_get_on_the_local_server(stack_settings, tmp_path):
    s3 = _s3(stack_settings)
    bucket = stack_settings.s3_bucket
    assert bucket in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    key = f"tests/{uuid.uuid4().hex}/object.json"
    body = json.dumps({"hello": "lake"}).encode()
    s3.put_object(Bucket=bucket, Key=key, Body=body)

    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=key.rsplit("/", 1)[0] + "/")["Contents"]]
    assert listed == [key]
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body


def test_listing_pages_through_more_than_a_thousand_lake_style_keys(stack_settings):
    """Keys with `=` and `+` (the lake's layout) over several pages: the local server's
    URL-encoded continuation tokens broke botocore's paginator here."""
    s3, bucket = _s3(stack_settings), stack_settings.s3_bucket
    prefix = f"tests/{uuid.uuid4().hex}/"
    keys = sorted(
        f"{prefix}dt=2026-11-{day}/pinterest.pin+{partition}+{first:09d}.jsonl.gz"
        for day in (25, 26)
        for partition in range(3)
        for first in range(0, 2_000, 10)
    )
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda key: s3.put_object(Bucket=bucket, Key=key, Body=b"{}"), keys))

    assert list(list_keys(s3, bucket, prefix)) == keys
    assert list(list_keys(s3, bucket, f"{prefix}dt=2026-11-26/")) == keys[600:]


def test_spark_reads_json_from_the_lake_over_s3a(stack_settings, spark):
    prefix = f"tests/{uuid.uuid4().hex}/"
    lines = "\n".join(json.dumps({"ind": i, "category": c}) for i, c in [(1, "art"), (2, "travel")])
    _s3(stack_settings).put_object(Bucket=stack_settings.s3_bucket, Key=prefix + "part.json", Body=lines.encode())

    rows = spark.read.json(stack_settings.s3a_url(prefix)).orderBy("ind").collect()
    assert [(r.ind, r.category) for r in rows] == [(1, "art"), (2, "travel")]


def test_spark_writes_parquet_to_the_lake_and_leaves_no_committer_folders(stack_settings, spark):
    """write_parquet removes the committer's `_temporary/` itself (children first, see
    pinterest_common.s3.delete_keys), also when it overwrites an earlier write."""
    from pinterest_assets.lib.queries.lake_tables import write_parquet

    s3, bucket = _s3(stack_settings), stack_settings.s3_bucket
    prefix = f"tests/{uuid.uuid4().hex}/answer/"
    for rows in ([(1, "art")], [(2, "travel"), (3, "quotes")]):
        write_parquet(
            spark.createDataFrame(rows, "ind int, category string").write.mode("overwrite"), s3, bucket, prefix
        )
        keys = list(list_keys(s3, bucket, prefix, markers=True))
        assert not [key for key in keys if "_temporary" in key], keys
        assert [key for key in keys if key.endswith(".parquet")], keys
        back = spark.read.parquet(stack_settings.s3a_url(prefix)).orderBy("ind").collect()
        assert [(r.ind, r.category) for r in back] == rows


def test_spark_reads_a_kafka_topic_through_the_connector(stack_settings, spark):
    topic = _new_topic(stack_settings, partitions=2)
    producer = KafkaProducer(bootstrap_servers=stack_settings.kafka_bootstrap_servers, acks="all")
    for i in range(6):
        producer.send(topic, key=str(i).encode(), value=json.dumps({"n": i}).encode())
    producer.flush()
    producer.close()

    frame = (
        spark.read.format("kafka")
        .option("kafka.bootstrap.servers", stack_settings.kafka_bootstrap_servers)
        .option("subscribe", topic)
        .option("startingOffsets", "earliest")
        .load()
    )
    values = sorted(json.loads(r.value)["n"] for r in frame.selectExpr("CAST(value AS STRING) AS value").collect())
    assert values == list(range(6))


@pytest.mark.parametrize("database", DATABASES)
def test_postgres_connect_and_write_in_each_database(stack_settings, database):
    """A committed row in a table of the database's own schema, read back on a new connection."""
    table = f"probe_{uuid.uuid4().hex[:8]}"
    with psycopg2.connect(stack_settings.pg_dsn(database)) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE public.{table} (id int PRIMARY KEY, note text)")
        cur.execute(f"INSERT INTO public.{table} VALUES (%s, %s)", (1, database))
    conn.close()
    reader = psycopg2.connect(stack_settings.pg_dsn(database))
    try:
        with reader, reader.cursor() as cur:
            cur.execute(f"SELECT current_database(), note FROM public.{table}")
            assert cur.fetchall() == [(database, database)]
            cur.execute(f"DROP TABLE public.{table}")
    finally:
        reader.close()
