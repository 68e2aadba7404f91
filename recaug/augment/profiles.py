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
    ordered sparsest first, then most recently active, then id."""
    import pandas as pd

    item_rows = inputs.item_rows()
    rows = []
    for user_id, events in inputs.interactions.groupby("user_id", sort=True):
        recent = events.tail(length)
        history = [prompts.item_brief(i, item_rows.get(i), t) for i, t in zip(recent["item_id"], recent["timestamp"])]
        rows.append({
            "user_id": user_id, "n_events": len(events), "last_event": events["timestamp"].iloc[-1],
            "history": history, "items": events["item_id"].tolist(),
        })
    table = pd.DataFrame(rows, columns=["user_id", "n_events", "last_event", "history", "items"])
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
