"""Item enrichment: a short description, keywords and attributes for every curated item.

The LLM budget goes to cold and long-tail items first (fewest interactions, newest
first): they are the ones whose behaviour signal is too weak for the recommender.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from recaug import io
from recaug.augment import outputs, prompts
from recaug.augment.runner import GenerationRunner, TaskStats

if TYPE_CHECKING:
    import pandas as pd

    from recaug.augment.inputs import AugmentInputs

log = logging.getLogger(__name__)

COLUMNS = ["item_id", "description", "keywords", "attributes_json", "backend", "model_id", "prompt_version",
           "content_hash", "fallback", "deferred"]


def item_priority(items: "pd.DataFrame", interactions: "pd.DataFrame") -> list[int]:
    """Row positions of `items`, cold and long-tail first: fewest interactions, newest, id."""
    import pandas as pd

    counts = interactions["item_id"].value_counts()
    order = pd.DataFrame({
        "n": items["item_id"].map(counts).fillna(0).to_numpy(),
        "first_seen": items["first_seen"].to_numpy(),
        "item_id": items["item_id"].to_numpy(),
    })
    order = order.sort_values(["n", "first_seen", "item_id"], ascending=[True, False, True], na_position="last")
    return order.index.tolist()


def enrich_items(settings, inputs: "AugmentInputs", runner: GenerationRunner) -> tuple["pd.DataFrame", TaskStats]:
    """The item_enrichment table (one row per curated item) and the task's statistics."""
    import pandas as pd

    cfg = settings.augment
    items = inputs.items.reset_index(drop=True)
    order = item_priority(items, inputs.interactions)
    records = items.to_dict("records")
    requests = [prompts.item_prompt(prompts.item_fields(records[i]), cfg.attribute_keys) for i in order]

    def parse(text, prompt, from_model):
        return outputs.parse_item(text, cfg.max_description_chars, cfg.max_keywords, cfg.attribute_keys, from_model)

    results, stats = runner.run("item", requests, cfg.prompts.item, cfg.max_items_per_run, parse)
    rows = [
        {
            "item_id": records[i]["item_id"],
            "description": r.value.description,
            "keywords": "|".join(r.value.keywords),
            "attributes_json": json.dumps(r.value.attributes, sort_keys=True),
            "backend": r.backend,
            "model_id": r.model_id,
            "prompt_version": cfg.prompts.item,
            "content_hash": r.key,
            "fallback": r.fallback,
            "deferred": r.deferred,
        }
        for i, r in zip(order, results)
    ]
    table = pd.DataFrame(rows, columns=COLUMNS).sort_values("item_id", kind="stable").reset_index(drop=True)
    return _typed(table), stats


def _typed(table: "pd.DataFrame") -> "pd.DataFrame":
    for column in COLUMNS:
        table[column] = table[column].astype("bool" if column in ("fallback", "deferred") else "string")
    return table


def write_enrichment(settings, table: "pd.DataFrame") -> str:
    url = settings.lake.url("augment", "item_enrichment.parquet")
    io.write_parquet(table, url)
    return url
