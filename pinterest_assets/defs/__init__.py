"""The code location's definitions, one package per domain, each with its own `defs`:

kafka_topics      the topics the API writes (external assets: the lineage's upstream end)
raw_lake          the drain: sensors -> landing jobs -> raw assets in S3, and their checks
cleaned           the Spark clean step (checks and quarantine with it) and the refresh
analytics         the answers to the contract's questions
streaming_tables  the streaming job's PostgreSQL tables, observed, and their freshness
"""
