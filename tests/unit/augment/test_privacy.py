"""Endpoint locality, history minimisation and the cache's subject tags."""

from __future__ import annotations

import pytest

from recaug.augment.cache import GenerationCache
from recaug.augment.config import DataFlowPolicy
from recaug.augment.privacy import PromptPrivacy, endpoint_is_external, is_loopback_host, minimise_brief


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.8.9.10", "::1", "[::1]", "LOCALHOST", "::ffff:127.0.0.1"])
def test_loopback_hosts_are_local(host):
    assert is_loopback_host(host)


@pytest.mark.parametrize("host", ["10.0.0.7", "192.168.1.2", "8.8.8.8", "2001:db8::1", "::ffff:10.0.0.7", "0.0.0.0",
                                  "llm.example.invalid"])
def test_other_and_unresolvable_hosts_are_external(host):
    assert not is_loopback_host(host)


def test_endpoint_location_overrides_resolution():
    assert not endpoint_is_external("http://127.0.0.1:8000/v1", "auto")
    assert endpoint_is_external("http://127.0.0.1:8000/v1", "external")
    assert endpoint_is_external("https://api.example.invalid/v1", "auto")
    assert not endpoint_is_external("https://gpu.internal.example/v1", "local")
    assert not endpoint_is_external(None, "external")  # local backends send nothing anywhere


def test_minimised_brief_drops_dates_and_generalises_titles():
    brief = {"title": "Camping Tent", "categories": "Outdoor, Camping", "date": "2026-01-03"}
    assert minimise_brief(brief, generalise_titles=True) == {"categories": "Outdoor, Camping"}
    assert minimise_brief(brief, generalise_titles=False) == {"title": "Camping Tent", "categories": "Outdoor, Camping"}
    assert minimise_brief({"title": "Mystery"}, generalise_titles=True) == {"categories": "uncategorised"}


def test_local_backend_is_never_refused():
    privacy = PromptPrivacy(DataFlowPolicy(endpoint_location="external"), endpoint=None)
    flows = privacy.check(["item", "profile", "pick"])
    assert all(not f.external for f in flows.values())
    history = [{"title": "A", "date": "2026-01-01"}]
    assert privacy.shape("profile")(history) == history


def test_cache_entries_carry_every_subject_and_are_removed_by_subject_or_key(tmp_path):
    cache = GenerationCache(str(tmp_path / "generations"))
    cache.put("aa01", {"status": "ok", "text": "x"}, "p-user1")
    cache.tag("aa01", "p-user2")
    cache.put("aa02", {"status": "ok", "text": "y"}, "p-user3")
    cache.put("bb01", {"status": "ok", "text": "z"})
    cache.save()
    reread = GenerationCache(str(tmp_path / "generations"))
    assert reread.get("aa01")["subjects"] == ["p-user1", "p-user2"]
    assert reread.remove({"p-user2"}, {"bb01"}) == 2
    after = GenerationCache(str(tmp_path / "generations"))
    assert after.get("aa01") is None and after.get("bb01") is None and after.get("aa02")["text"] == "y"
    assert not (tmp_path / "generations" / "bb.jsonl").exists()
