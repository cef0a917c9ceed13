from pinterest_assets.lib.domains import STREAMING, domain_definitions

from .agreement import STREAMING_AGREEMENT_JOB, streaming_agreement
from .assets import STREAMING_ASSETS
from .checks import STREAMING_CHECKS
from .jobs import OBSERVE_STREAMING_JOB
from .sensors import streaming_observation_sensor

defs = domain_definitions(
    STREAMING,
    STREAMING_ASSETS,
    asset_checks=[*STREAMING_CHECKS, streaming_agreement],
    jobs=[OBSERVE_STREAMING_JOB, STREAMING_AGREEMENT_JOB],
    sensors=[streaming_observation_sensor],
)
