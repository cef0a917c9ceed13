"""Plain PySpark queries (no Dagster import) behind the batch assets."""
