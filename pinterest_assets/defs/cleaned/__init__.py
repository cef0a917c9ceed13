import dagster as dg

from .assets import cleaned_tables

defs = dg.Definitions(assets=[cleaned_tables])
