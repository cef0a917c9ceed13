"""A domain's Definitions: its assets with a reference to their source code and the domain's
owner on each, so the UI shows who to ask and where the code is."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import dagster as dg

# The teams of a platform like this one: the owners the UI shows on each domain's assets.
INGESTION, DATA_PLATFORM, ANALYTICS, STREAMING = (
    "team:ingestion",
    "team:data-platform",
    "team:analytics",
    "team:streaming",
)


def domain_definitions(owner: str, assets: Sequence[Any], **rest: Any) -> dg.Definitions:
    """`dg.Definitions(assets=..., **rest)`, each asset owned by `owner`, with code references."""
    owned = dg.map_asset_specs(lambda spec: spec.replace_attributes(owners=[owner]), assets)
    with warnings.catch_warnings():
        # Code references are a beta feature of this Dagster release: its warnings are about its own API.
        warnings.simplefilter("ignore", category=dg.BetaWarning)
        referenced = dg.with_source_code_references(owned)
    return dg.Definitions(assets=referenced, **rest)
