"""The text each item and user is embedded from.

Items: title, description, tags and categories from the catalogue, plus the LLM
enrichment (description, keywords) when the augment stage produced it. Users: the
LLM-written profile only: a template profile (budget spent, or the template backend)
lists the user's recent item titles, which the model already reads from the history,
and embedding one per user made this stage grow with the user count. Missing fields are left out, so an item's text changes (and is
re-embedded) exactly when one of its fields does.
"""

from __future__ import annotations

import pandas as pd

from recaug.data.schemas import MULTI_VALUE_SEPARATOR


def _clean(value) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return ""
    return " ".join(str(value).split())


def _listed(value) -> str:
    parts = [p.strip() for p in _clean(value).split(MULTI_VALUE_SEPARATOR)]
    return ", ".join(p for p in parts if p)


def item_text(title, description=None, tags=None, categories=None, llm_description=None, keywords=None) -> str:
    parts = [_clean(title), _clean(description)]
    if _listed(categories):
        parts.append(f"Categories: {_listed(categories)}")
    if _listed(tags):
        parts.append(f"Tags: {_listed(tags)}")
    parts.append(_clean(llm_description))
    if _listed(keywords):
        parts.append(f"Keywords: {_listed(keywords)}")
    return ". ".join(p.rstrip(".") for p in parts if p)


def item_texts(items: pd.DataFrame, enrichment: pd.DataFrame | None) -> pd.DataFrame:
    """[item_id, text] for every catalogue item (enrichment joined by item_id when given)."""
    frame = items[["item_id", "title"] + [c for c in ("description", "tags", "categories") if c in items]].copy()
    if enrichment is not None and len(enrichment):
        extra = enrichment[["item_id", "description", "keywords"]].rename(columns={"description": "llm_description"})
        extra = extra.astype({"item_id": "string"}).drop_duplicates("item_id", keep="last")
        frame = frame.merge(extra, on="item_id", how="left")
    texts = [
        item_text(row.get("title"), row.get("description"), row.get("tags"), row.get("categories"),
                  row.get("llm_description"), row.get("keywords"))
        for row in frame.to_dict("records")
    ]
    return pd.DataFrame({"item_id": frame["item_id"].astype(str).to_numpy(), "text": texts})


TEMPLATE_BACKEND = "template"


def user_texts(profiles: pd.DataFrame) -> pd.DataFrame:
    """[user_id, text] from the LLM user profiles (rows whose `backend` is the template are left out)."""
    if "backend" in profiles:
        profiles = profiles[profiles["backend"].astype("string").fillna("") != TEMPLATE_BACKEND]
    return pd.DataFrame({
        "user_id": profiles["user_id"].astype(str).to_numpy(),
        "text": [_clean(p) for p in profiles["profile"]],
    })
