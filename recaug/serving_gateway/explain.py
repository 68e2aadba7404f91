"""Why each recommended item is there: reasons computed from the served model's own evidence.

A model answer's item is explained by the history item that supports it most: the largest
recency-weighted cosine between their rows of the served item matrix (the rows the score
`user_vector @ item_matrix.T` multiplies), over the events the model reads, weighted
decay**steps_back like the model's text profile (recaug.export.evidence). For a cold item
(too few training events for its ID vector to carry it) the same is done with the text
channel's vectors, which is what scores such items. The LLM keywords the item shares with
that history item, and its popularity when it is among the most popular items, are added.
Popular answers (no usable history, or a dependency down) say so with the popularity count;
a cold user who declared attributes is told which of their segments the item is popular
with (recaug.serving_gateway.segments), its rank and count there.

Everything here is a few small matrix products and dictionary reads per request; the only
I/O is the item lookup for the cited history items' titles and keywords, which goes
through the gateway's item cache like the answer's own items.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Sequence

from pydantic import BaseModel, Field

from recaug.serving_gateway.outcomes import Unavailable

if TYPE_CHECKING:
    from recaug.export.evidence import ItemEvidence
    from recaug.features.online import ItemInfo
    from recaug.serving_gateway.segments import Segment, SegmentPick, SegmentRanking

HISTORY = "history"  # a history item supports the score
SIMILAR_NEW_ITEM = "similar_new_item"  # a cold item, scored by its text's closeness to a history item
SHARED_KEYWORDS = "shared_keywords"  # LLM enrichment keywords the item shares with the cited history item
POPULAR = "popular"  # among the most popular items of the popularity window
POPULAR_WITH_SIMILAR_USERS = "popular_with_similar_users"  # cold start: popular in the user's declared segments
MODEL_SCORE = "model_score"  # nothing above applies: ranked by the model from the recent history
POPULAR_REASON_TOP = 20  # model items this high in the popularity ranking also get a popular reason
KEYWORDS_SHOWN = 3

ItemLookup = Callable[[list[str]], Awaitable[list["ItemInfo"]]]


class Reason(BaseModel):
    kind: str = Field(description="history | similar_new_item | shared_keywords | popular | "
                      "popular_with_similar_users | model_score")
    text: str = Field(description="one sentence a person can read")
    evidence: dict[str, Any] = Field(default_factory=dict, description="the numbers behind the sentence")


@dataclass(frozen=True)
class Citation:
    """The history event that most supports one candidate."""

    item_id: str
    steps_back: int  # 0 = the newest event
    similarity: float  # cosine of the two items' vectors
    support: float  # similarity x decay**steps_back (what was maximised)
    channel: str  # "item" (the item matrix) or "text" (the text channel, for cold items)


def cite(evidence: "ItemEvidence", history: Sequence[tuple[str, int]], candidates: Sequence[int]) -> list[Citation | None]:
    """Per candidate index, the history event (item_id, index), oldest first, that supports it
    most, or None when none supports it (no event the model reads has a positive similarity)."""
    import numpy as np

    window = list(history)[-evidence.max_length:]
    if not window or not candidates:
        return [None] * len(candidates)
    rows = np.fromiter((index for _, index in window), dtype=np.int64, count=len(window))
    steps_back = np.arange(len(window) - 1, -1, -1)
    weights = evidence.decay ** steps_back
    citations: list[Citation | None] = []
    for candidate in candidates:
        text_channel = evidence.text is not None and evidence.is_cold(candidate)
        vectors = evidence.text if text_channel else evidence.vectors
        similarity = vectors[rows] @ vectors[candidate]
        support = similarity * weights
        best = int(np.argmax(support))
        if support[best] <= 0:
            citations.append(None)
            continue
        citations.append(Citation(item_id=window[best][0], steps_back=int(steps_back[best]),
                                  similarity=float(similarity[best]), support=float(support[best]),
                                  channel="text" if text_channel else "item"))
    return citations


def history_reason(citation: Citation, cited: "ItemInfo | None", training_events: int | None) -> Reason:
    name = _name(citation.item_id, cited)
    evidence = {"item_id": citation.item_id, "steps_back": citation.steps_back,
                "similarity": round(citation.similarity, 4), "support": round(citation.support, 4),
                "channel": citation.channel}
    if citation.channel == "text":
        return Reason(kind=SIMILAR_NEW_ITEM, text=f"New item, similar to {name}, which you interacted with",
                      evidence={**evidence, "training_events": training_events})
    when = "your latest interaction" if citation.steps_back == 0 else \
        f"your interaction {citation.steps_back} step{'s' if citation.steps_back > 1 else ''} back"
    return Reason(kind=HISTORY, text=f"Because of {name}, {when}", evidence=evidence)


def keywords_reason(item: "ItemInfo | None", cited_id: str, cited: "ItemInfo | None") -> Reason | None:
    if item is None or cited is None:
        return None
    shared = [word for word in item.keywords if word in set(cited.keywords)][:KEYWORDS_SHOWN]
    if not shared:
        return None
    listed = ", ".join(f'"{word}"' for word in shared)
    return Reason(kind=SHARED_KEYWORDS, text=f"Shares {listed} with {_name(cited_id, cited)}",
                  evidence={"item_id": cited_id, "keywords": shared})


def popular_reason(rank: int, interactions: float, window_days: int, why: str | None = None) -> Reason:
    """`why`: the fallback source when the answer is popular items because a dependency failed."""
    text = f"Popular right now: #{rank} with {interactions:g} interactions in the last {window_days} days"
    evidence: dict[str, Any] = {"rank": rank, "interactions": interactions, "window_days": window_days}
    if why is not None:
        text += " (personal recommendations are unavailable at the moment)"
        evidence["fallback"] = why
    return Reason(kind=POPULAR, text=text, evidence=evidence)


def segment_reason(pick: "SegmentPick", segments: Sequence["Segment"], window_days: int) -> Reason:
    """`segments`: the user's segments the ranking used; the text names them all, and the
    one the item ranks best in when there are several."""
    among = "them" if len(segments) == 1 else pick.segment.words
    text = (f"Popular with users like you ({'; '.join(s.words for s in segments)}): #{pick.rank} among {among} "
            f"with {pick.interactions} interactions in the last {window_days} days")
    return Reason(kind=POPULAR_WITH_SIMILAR_USERS, text=text, evidence={
        "segment": dict(pick.segment.values), "rank": pick.rank, "interactions": pick.interactions,
        "segment_users": pick.segment.users, "segment_interactions": pick.segment.interactions,
        "window_days": window_days, "segments_used": [dict(s.values) | {"users": s.users} for s in segments],
    })


class Explainer:
    """Fills `reasons` of an answer's items; one per gateway (holds the popularity ranking)."""

    def __init__(self, popular: Sequence[tuple[str, float]], window_days: int):
        self.window_days = window_days
        self.popularity = {item: (rank, count) for rank, (item, count) in enumerate(popular, start=1)}

    def popular_answer(self, items: Sequence[Any], fallback: str | None = None) -> None:
        """Items of a popular answer (cold start, or `fallback` naming the failed dependency)."""
        for item in items:
            rank, count = self.popularity.get(item.item_id, (None, 0.0))
            item.reasons = [popular_reason(rank, count, self.window_days, fallback)] if rank is not None else []

    def segment_answer(self, items: Sequence[Any], ranking: "SegmentRanking") -> None:
        """Items of a segment answer; an item none of the user's segments has seen (global
        popularity filling the list) gets the global popular reason."""
        for item in items:
            pick = ranking.picks.get(item.item_id)
            if pick is not None:
                item.reasons = [segment_reason(pick, ranking.segments, self.window_days)]
            else:
                self.popular_answer([item])

    async def model_answer(self, items: Sequence[Any], model, history_item_ids: Sequence[str],
                           lookup: ItemLookup, user_features: Sequence[str] = ()) -> None:
        """Items of a model answer from `model` (a ServedModel) for a user with this history
        (`user_features`: what the version's user tower read about the user)."""
        evidence: "ItemEvidence | None" = getattr(model, "evidence", None)
        citations: list[Citation | None] = [None] * len(items)
        if evidence is not None:
            history = [(item, model.index[item]) for item in history_item_ids if item in model.index]
            citations = cite(evidence, history, [model.index[item.item_id] for item in items])
        cited_ids = sorted({c.item_id for c in citations if c is not None})
        try:
            infos = {info.item_id: info for info in await lookup([item.item_id for item in items] + cited_ids)}
        except Unavailable:  # reasons without titles and keywords; the answer stands
            infos = {}
        for item, citation in zip(items, citations):
            reasons = []
            if citation is not None:
                count = int(evidence.train_count[model.index[item.item_id]]) if evidence.train_count is not None else None
                reasons.append(history_reason(citation, infos.get(citation.item_id), count))
                shared = keywords_reason(infos.get(item.item_id), citation.item_id, infos.get(citation.item_id))
                if shared is not None:
                    reasons.append(shared)
            rank, count = self.popularity.get(item.item_id, (None, 0.0))
            if rank is not None and rank <= POPULAR_REASON_TOP:
                reasons.append(popular_reason(rank, count, self.window_days))
            item.reasons = reasons or [_model_score_reason(history_item_ids, user_features)]


def _model_score_reason(history_item_ids: Sequence[str], user_features: Sequence[str]) -> Reason:
    evidence: dict[str, Any] = {"history_events": len(history_item_ids)}
    if not user_features:
        return Reason(kind=MODEL_SCORE, text="Ranked by the model from your recent interactions", evidence=evidence)
    evidence["user_features"] = list(user_features)
    source = "your recent interactions and what you told us" if history_item_ids else "what you told us"
    return Reason(kind=MODEL_SCORE, text=f"Ranked by the model from {source} ({', '.join(user_features)})",
                  evidence=evidence)


def _name(item_id: str, info: "ItemInfo | None") -> str:
    return f'"{info.title}"' if info is not None and info.title else f"item {item_id}"
