"""The real-time pipeline: Spark Structured Streaming from Kafka to PostgreSQL, exactly once.

`python -m streaming` runs it (streaming/job.py); `make up` runs it as the `streaming` service.
Kafka records are read with their headers, cleaned with pinterest_common.cleaning and turned into
COPY lines in the Spark plan, which keeps no state (source.py); each micro-batch's lines are
copied into staging tables and applied to the database `pinterest_streaming` in one transaction
(sink.py, ddl.py), which also recomputes the live aggregates it touches (aggregates.py). The heartbeat (status.py) feeds the local stack's health
check and Dagster's observation of the tables.
"""
