from __future__ import annotations

from recaug.features.online import ItemInfo
from recaug.serving_gateway.item_cache import ItemCache


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _info(item_id: str, title: str = "") -> ItemInfo:
    return ItemInfo(item_id=item_id, known=True, title=title or f"title of {item_id}")


def test_fresh_entries_are_found_and_the_rest_reported_missing_in_request_order():
    cache = ItemCache(ttl_s=60, size=10, clock=FakeClock())
    cache.put([_info("a"), _info("b")])
    found, missing = cache.get(["c", "b", "a", "d"])
    assert {k: v.title for k, v in found.items()} == {"b": "title of b", "a": "title of a"}
    assert missing == ["c", "d"]


def test_entries_expire_after_the_ttl_and_a_new_value_replaces_the_old():
    clock = FakeClock()
    cache = ItemCache(ttl_s=60, size=10, clock=clock)
    cache.put([_info("a", "old title")])
    clock.now += 59.9
    assert cache.get(["a"])[0]["a"].title == "old title"
    clock.now += 0.2
    assert cache.get(["a"]) == ({}, ["a"])
    cache.put([_info("a", "new title")])
    assert cache.get(["a"])[0]["a"].title == "new title"


def test_least_recently_used_items_leave_first_when_full():
    cache = ItemCache(ttl_s=60, size=2, clock=FakeClock())
    cache.put([_info("a"), _info("b")])
    cache.get(["a"])  # a is now more recent than b
    cache.put([_info("c")])
    found, missing = cache.get(["a", "b", "c"])
    assert sorted(found) == ["a", "c"] and missing == ["b"]


def test_zero_ttl_or_size_disables_the_cache():
    for cache in (ItemCache(ttl_s=0, size=10, clock=FakeClock()), ItemCache(ttl_s=60, size=0, clock=FakeClock())):
        cache.put([_info("a")])
        assert cache.get(["a"]) == ({}, ["a"])
