"""Full-ranking evaluation of any `Recommender`, and the `recaug evaluate` stage.

Every case scores the whole catalogue; the user's history and the padding index are
masked; metrics come for all cases and for two slices: cold items (the target had fewer
than `cold_item_threshold` fitted interactions) and cold users (fewer than
`cold_user_threshold` events of history).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
from pydantic import BaseModel

from recaug import io
from recaug.errors import RecaugError
from recaug.train.dataset import EvalCases, SequenceData
from recaug.train.metrics import summarize, target_ranks

log = logging.getLogger(__name__)

PROGRESS_SECONDS = 60.0  # a progress line this often while ranking many cases


class EvaluationResult(BaseModel):
    artifact_dir: str
    split: str
    valid: dict[str, Any]
    test: dict[str, Any]
    metrics_path: str
    plots: list[str] = []
    mmr: dict[str, Any] | None = None  # the diversity trade-off and the default weight (recaug.train.diversity)


def masked_scores(recommender, cases: EvalCases, config, max_length: int, device=None,
                  data: SequenceData | None = None):
    """Yields (rows, scores [B, N+1], targets [B]) per batch of cases: the whole catalogue scored,
    the padding index and each user's history at -inf (what a served top-K never shows). With
    `data`, a model with a user tower also reads the cases' user features."""
    import torch

    device = device or torch.device("cpu")
    was_training = getattr(recommender, "training", False)
    if was_training:
        recommender.eval()
    users = user_inputs(recommender, data) if data is not None else None
    user_rows = data.user_features.rows_at(cases.users, cases.now) if users is not None else None
    try:
        with torch.inference_mode():
            for rows, history, times, now, targets, seen in cases.batches(config.eval_batch_size, max_length,
                                                                               recommender.padding_invariant):
                extra = {"user": users.take(user_rows[rows]).to(device)} if users is not None else {}
                scores = recommender.score(torch.from_numpy(history).to(device), torch.from_numpy(times).to(device),
                                           torch.from_numpy(now).to(device), **extra).float()
                scores = scores.clone()
                scores[:, 0] = float("-inf")
                scores.scatter_(1, torch.from_numpy(seen).to(device), float("-inf"))
                yield rows, scores, torch.from_numpy(targets).to(device)
    finally:
        if was_training:
            recommender.train()


def evaluate_recommender(recommender, cases: EvalCases, data: SequenceData, config, max_length: int,
                         device=None) -> dict[str, Any]:
    """-> {"overall": {...}, "cold_items": {...}, "cold_users": {...}} for these cases."""
    import torch

    ks = sorted(config.ks)
    if len(cases) == 0:
        return {"overall": {"cases": 0}, "cold_items": {"cases": 0}, "cold_users": {"cases": 0}}
    ranks_all = np.zeros(len(cases), dtype=np.int64)
    tops_all = np.zeros((len(cases), max(ks)), dtype=np.int64)
    started = last_progress = time.perf_counter()
    done = 0
    for rows, scores, targets in masked_scores(recommender, cases, config, max_length, device, data):
        ranks_all[rows] = target_ranks(scores, targets)
        tops_all[rows] = torch.topk(scores, max(ks), dim=1).indices.cpu().numpy()
        done += len(rows)
        if time.perf_counter() - last_progress >= PROGRESS_SECONDS:  # minutes at 100k cases x 50k items
            last_progress = time.perf_counter()
            rate = done / (last_progress - started)
            log.info("%s: ranked all %d items for %d of %d cases, %.0f cases/s, about %.0f s left",
                     getattr(recommender, "name", type(recommender).__name__), data.num_items, done, len(cases),
                     rate, (len(cases) - done) / rate)
    embeddings = data.text if data.text.shape[1] else None
    cold_items = data.train_counts[cases.targets] < config.cold_item_threshold
    cold_users = np.array([len(h) for h in cases.histories]) < config.cold_user_threshold

    def slice_metrics(rows: np.ndarray) -> dict[str, float]:
        return summarize(ranks_all[rows], tops_all[rows], ks, data.num_items, data.train_counts, embeddings)

    return {
        "overall": slice_metrics(np.ones(len(cases), dtype=bool)),
        "cold_items": slice_metrics(cold_items),
        "cold_users": slice_metrics(cold_users),
    }


def user_inputs(recommender, data: SequenceData):
    """The tower inputs of every row of `data.user_features` (a user as known from a time on),
    encoded with the recommender's own codes; None when it has no user tower or the data no
    user features."""
    spec = getattr(recommender, "user_spec", None)
    if spec is None or data.user_features is None:
        return None
    return spec.encode(data.user_features.frame)


