from __future__ import annotations

from pathlib import Path

from recaug.augment.cache import GenerationCache, generation_key
from recaug.augment.generator import ChatMessage, ChatPrompt


def prompt(text):
    return ChatPrompt(task="item", messages=[ChatMessage(role="user", content=text)], response_prefix="{")


def test_key_depends_on_text_prompt_version_and_model():
    base = generation_key(prompt("a"), "item-v1", "m1")
    assert base == generation_key(prompt("a"), "item-v1", "m1")
    assert len({base, generation_key(prompt("b"), "item-v1", "m1"), generation_key(prompt("a"), "item-v2", "m1"),
                generation_key(prompt("a"), "item-v1", "m2")}) == 4


def test_entries_survive_a_new_process_and_only_dirty_shards_are_written(tmp_path):
    root = str(tmp_path / "generations")
    cache = GenerationCache(root)
    keys = [generation_key(prompt(str(i)), "v1", "m") for i in range(20)]
    for k in keys:
        cache.put(k, {"status": "ok", "text": k[:6]})
    written = cache.save()
    assert written == len({k[:2] for k in keys}) and cache.save() == 0
    reloaded = GenerationCache(root)
    assert all(reloaded.get(k)["text"] == k[:6] for k in keys)
    reloaded.put(keys[0], {"status": "ok", "text": "new"})
    assert reloaded.save() == 1
    assert GenerationCache(root).get(keys[0])["text"] == "new"
    assert not list(Path(root).glob(".*tmp"))  # no temp files left behind


def test_a_damaged_line_costs_one_entry_not_the_shard(tmp_path):
    root = tmp_path / "generations"
    cache = GenerationCache(str(root))
    key = generation_key(prompt("x"), "v1", "m")
    cache.put(key, {"status": "ok", "text": "kept"})
    cache.save()
    shard = root / f"{key[:2]}.jsonl"
    shard.write_text(shard.read_text() + '{"key": "trunc\n')
    assert GenerationCache(str(root)).get(key)["text"] == "kept"
