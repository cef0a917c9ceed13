"""The Dagster code location of the platform (`pinterest_assets.definitions`).

Layout: `defs/<domain>/` holds each domain's assets, checks, jobs and sensors (kafka_topics,
raw_lake, cleaned, analytics, streaming_tables); `lib/` the plain logic they wrap (`lib/lake`:
the drain, `lib/queries`: the Spark and PostgreSQL work, `lib/topics.py`: the drained topics and
the names derived from them); `resources.py` every resource; `definitions.py` composes the
domains; `instance.py` writes the local instance's dagster.yaml. `make batch` is devstack/batch.py.
"""
