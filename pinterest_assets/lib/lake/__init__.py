"""The batch lake's logic, free of Dagster: plan offset ranges, parse records, roll and name
objects, keep the durable progress, and land one range exactly once (Kafka itself is read
through pinterest_common.kafka_io).

The Dagster definitions (assets, checks, sensors) are thin wrappers around these modules:

- `ranges`   which offset ranges to land next (the drain sensors' planning) and the run keys
- `records`  a Kafka record -> its lake line, serialised once (every record, whatever it holds:
             the lake mirrors the topics; the clean step decides what is a valid event)
- `objects`  rolling lines into objects, deterministic object keys, gzip bytes and their MD5
- `progress` the committed offsets and the object manifest in PostgreSQL (schema `lake`)
- `landing`  one range from Kafka to S3, exactly once (reading, compressing and uploading overlap)
- `verify`   judging a landing from its counts and checksums, for the asset checks
"""
