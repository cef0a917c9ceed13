"""Where each layer of the lake lives in its bucket: the one home of the layout.

raw/<event type>/dt=<day>/<topic>+p<partition>+o<first>+o<last>.jsonl.gz   the drain's objects
cleaned/<table>/version=<version>/part-*.parquet                           the cleaned tables,
cleaned/<table>/_state.json                                                 their quarantines
analytics/<question>/...                                                    the answers
"""

RAW_PREFIX = "raw"
CLEANED_PREFIX = "cleaned"
ANALYTICS_PREFIX = "analytics"
RAW_OBJECT_SUFFIX = ".jsonl.gz"
