from __future__ import annotations

from recaug.orchestrate.rebuild import set_aside_derived


def test_full_rebuild_sets_derived_data_aside_once(settings):
    lake = settings.lake
    (lake.local("augment") / "stats.json").write_text("{}")
    (lake.local("cache") / "gen.parquet").write_bytes(b"x")
    (lake.local("raw") / "2026-01-01").mkdir()

    first = set_aside_derived(lake, "r1")
    assert set(first.moved) == {"augment", "cache"}
    assert (lake.local("state", "rebuild-r1", "augment") / "stats.json").read_text() == "{}"
    assert lake.local("augment").is_dir() and not any(lake.local("augment").iterdir())
    assert (lake.local("raw") / "2026-01-01").is_dir(), "raw data is never touched"

    (lake.local("augment") / "stats.json").write_text('{"new": 1}')  # the rebuild's own output
    again = set_aside_derived(lake, "r1")  # a retried task
    assert again.already_done and again.moved == {}
    assert (lake.local("augment") / "stats.json").read_text() == '{"new": 1}'
