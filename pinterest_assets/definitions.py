"""The code location: `dagster dev -w workspace.yaml` (or plain `dagster dev`) loads `defs`.

Each domain under `defs/` contributes its own Definitions; the resources come from
pinterest_common.config (`build_definitions(settings)` builds them for other settings, e.g. a
test stack).
"""

import dagster as dg

from pinterest_common.config import Settings

from . import resources
from .defs import analytics, cleaned, kafka_topics, raw_lake, streaming_tables

DOMAINS = (kafka_topics, raw_lake, cleaned, analytics, streaming_tables)


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    return dg.Definitions.merge(
        resources.build_defs(settings),
        *(domain.defs for domain in DOMAINS),
        # Steps share one process, so a run that cleans and answers starts Spark once.
        dg.Definitions(executor=dg.in_process_executor),
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()
