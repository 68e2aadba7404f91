"""Cold-item boost: after training, chosen on the validation cases.

Full-catalogue training learns rare items through their ID embeddings: an item seen
three times is predicted from those three contexts, which say little about the next
user who finds it. On new events such items rank far below where their text places
them (ml-latest-small, seed 42: cold test targets at geometric-mean rank ~1250 in our
model, ~870 by the text-similarity baseline), and the training-time changes tried made
it worse (leaving a target's own event out of its count: rank ~1580; content-only
vectors for items under 5 events: ~1290 and no cold hits; ID dropout 0.3: cold-item
HR@10 .019).

So the model's text channel carries a boost for items under `cold_item_threshold`
fitted events: `bias + similarity * cos(history text profile, item text)` added to
their scores. It is picked on a small grid with the validation cases only: the
candidates may cost at most `cold_boost_max_ndcg_loss` of validation NDCG@10; among
them, the best validation NDCG@10 of those whose cold-item HR@10 reaches the reference
(the text-similarity baseline's on the same cases, or a number), else the best
cold-item HR@10. The test cases never take part; the choice and every candidate's
validation numbers are recorded with the model.
"""

from __future__ import annotations

import logging
from typing import Any

from recaug.train.dataset import SequenceData

log = logging.getLogger(__name__)

BIASES = (0.0, 0.5, 1.0, 1.5, 2.0)  # score units; scores of a trained model spread with std ~2.3
SIMILARITIES = (0.0, 1.0, 2.0, 3.0, 4.0)  # x cos(profile, text) in [-1, 1]


def supports_cold_boost(model) -> bool:
    return getattr(model, "text_channel", None) is not None


def reference_cold_recall(config, data: SequenceData, max_length: int, device) -> float | None:
    """The cold-item HR@10 the boost aims for on the validation cases (None = no reference)."""
    from recaug.train.evaluate import evaluate_recommender

    if config.cold_boost_reference != "text_similarity":
        return float(config.cold_boost_reference)
    if not data.text.shape[1]:
        return None
    from recaug.models.text_similarity import TextSimilarity

    cold = evaluate_recommender(TextSimilarity.fit(data), data.valid, data, config, max_length, device)["cold_items"]
    return cold.get("hr@10")


def calibrate_cold_boost(model, data: SequenceData, config, device=None) -> dict[str, Any] | None:
    """Set the model's cold-item boost from the validation cases; returns what was chosen and why
    (None when the model has no text channel, the boost is off or no validation target is cold)."""
    from recaug.train.evaluate import evaluate_recommender

    if config.cold_boost == "off" or not supports_cold_boost(model):
        return None
    if not (data.train_counts[data.valid.targets] < config.cold_item_threshold).any():
        log.info("no cold-item boost: no validation target has fewer than %d fitted events to choose it on",
                 config.cold_item_threshold)
        return None
    max_length = model.config.max_length
    channel = model.text_channel
    reference = reference_cold_recall(config, data, max_length, device)
    fixed_users = FixedUserVectors(model)
    candidates = []
    for bias in BIASES:
        for similarity in SIMILARITIES:
            channel.set_cold_boost(config.cold_item_threshold, bias, similarity)
            valid = evaluate_recommender(fixed_users, data.valid, data, config, max_length, device)
            candidates.append({"bias": bias, "similarity": similarity,
                               "valid_ndcg@10": valid["overall"].get("ndcg@10", 0.0),
                               "valid_cold_hr@10": valid["cold_items"].get("hr@10", 0.0)})
    chosen = choose_boost(candidates, reference, config.cold_boost_max_ndcg_loss)
    channel.set_cold_boost(config.cold_item_threshold, chosen["bias"], chosen["similarity"])
    none = candidates[0]
    log.info("cold-item boost for items under %d fitted events: bias %.1f, similarity weight %.1f; validation "
             "NDCG@10 %.4f -> %.4f, cold-item HR@10 %.4f -> %.4f (reference %s)", config.cold_item_threshold,
             chosen["bias"], chosen["similarity"], none["valid_ndcg@10"], chosen["valid_ndcg@10"],
             none["valid_cold_hr@10"], chosen["valid_cold_hr@10"], "none" if reference is None else f"{reference:.4f}")
    return {"cold_count": config.cold_item_threshold, **chosen, "reference_cold_hr@10": reference,
            "max_ndcg_loss": config.cold_boost_max_ndcg_loss, "candidates": candidates}


def choose_boost(candidates: list[dict[str, float]], reference: float | None, max_ndcg_loss: float) -> dict[str, float]:
    """candidates[0] is no boost. Within the NDCG budget: the best NDCG among those reaching the
    reference cold-item HR@10, else the best cold-item HR@10 (ties: better NDCG, then the earlier,
    smaller boost)."""
    floor = (1.0 - max_ndcg_loss) * candidates[0]["valid_ndcg@10"]
    allowed = [c for c in candidates if c["valid_ndcg@10"] >= floor] or candidates[:1]
    reaching = [c for c in allowed if reference is not None and c["valid_cold_hr@10"] >= reference]
    if reaching:
        return max(reaching, key=lambda c: c["valid_ndcg@10"])
    return max(allowed, key=lambda c: (c["valid_cold_hr@10"], c["valid_ndcg@10"]))


class FixedUserVectors:
    """Scores like `model`, computing each batch's user vectors once: the boost changes item
    columns only, so the 25 candidates share one pass of the transformer."""

    def __init__(self, model):
        self.model = model
        self.padding_invariant = model.padding_invariant
        self.user_spec = model.user_spec
        self.user_vectors: dict[bytes, object] = {}

    def score(self, history, timestamps, now, user=None):
        tensors = (history, timestamps, now) + ((user.categorical, user.numeric, user.profile) if user is not None else ())
        key = repr(tuple(history.shape)).encode() + b"".join(t.cpu().numpy().tobytes() for t in tensors)
        if key not in self.user_vectors:
            self.user_vectors[key] = self.model.user_vector(history, timestamps, now, user)
        return self.user_vectors[key] @ self.model.item_matrix().T
