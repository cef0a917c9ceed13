"""S3 helpers that work on AWS S3 and on S3-compatible servers alike."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

DELETE_PAGE = 1000  # the most keys one DeleteObjects request takes


def list_keys(s3, bucket: str, prefix: str, markers: bool = False) -> Iterator[str]:
    """Every object key under `prefix`, in S3's (lexicographic) order; folder markers (keys
    ending in `/`, which Hadoop's S3A writes for directories and S3Proxy's filesystem store lists
    for its folders) only if `markers`.

    Pages with StartAfter = the last key seen rather than with continuation tokens: S3Proxy, the
    local stack's server, returns its token URL-encoded, so botocore's paginator receives the same
    token twice as soon as a prefix holds more than one page of keys containing `=` or `+`.
    """
    start_after = ""
    while True:
        page = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, StartAfter=start_after)
        keys = [entry["Key"] for entry in page.get("Contents", [])]
        yield from (key for key in keys if markers or not key.endswith("/"))
        if not page.get("IsTruncated") or not keys:
            return
        start_after = keys[-1]


def delete_keys(s3, bucket: str, keys: Iterable[str]) -> list[str]:
    """Delete `keys`, deepest first: objects before the folder markers that hold them.

    The order matters on S3Proxy's filesystem store: deleting the marker of a folder that is not
    empty yet makes it retry for 10 s (jclouds' Utils.delete) before it gives up, and the folder
    goes once its last child does anyway. AWS S3 does not care about the order.
    """
    ordered = sorted(set(keys), key=lambda key: (-key.rstrip("/").count("/"), key.endswith("/"), key))
    for start in range(0, len(ordered), DELETE_PAGE):
        page = [{"Key": key} for key in ordered[start : start + DELETE_PAGE]]
        s3.delete_objects(Bucket=bucket, Delete={"Objects": page, "Quiet": True})
    return ordered


def remove_tree(s3, bucket: str, prefix: str) -> list[str]:
    """Delete every object and folder marker under `prefix` (see delete_keys); returns the keys."""
    return delete_keys(s3, bucket, list(list_keys(s3, bucket, prefix, markers=True)))


def s3_client(settings, **config):
    """A boto3 S3 client for the lake of `settings` (pinterest_common.config.Settings): the one
    place that turns the settings into a client. `config`: botocore.config.Config options
    (timeouts, retries, connection pool size)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        region_name=settings.s3_region,
        aws_access_key_id=settings.s3_access_key_id,
        aws_secret_access_key=settings.s3_secret_access_key,
        config=Config(**config) if config else None,
    )
