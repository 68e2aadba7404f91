"""Segment popularity: per-attribute rankings, the support threshold, the combination and its reasons."""

import pandas as pd
import pytest

from recaug.serving_gateway.explain import POPULAR, POPULAR_WITH_SIMILAR_USERS, Explainer
from recaug.serving_gateway.segments import SegmentPopularity


def world():
    """North users (ages 20-29) love item a, south users (ages 50-59) love item b; c is everyone's
    second choice; 'west' has only 2 users; 'z' is globally the most popular."""
    users, events = [], []
    for n in range(10):
        users.append({"user_id": f"n{n}", "age": 20 + n, "gender": "f" if n % 2 else "m", "region": "north",
                      "occupation": None})
        events += [(f"n{n}", "a")] * 3 + [(f"n{n}", "c")]
        users.append({"user_id": f"s{n}", "age": 50 + n, "gender": "f" if n % 2 else "m", "region": "south",
                      "occupation": "nurse"})
        events += [(f"s{n}", "b")] * 3 + [(f"s{n}", "c")]
    for n in range(2):
        users.append({"user_id": f"w{n}", "age": None, "gender": None, "region": "west", "occupation": None})
        events += [(f"w{n}", "d")] * 5
    events += [("anonymous", "z")] * 100  # a user without a row in the users table counts globally only
    frame = pd.DataFrame(events, columns=["user_id", "item_id"])
    popular = [(str(i), float(c)) for i, c in frame["item_id"].value_counts().items()]
    return frame, pd.DataFrame(users).astype({"age": "Int64"}), popular


def build(min_users=5, age_bands=2, items_kept=100):
    events, users, popular = world()
    return SegmentPopularity(events, users, min_users, age_bands, items_kept, popular)


def test_segments_per_attribute_with_support_and_age_bands_from_quantiles():
    s = build()
    assert s.segments[("region", "north")].users == 10 and s.segments[("region", "north")].interactions == 40
    assert s.segments[("region", "west")].users == 2
    assert s.age_edges == [40.0]  # the median of the declared ages (20-29 and 50-59) cuts two bands
    assert s.age_band(23) == "20-29" and s.age_band(57.0) == "50+" and s.age_band(None) is None
    assert s.age_band(float("nan")) is None and s.age_band(pd.NA) is None
    assert s.ranks[("region", "north")]["a"] == (1, 30) and s.ranks[("region", "south")]["c"] == (2, 10)
    assert ("occupation", "nurse") in s.segments and not any(k[0] == "occupation" and k[1] != "nurse" for k in s.segments)


def test_users_of_different_segments_get_their_segments_items_first_then_global():
    s = build()
    north = [item for item, _ in s.ranking({"region": "north", "age": 25.0}).items]
    south = [item for item, _ in s.ranking({"region": "south", "occupation": "nurse"}).items]
    assert north[:2] == ["a", "c"] and south[:2] == ["b", "c"]
    assert north[2] == "z" and set(north) == {"a", "b", "c", "d", "z"}  # global popularity fills the rest
    scores = [score for _, score in s.ranking({"region": "north"}).items]
    assert scores == sorted(scores, reverse=True)


def test_small_or_unknown_segments_are_not_used():
    s = build()
    assert s.ranking({"region": "west"}) is None  # 2 users < min_users: the caller answers with global popularity
    assert s.ranking({"region": "atlantis", "gender": None}) is None
    assert s.ranking({}) is None
    mixed = s.ranking({"region": "west", "age": 21})  # west is dropped, the age band stays
    assert [seg.words for seg in mixed.segments] == ["ages 20-29"]
    assert build(min_users=2).ranking({"region": "west"}).items[0][0] == "d"


def test_a_user_is_ranked_by_the_sum_of_their_segments_shares():
    s = build(age_bands=1)  # no age segments
    assert all(key[0] != "age" for key in s.segments)
    # gender f alone ties a and b (15 interactions each): the region decides
    ranked = [item for item, _ in s.ranking({"gender": "f", "region": "north"}).items]
    assert ranked[0] == "a"
    assert s.ranking({"gender": "f", "region": "north"}) is s.ranking({"region": "north", "gender": "f"})  # cached


def test_reasons_name_the_segment_rank_and_count_and_fill_items_keep_the_global_reason():
    s = build()
    ranking = s.ranking({"region": "north", "age": 22})
    _, _, popular = world()
    items = [type("Item", (), {"item_id": item, "reasons": []})() for item in ("a", "z")]
    Explainer(popular, 30).segment_answer(items, ranking)
    reason = items[0].reasons[0]
    assert reason.kind == POPULAR_WITH_SIMILAR_USERS
    assert reason.text == ("Popular with users like you (region north, ages 20-29): #1 among region north "
                           "with 30 interactions in the last 30 days")
    assert reason.evidence["segment"] == {"region": "north"} and reason.evidence["segment_users"] == 10
    assert reason.evidence["segments_used"] == [{"region": "north", "users": 10}, {"age": "20-29", "users": 10}]
    assert [r.kind for r in items[1].reasons] == [POPULAR]  # no segment of the user saw z


@pytest.mark.parametrize("kept", [1, 2])
def test_items_kept_bounds_each_segments_list(kept):
    s = build(items_kept=kept)
    assert len(s.shares[("region", "north")]) == kept
