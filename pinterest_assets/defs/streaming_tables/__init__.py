from pinterest_assets.lib.domains import STREAMING, domain_definitions

from .assets import STREAMING_ASSETS
from .checks import STREAMING_CHECKS
from .jobs import OBSERVE_STREAMING_JOB
from .sensors import streaming_observation_sensor

defs = domain_definitions(
    STREAMING,
    STREAMING_ASSETS,
    asset_checks=STREAMING_CHECKS,
    jobs=[OBSERVE_STREAMING_JOB],
    sensors=[streaming_observation_sensor],
)
