"""S3 helpers that work on AWS S3 and on S3-compatible servers alike."""

from __future__ import annotations

from collections.abc import Iterator


def list_keys(s3, bucket: str, prefix: str) -> Iterator[str]:
    """Every object key under `prefix`, in S3's (lexicographic) order, without folder markers
    (keys ending in `/`, which S3Proxy's filesystem store lists for its directories).

    Pages with StartAfter = the last key seen rather than with continuation tokens: S3Proxy, the
    local stack's server, returns its token URL-encoded, so botocore's paginator receives the same
    token twice as soon as a prefix holds more than one page of keys containing `=` or `+`.
    """
    start_after = ""
    while True:
        page = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, StartAfter=start_after)
        keys = [entry["Key"] for entry in page.get("Contents", [])]
        yield from (key for key in keys if not key.endswith("/"))
        if not page.get("IsTruncated") or not keys:
            return
        start_after = keys[-1]
