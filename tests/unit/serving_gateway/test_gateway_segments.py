"""Segment popularity: per-segment rankings, the support threshold, both combinations and the reasons."""

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


def build(min_users=5, age_bands=2, items_kept=100, combination="most_specific"):
    events, users, popular = world()
    return SegmentPopularity(events, users, min_users, age_bands, items_kept, popular, combination)


def items(ranking) -> list[str]:
    return [item for item, _ in ranking.items]


def test_segments_with_support_and_age_bands_from_quantiles():
    s = build()
    north = s.segments[(("region", "north"),)]
    assert (north.users, north.interactions, north.words) == (10, 40, "region north")
    assert (("region", "west"),) not in s.segments  # 2 users < min_users
    assert (("region", "west"),) in build(min_users=2).segments
    assert s.age_edges == [40.0]  # the median of the declared ages (20-29 and 50-59) cuts two bands
    assert s.age_band(23) == "20-29" and s.age_band(57.0) == "50+" and s.age_band(None) is None
    assert s.age_band(float("nan")) is None and s.age_band(pd.NA) is None
    assert s.ranks[(("region", "north"),)]["a"] == (1, 30) and s.ranks[(("region", "south"),)]["c"] == (2, 10)
    both = s.segments[(("region", "north"), ("gender", "f"), ("age", "20-29"))]
    assert (both.users, both.words) == (5, "region north, gender f, ages 20-29")
    assert not any(("occupation", "none") in key for key in s.segments)


@pytest.mark.parametrize("combination", ["most_specific", "sum"])
def test_users_of_different_segments_get_their_segments_items_first_then_global(combination):
    s = build(combination=combination)
    north = items(s.ranking({"region": "north", "age": 25.0}))
    south = items(s.ranking({"region": "south", "occupation": "nurse"}))
    assert north[:2] == ["a", "c"] and south[:2] == ["b", "c"]
    assert north[2] == "z" and set(north) == {"a", "b", "c", "d", "z"}  # global popularity fills the rest
    scores = [score for _, score in s.ranking({"region": "north"}).items]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("combination", ["most_specific", "sum"])
def test_small_or_unknown_segments_are_not_used(combination):
    s = build(combination=combination)
    assert s.ranking({"region": "west"}) is None  # 2 users < min_users: the caller answers with global popularity
    assert s.ranking({"region": "atlantis", "gender": None}) is None
    assert s.ranking({}) is None
    mixed = s.ranking({"region": "west", "age": 21})  # west is dropped, the age band stays
    assert [seg.words for seg in mixed.segments] == ["ages 20-29"]
    assert items(build(min_users=2, combination=combination).ranking({"region": "west"}))[0] == "d"


def test_most_specific_takes_the_largest_supported_combination():
    s = build(min_users=5)
    # north women in their 20s: 5 users, all three attributes together
    assert [seg.words for seg in s.ranking({"region": "north", "gender": "f", "age": 22}).segments] == \
        ["region north, gender f, ages 20-29"]
    # with 6 required, the trio is too small, and so is region with gender (5): region with age band (10)
    assert [seg.words for seg in build(min_users=6).ranking({"region": "north", "gender": "f", "age": 22}).segments] \
        == ["region north, ages 20-29"]


def test_sum_adds_the_shares_of_the_single_attribute_segments():
    s = build(age_bands=1, combination="sum")  # no age segments
    assert all(attribute != "age" for key in s.segments for attribute, _ in key)
    ranking = s.ranking({"gender": "f", "region": "north"})
    # gender f alone ties a and b (15 interactions each): the region decides
    assert items(ranking)[0] == "a" and [seg.words for seg in ranking.segments] == ["region north", "gender f"]
    assert ranking is s.ranking({"region": "north", "gender": "f"})  # cached


def test_reasons_name_the_segment_rank_and_count_and_fill_items_keep_the_global_reason():
    _, _, popular = world()
    ranking = build().ranking({"region": "north", "age": 22})
    answer = [type("Item", (), {"item_id": item, "reasons": []})() for item in ("a", "z")]
    Explainer(popular, 30).segment_answer(answer, ranking)
    reason = answer[0].reasons[0]
    assert reason.kind == POPULAR_WITH_SIMILAR_USERS
    assert reason.text == ("Popular with users like you (region north, ages 20-29): #1 among them "
                           "with 30 interactions in the last 30 days")
    assert reason.evidence["segment"] == {"region": "north", "age": "20-29"} and reason.evidence["segment_users"] == 10
    assert [r.kind for r in answer[1].reasons] == [POPULAR]  # the segment never saw z

    summed = build(combination="sum").ranking({"region": "north", "age": 22})
    Explainer(popular, 30).segment_answer(answer, summed)
    assert answer[0].reasons[0].text == ("Popular with users like you (region north; ages 20-29): #1 among "
                                         "region north with 30 interactions in the last 30 days")
    assert answer[0].reasons[0].evidence["segments_used"] == [{"region": "north", "users": 10},
                                                              {"age": "20-29", "users": 10}]


@pytest.mark.parametrize("kept", [1, 2])
def test_items_kept_bounds_each_segments_list(kept):
    assert len(build(items_kept=kept).shares[(("region", "north"),)]) == kept
