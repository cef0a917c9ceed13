"""The analytics previews: a metadata table of the first rows, and a PNG bar chart."""

import base64
import struct
from decimal import Decimal

import dagster as dg

from pinterest_assets.lib.queries.previews import bar_chart_png, chart_markdown, preview_table

COLUMNS = ["country", "category", "category_count"]
ROWS = [("Aruba", "travel", 3), ("Chad", "art", 12), ("Peru", "diy", Decimal("7"))]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_size(png: bytes) -> tuple[int, int]:
    """Width and height from the PNG's IHDR chunk."""
    return struct.unpack(">II", png[16:24])


def test_the_preview_is_a_metadata_table_of_the_first_rows():
    value = preview_table(COLUMNS, ROWS * 10, limit=5)
    assert isinstance(value, dg.TableMetadataValue)
    assert len(value.records) == 5
    assert value.records[0].data == {"country": "Aruba", "category": "travel", "category_count": 3}
    assert value.records[2].data["category_count"] == 7.0  # a Decimal becomes a float a cell can hold
    assert [c.name for c in value.schema.columns] == COLUMNS
    assert preview_table(COLUMNS, []).records == []  # an empty answer is an empty table


def test_the_chart_is_a_png_with_one_bar_per_row_up_to_the_limit():
    few, many = bar_chart_png(COLUMNS, ROWS), bar_chart_png(COLUMNS, [(f"c{i}", "x", i) for i in range(40)], limit=20)
    assert few is not None and many is not None
    assert few.startswith(PNG_SIGNATURE) and many.startswith(PNG_SIGNATURE)
    assert _png_size(many)[1] > _png_size(few)[1]  # taller with more bars


def test_the_chart_is_embedded_as_a_data_uri_and_says_so_when_there_is_nothing_to_draw():
    markdown = chart_markdown(COLUMNS, ROWS).value
    encoded = markdown.split("data:image/png;base64,", 1)[1].rstrip(")")
    assert base64.b64decode(encoded).startswith(PNG_SIGNATURE)
    assert chart_markdown(COLUMNS, [("Aruba", "travel", None)]).value == "_no data_"
