from pinterest_assets.lib.domains import ANALYTICS, domain_definitions

from .assets import analytics_tables
from .jobs import REFRESH_JOB
from .sensors import refresh_on_new_raw_data

defs = domain_definitions(ANALYTICS, [analytics_tables], jobs=[REFRESH_JOB], sensors=[refresh_on_new_raw_data])
