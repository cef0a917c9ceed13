-- Run once by the postgres image when its data volume is created: the platform's two other
-- databases (`dagster` is POSTGRES_DB). The components' roles and their grants come next, from
-- the `pg-roles` service (`python -m pinterest_common.pg_roles`, what the local stack runs).
CREATE DATABASE pinterest_streaming;
CREATE DATABASE pinterest_analytics;
