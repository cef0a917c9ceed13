"""Declarative automation for the cleaned and analytics assets (running by default).

Their `AutomationCondition.eager()` requests a refresh whenever an upstream asset (a landing
of raw events, then a cleaned table) was updated; this sensor evaluates those conditions.
"""

import dagster as dg

from ..assets import ANALYTICS_GROUP, CURATED_GROUP

AUTOMATION_INTERVAL_S = 30

curated_and_analytics_automation = dg.AutomationConditionSensorDefinition(
    "curated_and_analytics_automation",
    target=dg.AssetSelection.groups(CURATED_GROUP, ANALYTICS_GROUP),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=AUTOMATION_INTERVAL_S,
    description="Refreshes the cleaned tables after new raw landings, and the analytics after the cleaned tables.",
)
