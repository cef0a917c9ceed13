"""The Dagster code location of the platform (`pinterest_assets.definitions`).

Layout: `definitions.py` assembles the per-domain `defs` of `resources/`, `assets/`, `checks/`,
`jobs/` and `sensors/`; `lake/` holds the batch lake's plain logic (no Dagster import);
`instance.py` writes the local instance's dagster.yaml; `batch.py` is `make batch`.
"""
