from pinterest_assets.lib.domains import DATA_PLATFORM, domain_definitions

from .assets import RAW_EVENTS
from .checks import RAW_EVENTS_CHECKS
from .jobs import LANDING_JOBS
from .sensors import DRAIN_SENSORS

defs = domain_definitions(
    DATA_PLATFORM, RAW_EVENTS, asset_checks=RAW_EVENTS_CHECKS, jobs=list(LANDING_JOBS.values()), sensors=DRAIN_SENSORS
)
