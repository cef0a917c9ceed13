"""Every asset of the code location names its owner (its domain's team), and every asset with
code behind it points at that code."""

from pinterest_assets.definitions import build_definitions
from pinterest_assets.lib.domains import ANALYTICS, DATA_PLATFORM, INGESTION, STREAMING

OWNER_OF_GROUP = {
    "kafka": INGESTION,
    "raw_lake": DATA_PLATFORM,
    "cleaned": DATA_PLATFORM,
    "analytics": ANALYTICS,
    "streaming": STREAMING,
}


def test_every_asset_has_its_domains_owner_and_the_materialised_ones_a_code_reference():
    graph = build_definitions().resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.owners == [OWNER_OF_GROUP[node.group_name]], key
        if node.is_materializable or node.is_observable:
            references = node.metadata["dagster/code_references"].code_references
            assert references and all(ref.file_path.endswith(".py") for ref in references), key
