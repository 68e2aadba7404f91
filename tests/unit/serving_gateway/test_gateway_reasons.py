"""The reason builder: which history item is cited, and the reasons' text and evidence."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from recaug.export.evidence import ItemEvidence
from recaug.features.online import ItemInfo
from recaug.serving_gateway import explain
from recaug.serving_gateway.live_model import ServedModel
from recaug.serving_gateway.outcomes import FEATURE_STORE_UNAVAILABLE, Unavailable
from recaug.serving_gateway.service import RecommendedItem

# item vectors (unit rows): 1 and 2 point along x, 3 along y, 4 is opposite to 1, 5 between x and y
VECTORS = np.array([[0, 0], [1, 0], [1, 0], [0, 1], [-1, 0], [0.6, 0.8]], dtype=np.float32)
# text vectors: 6 (a cold item) reads like 3
TEXT = np.array([[0, 0], [1, 0], [1, 0], [0, 1], [0, 1], [0, 1], [0, 1]], dtype=np.float32)


def evidence(max_length: int = 10, decay: float = 0.5, cold_count: int = 0, counts=None) -> ItemEvidence:
    vectors = np.vstack([VECTORS, [[0.0, 1.0]]]).astype(np.float32)  # item 6
    return ItemEvidence(vectors=vectors, text=TEXT, train_count=np.asarray(counts if counts is not None else [0] + [50] * 6),
                        cold_count=cold_count, decay=decay, max_length=max_length)


def history(*indices: int) -> list[tuple[str, int]]:
    return [(f"i{index}", index) for index in indices]


def test_cites_the_most_similar_event_weighted_by_recency():
    # for candidate 2 (along x): event i1 (identical direction) two steps back: 1 x 0.25; i5 newest: 0.6 x 1
    [citation] = explain.cite(evidence(), history(1, 3, 5), [2])
    assert citation.item_id == "i5" and citation.steps_back == 0 and citation.channel == "item"
    assert citation.similarity == pytest.approx(0.6) and citation.support == pytest.approx(0.6)
    # with a slow decay the identical item wins from further back
    [citation] = explain.cite(evidence(decay=0.9), history(1, 3, 5), [2])
    assert citation.item_id == "i1" and citation.steps_back == 2 and citation.support == pytest.approx(0.81)


def test_events_the_model_does_not_read_are_never_cited():
    # i1 would support candidate 2 best, but only the newest two events reach the model
    [citation] = explain.cite(evidence(max_length=2, decay=1.0), history(1, 5, 3), [2])
    assert citation.item_id == "i5"


def test_no_citation_when_nothing_the_model_reads_supports_the_item():
    assert explain.cite(evidence(), history(3, 4), [2]) == [None]  # orthogonal and opposite: no positive support
    assert explain.cite(evidence(), [], [2]) == [None]


def test_cold_items_are_cited_by_the_text_channel():
    # item 6 has 1 training event (cold under 5): its text reads like item 3's, whatever its item vector says
    counts = [0, 50, 50, 50, 50, 50, 1]
    [warm, cold] = explain.cite(evidence(cold_count=5, counts=counts), history(3, 1), [2, 6])
    assert warm.item_id == "i1" and warm.channel == "item"
    assert cold.item_id == "i3" and cold.channel == "text" and cold.steps_back == 1


def test_reason_texts_and_evidence():
    citation = explain.Citation(item_id="i3", steps_back=0, similarity=0.91234, support=0.91234, channel="item")
    reason = explain.history_reason(citation, ItemInfo(item_id="i3", known=True, title="Blue Mug"), None)
    assert reason.kind == explain.HISTORY and reason.text == 'Because of "Blue Mug", your latest interaction'
    assert reason.evidence == {"item_id": "i3", "steps_back": 0, "similarity": 0.9123, "support": 0.9123, "channel": "item"}
    cold = explain.history_reason(citation.__class__(**{**citation.__dict__, "channel": "text", "steps_back": 3}), None, 1)
    assert cold.kind == explain.SIMILAR_NEW_ITEM and cold.text == "New item, similar to item i3, which you interacted with"
    assert cold.evidence["training_events"] == 1

    item = ItemInfo(item_id="c", known=True, keywords=["cozy", "tea", "ceramic", "gift"])
    cited = ItemInfo(item_id="i3", known=True, title="Blue Mug", keywords=["gift", "ceramic", "tea", "cozy"])
    shared = explain.keywords_reason(item, "i3", cited)
    assert shared.text == 'Shares "cozy", "tea", "ceramic" with "Blue Mug"'
    assert shared.evidence == {"item_id": "i3", "keywords": ["cozy", "tea", "ceramic"]}
    assert explain.keywords_reason(item, "i3", ItemInfo(item_id="i3", known=True, keywords=["steel"])) is None

    popular = explain.popular_reason(2, 17.0, 30, why="fallback:triton_unavailable")
    assert popular.text.startswith("Popular right now: #2 with 17 interactions in the last 30 days")
    assert popular.evidence == {"rank": 2, "interactions": 17.0, "window_days": 30, "fallback": "fallback:triton_unavailable"}


def served(evidence_: ItemEvidence | None) -> ServedModel:
    vocab = [None] + [f"i{i}" for i in range(1, 7)]
    return ServedModel(version=1, artifact_dir="unused", top_k=5, vocab=vocab,
                       index={item: i for i, item in enumerate(vocab) if item}, evidence=evidence_)


def lookup_from(infos: dict[str, ItemInfo], fail: bool = False):
    async def lookup(ids: list[str]) -> list[ItemInfo]:
        if fail:
            raise Unavailable(FEATURE_STORE_UNAVAILABLE, "down")
        return [infos.get(i, ItemInfo(item_id=i, known=False)) for i in ids]
    return lookup


def test_model_answer_reasons_cite_history_keywords_and_popularity():
    infos = {"i1": ItemInfo(item_id="i1", known=True, title="One", keywords=["red", "round"]),
             "i2": ItemInfo(item_id="i2", known=True, title="Two", keywords=["round", "big"])}
    explainer = explain.Explainer([("i2", 9.0), ("i4", 3.0)], window_days=30)
    items = [RecommendedItem(item_id="i2", title="Two", score=3.0), RecommendedItem(item_id="i4", title=None, score=1.0)]
    asyncio.run(explainer.model_answer(items, served(evidence()), ["i3", "i1"], lookup_from(infos)))
    assert [r.kind for r in items[0].reasons] == [explain.HISTORY, explain.SHARED_KEYWORDS, explain.POPULAR]
    assert items[0].reasons[0].text == 'Because of "One", your latest interaction'
    assert items[0].reasons[1].evidence["keywords"] == ["round"]
    # item 4 is opposite to i1 and orthogonal to i3: no history supports it; it is popular (#2)
    assert [r.kind for r in items[1].reasons] == [explain.POPULAR] and items[1].reasons[0].evidence["rank"] == 2


def test_model_answer_without_evidence_or_item_lookup_still_has_reasons():
    items = [RecommendedItem(item_id="i2", title="Two", score=3.0)]
    explainer = explain.Explainer([], window_days=30)
    asyncio.run(explainer.model_answer(items, served(None), ["i1"], lookup_from({})))
    assert [(r.kind, r.evidence) for r in items[0].reasons] == [(explain.MODEL_SCORE, {"history_events": 1})]
    asyncio.run(explainer.model_answer(items, served(evidence()), ["i1"], lookup_from({}, fail=True)))
    assert items[0].reasons[0].text == "Because of item i1, your latest interaction"


def test_popular_answers_name_rank_and_why():
    explainer = explain.Explainer([("a", 5.0), ("b", 2.0)], window_days=7)
    items = [RecommendedItem(item_id="b", title=None, score=2.0), RecommendedItem(item_id="a", title=None, score=5.0)]
    explainer.popular_answer(items)
    assert [i.reasons[0].evidence for i in items] == [{"rank": 2, "interactions": 2.0, "window_days": 7},
                                                      {"rank": 1, "interactions": 5.0, "window_days": 7}]
    explainer.popular_answer(items, fallback="fallback:feature_store_unavailable")
    assert all(i.reasons[0].kind == explain.POPULAR and i.reasons[0].evidence["fallback"] ==
               "fallback:feature_store_unavailable" for i in items)
