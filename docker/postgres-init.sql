-- The platform's databases (the `dagster` one is POSTGRES_DB).
CREATE DATABASE pinterest_streaming;
CREATE DATABASE pinterest_analytics;