class VocabularyAdapter:
    """Scores a model trained on another item vocabulary in this data's index space:
    histories are mapped into the model's indices (unknown items become padding) and items
    the model never saw score -inf. Lets the gate compare a champion on new data."""

    def __init__(self, model, model_vocab: list[str | None], data_vocab: list[str | None]):
        import torch

        position = {item: i for i, item in enumerate(model_vocab) if item is not None}
        self.model = model
        self.to_model = torch.tensor([position.get(item, 0) if item is not None else 0 for item in data_vocab])
        self.known = self.to_model > 0
        self.training = False
        self.padding_invariant = model.padding_invariant
        self.user_spec = getattr(model, "user_spec", None)

    def eval(self):
        self.model.eval()

    def score(self, history, timestamps, now, user=None):
        import torch

        mapped = self.to_model.to(history.device)[history]
        timestamps = torch.where(mapped > 0, timestamps, torch.zeros_like(timestamps))
        model_scores = self.model.score(mapped, timestamps, now, user) if user is not None \
            else self.model.score(mapped, timestamps, now)
        scores = model_scores[:, self.to_model.to(history.device)]
        return torch.where(self.known.to(history.device), scores, torch.full_like(scores, float("-inf")))


def recommender_for(model, model_vocab: list[str | None], data: SequenceData):
    return model if model_vocab == data.vocab else VocabularyAdapter(model, model_vocab, data.vocab)


def fit_baselines(data: SequenceData) -> dict[str, Any]:
    """The non-neural baselines, fitted on the same training events, for the report's comparison."""
    from recaug.models.item_knn import ItemKNN
    from recaug.models.most_pop import MostPop
    from recaug.models.text_similarity import TextSimilarity

    baselines = {"MostPop": MostPop.fit(data), "ItemKNN": ItemKNN.fit(data)}
    if data.text.shape[1]:
        baselines["Text similarity"] = TextSimilarity.fit(data)
    return baselines


def evaluate(settings, artifact_dir: str | None = None) -> EvaluationResult:
    """Re-evaluate a saved model on the lake's current data; writes metrics.json and plots."""
    from recaug.models.artifact import METRICS_FILE, load_artifact
    from recaug.train.diversity import candidates_served, mmr_curve
    from recaug.train.plots import plot_metric_bars
    from recaug.train.loop import select_device
    from recaug.train.run import data_versions, fingerprint, load_sequences, resolve_artifact_dir

    artifact_dir = resolve_artifact_dir(settings, artifact_dir)
    model, vocab, params = load_artifact(artifact_dir)
    data = load_sequences(settings)
    device = select_device(settings.train.device)
    model.to(device)
    recommender = recommender_for(model, vocab, data)
    max_length = model.config.max_length
    metrics_url = io.join(artifact_dir, METRICS_FILE)
    previous = io.read_json(metrics_url) if io.exists(metrics_url) else {}
    if params.get("fingerprint") == fingerprint(settings, data_versions(settings)) and \
            all(key in previous for key in ("valid", "test", "mmr")):
        log.info("%s was trained on exactly these data and settings: keeping the validation, test and MMR metrics "
                 "its training computed, ranking the baselines", artifact_dir)
        valid, test, mmr = previous["valid"], previous["test"], previous["mmr"]
    else:
        valid = evaluate_recommender(recommender, data.valid, data, settings.train, max_length, device)
        test = evaluate_recommender(recommender, data.test, data, settings.train, max_length, device)
        mmr = mmr_curve(recommender, data, settings.train, max_length, candidates_served(settings), device)
    baselines = {name: {"test": evaluate_recommender(baseline, data.test, data, settings.train, max_length, device)}
                 for name, baseline in fit_baselines(data).items()}
    metrics = {**previous, "split": data.split, "valid": valid, "test": test, "mmr": mmr, "baselines": baselines}
    io.write_json(metrics_url, metrics)
    plots = []
    if io.is_local(artifact_dir):
        plots.append(plot_metric_bars({params["model_type"]: test}, io.join(artifact_dir, "test_metrics.png")))
    log.info("evaluated %s: valid ndcg@10 %.4f, test ndcg@10 %.4f, test hr@10 %.4f", artifact_dir,
             valid["overall"].get("ndcg@10", float("nan")), test["overall"].get("ndcg@10", float("nan")),
             test["overall"].get("hr@10", float("nan")))
    return EvaluationResult(artifact_dir=artifact_dir, split=data.split, valid=valid, test=test,
                            metrics_path=metrics_url, plots=plots, mmr=mmr)


def markdown_table(rows: dict[str, dict[str, Any]], columns: list[str]) -> str:
    """rows: name -> flat metrics; values formatted to 4 decimals, missing as '-'."""
    lines = ["| model | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    for name, values in rows.items():
        cells = []
        for column in columns:
            value = values.get(column)
            cells.append("-" if value is None else (f"{value:.4f}" if isinstance(value, float) else str(value)))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def require_cases(cases: EvalCases, what: str) -> None:
    if len(cases) == 0:
        raise RecaugError(f"no {what} cases: every user needs at least 3 events (leave-one-out) "
                          "or events on both sides of the temporal cut")
