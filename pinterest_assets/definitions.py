"""The code location: `dagster dev -w workspace.yaml` loads `defs` from here.

Each domain contributes its own Definitions; the resources are built from
pinterest_common.config (`build_definitions(settings)` builds them for other settings, e.g. a
test stack).
"""

import dagster as dg

from pinterest_common.config import Settings

from . import assets, checks, jobs, resources, sensors


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    return dg.Definitions.merge(
        resources.build_defs(settings),
        assets.defs,
        checks.defs,
        jobs.defs,
        sensors.defs,
        # Steps share one process, so a run that cleans and answers starts Spark once.
        dg.Definitions(executor=dg.in_process_executor),
    )


defs = build_definitions()
