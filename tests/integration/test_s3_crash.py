"""The local S3 server killed in the middle of a PUT: after its restart the bucket lists only whole
objects, as S3's would (jclouds' filesystem provider leaves the PUT's temporary file behind, and
would list it as an object; `S3Server.remove_interrupted_puts` removes it at every start)."""

from __future__ import annotations

import http.client
import time
from urllib.parse import urlsplit

import boto3
import pytest

from devstack.chaos.harness import kill_9
from devstack.fresh import fresh_stack, settings_stack
from devstack.services import S3Server
from pinterest_common.s3 import list_keys

pytestmark = pytest.mark.integration

SENT, DECLARED = 256 * 1024, 1024 * 1024


def _s3(settings):
    return boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        region_name=settings.s3_region,
        aws_access_key_id=settings.s3_access_key_id,
        aws_secret_access_key=settings.s3_secret_access_key,
    )


def test_a_put_interrupted_by_a_crash_is_not_listed_after_the_restart():
    with fresh_stack("test-s3-crash-", services=("s3",)) as settings:
        server = next(s for s in settings_stack(settings).services if isinstance(s, S3Server))
        s3, bucket = _s3(settings), settings.s3_bucket
        whole = "raw/pin/dt=2026-12-06/whole.jsonl.gz"
        s3.put_object(Bucket=bucket, Key=whole, Body=b"whole object")

        # A PUT that declares 1 MiB and sends a quarter of it: the server is writing it when it dies.
        torn = "raw/pin/dt=2026-12-06/torn.jsonl.gz"
        url = urlsplit(s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": torn}))
        connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        connection.putrequest("PUT", f"{url.path}?{url.query}", skip_accept_encoding=True)
        connection.putheader("Content-Length", str(DECLARED))
        connection.endheaders()
        connection.send(b"x" * SENT)
        bucket_dir = server.dir / "objects" / bucket
        deadline = time.monotonic() + 30
        while not (left := [p for p in bucket_dir.rglob("torn.jsonl.gz-*") if p.stat().st_size > 0]):
            assert time.monotonic() < deadline, "the server never started writing the PUT's bytes"
            time.sleep(0.05)
        kill_9(server.pid_file, "the S3 server")
        connection.close()
        assert [p for p in bucket_dir.rglob("*") if p.is_file() and p.name.startswith("torn")] == left, (
            "the crash should leave the PUT's temporary file (nothing to prove otherwise)"
        )

        server.start()
        assert list(list_keys(s3, bucket, "raw/")) == [whole]
        assert not any(p.exists() for p in left)
        assert s3.get_object(Bucket=bucket, Key=whole)["Body"].read() == b"whole object"
