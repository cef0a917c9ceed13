import dagster as dg

from .assets import analytics_tables
from .jobs import REFRESH_JOB
from .sensors import refresh_on_new_raw_data

defs = dg.Definitions(assets=[analytics_tables], jobs=[REFRESH_JOB], sensors=[refresh_on_new_raw_data])
