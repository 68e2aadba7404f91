"""User profiles: a short text summary of each user's recent history (titles, categories, dates).

The LLM budget goes to the sparsest users first (their profile carries the most signal
the interactions lack), then to the most recently active.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from recaug import io
from recaug.augment import outputs, prompts
from recaug.augment.runner import GenerationRunner, TaskStats

if TYPE_CHECKING:
    import pandas as pd

    from recaug.augment.inputs import AugmentInputs

COLUMNS = ["user_id", "profile", "backend", "model_id", "prompt_version", "content_hash", "fallback", "deferred"]


def user_histories(inputs: "AugmentInputs", length: int) -> "pd.DataFrame":
    """One row per user: n_events, last event time and the last `length` events as briefs,
    ordered sparsest first, then most recently active, then id.

    Grouped once over the whole table and each item's brief built once: a Python pass per
    user made augmentation (even with an LLM budget of 0) the slowest stage at 1M events.
    """
    import numpy as np
    import pandas as pd

    events = inputs.interactions.sort_values(["user_id"], kind="stable")  # sorted by time within a user already
    columns = ["user_id", "n_events", "last_event", "history", "items"]
    if events.empty:
        return pd.DataFrame({c: [] for c in columns})
    grouped = events.groupby("user_id", sort=True)
    table = grouped.agg(n_events=("item_id", "size"), last_event=("timestamp", "last")).reset_index()
    table["n_events"] = table["n_events"].astype(int)
    table["items"] = grouped["item_id"].agg(list).to_numpy()
    recent = grouped.tail(length)
    item_rows = inputs.item_rows()
    briefs = {i: prompts.item_brief(i, item_rows.get(i)) for i in recent["item_id"].unique()}
    dates = recent["timestamp"].dt.strftime("%Y-%m-%d").tolist()
    history = [{**briefs[i], "date": d} for i, d in zip(recent["item_id"].tolist(), dates)]
    ends = np.cumsum(recent.groupby("user_id", sort=True).size().reindex(table["user_id"]).to_numpy())
    starts = np.concatenate([[0], ends[:-1]])
    table["history"] = [history[s:e] for s, e in zip(starts, ends)]
    table = table[columns]
    return table.sort_values(["n_events", "last_event", "user_id"], ascending=[True, False, True]).reset_index(drop=True)


def build_profiles(settings, inputs: "AugmentInputs", runner: GenerationRunner) -> tuple["pd.DataFrame", TaskStats]:
    """The user_profiles table (one row per user with observed events) and the task's statistics."""
    import pandas as pd

    cfg = settings.augment
    users = user_histories(inputs, cfg.profile_history)
    shape = runner.privacy.shape("profile")
    requests = [prompts.profile_prompt(h, shape, runner.privacy.subject(u)) for u, h in zip(users["user_id"], users["history"])]

    def parse(text, prompt, from_model):
        return outputs.parse_profile(text, cfg.max_profile_chars, from_model)

    results, stats = runner.run("profile", requests, cfg.prompts.profile, cfg.max_profiles_per_run, parse)
    table = pd.DataFrame(
        [
            {
                "user_id": user_id, "profile": r.value.profile, "backend": r.backend, "model_id": r.model_id,
                "prompt_version": cfg.prompts.profile, "content_hash": r.key, "fallback": r.fallback,
                "deferred": r.deferred,
            }
            for user_id, r in zip(users["user_id"], results)
        ],
        columns=COLUMNS,
    ).sort_values("user_id", kind="stable").reset_index(drop=True)
    for column in COLUMNS:
        table[column] = table[column].astype("bool" if column in ("fallback", "deferred") else "string")
    return table, stats


def write_profiles(settings, table: "pd.DataFrame") -> str:
    url = settings.lake.url("augment", "user_profiles.parquet")
    io.write_parquet(table, url)
    return url
