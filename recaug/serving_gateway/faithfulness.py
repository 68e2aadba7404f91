"""Are the explanations faithful? Remove the cited history event and score the item again.

For each user, the served model.onnx (the file Triton runs) answers the user's history as the
gateway sends it; for each recommended item, the history event the gateway would cite
(recaug.serving_gateway.explain.cite) is removed and the model is run again. The item's
score is `user_vector @ item_matrix[item]`, with the user vector from the ONNX graph and the
item matrix from the artifact's torch model (checked against the graph's own top scores).
An explanation is faithful when the score drops. The same is measured for a random event
the model reads and for the newest event, the obvious alternatives to citing anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    import numpy as np

CITED, RANDOM, NEWEST = "cited", "random_event", "newest_event"
METHODS = (CITED, RANDOM, NEWEST)


@dataclass(frozen=True)
class UserHistory:
    user_id: str
    item_ids: list[str]  # oldest first
    timestamps: list[int]  # Unix seconds
    now: int  # request time


@dataclass
class MethodResult:
    cases: int = 0
    dropped: int = 0  # the item's score went down
    rank_worse: int = 0  # the item's rank among unseen items went down
    score_drops: list[float] = field(default_factory=list)
    rank_changes: list[int] = field(default_factory=list)  # rank after - rank before (positive: worse)

    def summary(self) -> dict:
        import numpy as np

        return {"cases": self.cases, "score_dropped_fraction": self.dropped / self.cases if self.cases else None,
                "rank_worse_fraction": self.rank_worse / self.cases if self.cases else None,
                "mean_score_drop": float(np.mean(self.score_drops)) if self.score_drops else None,
                "median_rank_change": float(np.median(self.rank_changes)) if self.rank_changes else None}


def measure(artifact_dir: str, users: Sequence[UserHistory], k: int, seed: int = 0) -> dict:
    """Per method, the fraction of (user, recommended item) cases whose score drops when the
    chosen event is removed, and how the rank moves; plus how many items had a citation."""
    import numpy as np
    import onnxruntime as ort
    import torch

    from recaug import io
    from recaug.export.evidence import read_evidence
    from recaug.models.artifact import load_artifact
    from recaug.serving_gateway.explain import cite

    evidence = read_evidence(artifact_dir)
    if evidence is None:
        raise ValueError(f"{artifact_dir}: no explanation evidence; run `recaug export` on it")
    model, vocab, _ = load_artifact(artifact_dir)
    with torch.inference_mode():
        matrix = model.item_matrix().numpy().astype(np.float64)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(io.join(artifact_dir, "model.onnx"), options, providers=["CPUExecutionProvider"])
    index = {item: i for i, item in enumerate(vocab) if item is not None}
    rng = np.random.default_rng(seed)
    results = {method: MethodResult() for method in METHODS}
    candidates_seen = cited_count = 0
    for user in users:
        pairs = [(item, index[item], int(t)) for item, t in zip(user.item_ids, user.timestamps) if item in index]
        if len(pairs) < 2:
            continue
        rows = np.asarray([p[1] for p in pairs], dtype=np.int64)
        times = np.asarray([p[2] for p in pairs], dtype=np.int64)
        top_ids, top_scores, vector = _run(session, rows[None], times[None], user.now)
        answered = np.isfinite(top_scores[0]) & ~np.isin(top_ids[0], rows)  # what the gateway keeps
        ids, scores = top_ids[0][answered][:k], top_scores[0][answered][:k]
        if not np.allclose(vector[0] @ matrix[ids].T, scores, rtol=1e-4, atol=1e-3):
            raise AssertionError(f"{artifact_dir}: the torch item matrix does not reproduce model.onnx's top scores")
        window = min(len(pairs), evidence.max_length)
        positions = {}  # method -> per candidate: position in `pairs` to remove (None: no citation)
        citations = cite(evidence, [(p[0], p[1]) for p in pairs], ids.tolist())
        positions[CITED] = [None if c is None else len(pairs) - 1 - c.steps_back for c in citations]
        positions[RANDOM] = [len(pairs) - 1 - int(rng.integers(window)) for _ in ids]
        positions[NEWEST] = [len(pairs) - 1 for _ in ids]
        candidates_seen += len(ids)
        cited_count += sum(c is not None for c in citations)
        removed = sorted({p for chosen in positions.values() for p in chosen if p is not None})
        keep = [np.delete(np.arange(len(pairs)), p) for p in removed]
        _, _, vectors = _run(session, rows[keep], times[keep], user.now)
        after_by_position = dict(zip(removed, vectors @ matrix.T))
        before = vector[0] @ matrix.T
        unseen = np.ones(len(vocab), dtype=bool)
        unseen[0] = False
        unseen[rows] = False
        for method, chosen in positions.items():
            for item, position in zip(ids.tolist(), chosen):
                if position is None:
                    continue
                after = after_by_position[position]
                result = results[method]
                result.cases += 1
                result.dropped += bool(after[item] < before[item])
                result.score_drops.append(float(before[item] - after[item]))
                change = _rank(after, unseen, item) - _rank(before, unseen, item)
                result.rank_changes.append(change)
                result.rank_worse += change > 0
    summary = {method: result.summary() for method, result in results.items()}
    summary["items"] = candidates_seen
    summary["items_with_citation"] = cited_count
    return summary


def _run(session, history: "np.ndarray", timestamps: "np.ndarray", now: int):
    import numpy as np

    return session.run(["top_ids", "top_scores", "user_vector"], {
        "history": history, "timestamps": timestamps, "now": np.full((history.shape[0],), now, dtype=np.int64)})


def _rank(scores: "np.ndarray", unseen: "np.ndarray", item: int) -> int:
    """1 + the number of unseen items scoring above `item`."""
    return 1 + int((scores[unseen] > scores[item]).sum())
