-- Run once by the postgres image when its data volume is created (as POSTGRES_USER, the admin):
-- the platform's databases (the `dagster` one is POSTGRES_DB) and the components' roles with the
-- grants of pinterest_common/pg_roles.py, which the local stack runs instead. Role names and
-- passwords come from the variables compose.yaml gives this container (psql 15+ `\getenv`).
\set ON_ERROR_STOP on
\getenv streaming_user PINTEREST_PG_STREAMING_USER
\getenv streaming_password PINTEREST_PG_STREAMING_PASSWORD
\getenv api_user PINTEREST_PG_API_USER
\getenv api_password PINTEREST_PG_API_PASSWORD
\getenv publisher_user PINTEREST_PG_PUBLISHER_USER
\getenv publisher_password PINTEREST_PG_PUBLISHER_PASSWORD

CREATE DATABASE pinterest_streaming;
CREATE DATABASE pinterest_analytics;

-- The streaming job's writer, the API's reader, the analytics publisher: logins, nothing more.
CREATE ROLE :"streaming_user" LOGIN PASSWORD :'streaming_password';
CREATE ROLE :"api_user" LOGIN PASSWORD :'api_password';
CREATE ROLE :"publisher_user" LOGIN PASSWORD :'publisher_password';

-- No database is open to PUBLIC; each role reaches its own.
REVOKE ALL ON DATABASE dagster FROM PUBLIC;
REVOKE ALL ON DATABASE pinterest_streaming FROM PUBLIC;
REVOKE ALL ON DATABASE pinterest_analytics FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE pinterest_streaming TO :"streaming_user";
GRANT CONNECT ON DATABASE pinterest_streaming TO :"api_user";
GRANT CONNECT, TEMPORARY ON DATABASE pinterest_analytics TO :"publisher_user";

-- The writer creates (so owns) the streaming tables, and grants the reader SELECT on
-- profile_popularity when it creates it (streaming/ddl.py).
\connect pinterest_streaming
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE, CREATE ON SCHEMA public TO :"streaming_user";
GRANT USAGE ON SCHEMA public TO :"api_user";

-- The publisher creates (so owns) the answer tables it replaces.
\connect pinterest_analytics
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE, CREATE ON SCHEMA public TO :"publisher_user";
