from pinterest_assets.lib.domains import DATA_PLATFORM, domain_definitions

from .assets import cleaned_tables

defs = domain_definitions(DATA_PLATFORM, [cleaned_tables])
