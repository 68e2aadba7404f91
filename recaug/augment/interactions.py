"""Interaction augmentation for sparse users (LLMRec's implicit-feedback augmentation).

A base retriever proposes candidates; the LLM picks the item(s) the user will likely
enjoy and one they will not (a BPR pair). Each new row is a canonical interaction with
source="augmented", the negative in `negative_item_id`, a timestamp one second after
the user's last event (so it never precedes real history) and a confidence in (0, 1]:

    confidence = w * retriever_score + (1 - w) * agreement

where agreement is 1 when the LLM chose the retriever's best candidate and falls
linearly with the rank it chose (`unjudged_agreement` when no LLM judged the pair).
Rows below `denoise.min_confidence` are dropped.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING

from pydantic import Field

from recaug import io
from recaug.augment import outputs, prompts
from recaug.augment.denoise import filter_by_confidence
from recaug.augment.profiles import user_histories
from recaug.augment.retrieval import CoOccurrenceRetriever, EmbeddingRetriever, Retriever
from recaug.augment.runner import GenerationRunner, TaskStats
from recaug.data import schemas

if TYPE_CHECKING:
    import pandas as pd

    from recaug.augment.inputs import AugmentInputs

log = logging.getLogger(__name__)

EXTRA_COLUMNS = ["negative_item_id", "backend", "model_id", "prompt_version", "fallback"]


class InteractionStats(TaskStats):
    retriever: str = Field("", description="base retriever that proposed the candidates")
    sparse_users: int = Field(0, description="users with at most sparse_max_events observed events")
    users_without_candidates: int = Field(0, description="sparse users the retriever found fewer than 2 candidates for")
    rows_before_denoise: int = 0
    dropped_low_confidence: int = 0
    rows: int = Field(0, description="augmented interactions written")


def make_retriever(settings, inputs: "AugmentInputs") -> Retriever:
    kind = settings.augment.interactions.retriever
    cooccurrence = CoOccurrenceRetriever(inputs.interactions)
    url = settings.lake.url("embeddings", "items.parquet")
    if kind == "cooccurrence" or (kind == "auto" and not io.exists(url)):
        return cooccurrence
    if not io.exists(url):
        from recaug.augment.inputs import AugmentInputError

        raise AugmentInputError(f"{url}: not found; augment.interactions.retriever=embedding needs `recaug embed` first")
    embeddings = io.read_parquet(url, columns=["item_id", "embedding"])
    return EmbeddingRetriever(embeddings, fallback=cooccurrence)


def augment_interactions(settings, inputs: "AugmentInputs", runner: GenerationRunner,
                         retriever: Retriever | None = None) -> tuple["pd.DataFrame", InteractionStats]:
    import pandas as pd

    cfg = settings.augment
    icfg = cfg.interactions
    retriever = retriever or make_retriever(settings, inputs)
    users = user_histories(inputs, cfg.profile_history)
    sparse = users[users["n_events"] <= icfg.sparse_max_events]
    item_rows = inputs.item_rows()
    requests, targets = [], []

    @functools.cache  # an item is a candidate of many users: sanitise its fields once per run
    def candidate_brief(item_id: str) -> dict[str, str]:
        return prompts.item_brief(item_id, item_rows.get(item_id))

    shape = runner.privacy.shape("pick")
    found_per_user = retriever.candidates_many(list(sparse["items"]), icfg.candidates)
    for user, found in zip(sparse.itertuples(index=False), found_per_user):
        if len(found) < 2:
            continue
        candidates = [candidate_brief(i) for i, _ in found]
        requests.append(prompts.pick_prompt(user.history, candidates, shape, runner.privacy.subject(user.user_id)))
        targets.append((user.user_id, user.last_event, found))

    def parse(text, prompt, from_model):
        return outputs.parse_pick(text, len(prompt.fields["candidates"]), icfg.positives_per_user)

    results, task_stats = runner.run("pick", requests, cfg.prompts.pick, icfg.max_users_per_run, parse)
    rows = []
    for (user_id, last_event, found), r in zip(targets, results):
        judged = r.backend != "template"
        for offset, position in enumerate(r.value.positives, start=1):
            agreement = 1.0 - position / len(found) if judged else icfg.unjudged_agreement
            score = icfg.retriever_weight * found[position][1] + (1 - icfg.retriever_weight) * agreement
            rows.append({
                "user_id": user_id, "item_id": found[position][0],
                "timestamp": last_event + pd.Timedelta(seconds=offset),
                "source": schemas.AUGMENTED, "confidence": round(min(1.0, max(1e-3, score)), 4),
                "negative_item_id": found[r.value.negative][0], "backend": r.backend, "model_id": r.model_id,
                "prompt_version": cfg.prompts.pick, "fallback": r.fallback,
            })
    table = augmented_table(rows)
    kept = filter_by_confidence(table, cfg.denoise.min_confidence)
    stats = InteractionStats(
        **task_stats.model_dump(), retriever=retriever.name, sparse_users=len(sparse),
        users_without_candidates=len(sparse) - len(requests), rows_before_denoise=len(table),
        dropped_low_confidence=len(table) - len(kept), rows=len(kept),
    )
    log.info("pick: %d sparse users, %d augmented rows kept (%d below confidence %.2f)",
             stats.sparse_users, stats.rows, stats.dropped_low_confidence, cfg.denoise.min_confidence)
    return kept, stats


def augmented_table(rows: list[dict]) -> "pd.DataFrame":
    import pandas as pd

    frame = pd.DataFrame(rows, columns=[*schemas.INTERACTIONS.names, *EXTRA_COLUMNS])
    table = schemas.conform(frame, schemas.INTERACTIONS)
    for column in EXTRA_COLUMNS:
        table[column] = frame[column].astype("bool" if column == "fallback" else "string").to_numpy()
    return table.sort_values(["user_id", "timestamp", "item_id"], kind="stable").reset_index(drop=True)


def write_interactions(settings, table: "pd.DataFrame") -> str:
    url = settings.lake.url("augment", "interactions.parquet")
    io.write_parquet(table, url)
    return url
