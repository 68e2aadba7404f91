"""`recaug privacy forget` on a lake built by the real stages: synthetic batches ingested,
augmented through an OpenAI-compatible endpoint (so the generation cache fills), embedded
with MiniLM, fused into features and materialized into Feast's SQLite online store.
Afterwards every file of the lake (Parquet by value, JSON, JSON lines and SQLite by
bytes) is searched for the forgotten ids; the other users must be intact."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from llm_server import LLMServer
from recaug import io
from recaug.cli import main

pytestmark = pytest.mark.slow

# distinctive ids: no byte sequence of floats or hashes contains them by chance
SUFFIX = "-7c1e9a"
#: records of what arrived, which forget does not rewrite (docs/PRIVACY.md)
IMMUTABLE = ("raw", "landing", "quarantine", ".dvc")


def recaug(lake: Path, *args: str) -> int:
    return main([*args, "--lake", str(lake)])


def rename_users(landing: Path) -> None:
    """Give the synthetic users distinctive ids, in every landing batch."""
    for path in landing.glob("*/*.parquet"):
        table = pq.read_table(path)
        if "user_id" in table.column_names:
            renamed = pc.binary_join_element_wise(table.column("user_id").cast(pa.string()), SUFFIX, "")
            table = table.set_column(table.column_names.index("user_id"), "user_id", renamed)
            pq.write_table(table, path)


def parquet_strings(path: Path) -> str:
    """Every value of a Parquet file as text (its pages are compressed, so bytes would miss ids)."""
    return json.dumps(pq.read_table(path).to_pylist(), default=str)


def files_holding(lake: Path, user_id: str) -> list[str]:
    hits = []
    for path in sorted(p for p in lake.rglob("*") if p.is_file()):
        relative = path.relative_to(lake)
        if relative.parts[0] in IMMUTABLE:
            continue
        if path.suffix == ".parquet":
            held = user_id in parquet_strings(path)
        else:
            held = user_id.encode() in path.read_bytes()
        if held:
            hits.append(str(relative))
    return hits


def augment_options(server: LLMServer) -> list[str]:
    """The augment stage through the test endpoint (on the loopback: local, full prompts)."""
    return ["--set", "augment.backend.type=openai", "--set", f"augment.backend.base_url={server.base_url}",
            "--set", "augment.backend.api_key_env=null", "--set", "augment.backend.requests_per_second=1000",
            "--set", "augment.interactions.sparse_max_events=30"]


@pytest.fixture
def built_lake(settings):
    lake = Path(settings.lake_root)
    server = LLMServer().start()
    try:
        assert recaug(lake, "data", "synth", "--out", str(lake / "landing"), "--users", "30", "--items", "40",
                      "--interactions", "400", "--days", "3") == 0
        rename_users(lake / "landing")
        assert recaug(lake, "ingest") == 0
        assert recaug(lake, "augment", *augment_options(server)) == 0
        assert server.requests
        for step in (["embed", "--set", "embed.encoder.type=sentence_transformers"], ["features", "build"],
                     ["features", "apply"], ["features", "materialize"]):
            assert recaug(lake, *step) == 0, step
    finally:
        server.stop()
    active = sorted(set(io.read_parquet(settings.lake.interactions)["user_id"]))
    return lake, active[:2], active[2]


def test_forget_removes_every_trace_and_keeps_the_other_users(built_lake, settings, capsys):
    from recaug.features.erase import user_entity_keys
    from recaug.features.online import get_user_context

    lake, forgotten, kept = built_lake
    for user in [*forgotten, kept]:
        holding = files_holding(lake, user)
        # the users really were everywhere a user's data lands
        for expected in ("curated/interactions.parquet", "augment/user_profiles.parquet", "embeddings/users.parquet",
                         "features/user_history.parquet", "feast/online_store.db"):
            assert expected in holding, (user, expected, holding)
    db = lake / "feast" / "online_store.db"
    assert user_entity_keys([forgotten[0]])[0] in db.read_bytes()
    assert any('"subjects"' in line for path in (lake / "cache" / "generations").glob("*.jsonl")
               for line in path.read_text().splitlines())

    capsys.readouterr()
    assert recaug(lake, "privacy", "forget", *forgotten, "--json") == 0
    result = json.loads(capsys.readouterr().out)
    assert result["residues"] == [] and result["removed"]["cache/generations"] >= 2
    assert result["removed"]["feast online store"] > 0 and result["removed"]["curated/interactions.parquet"] > 0

    for user in forgotten:
        assert files_holding(lake, user) == [], user
    # SQLite rows deleted and vacuumed: no free page keeps the entity key either
    assert user_entity_keys([forgotten[0]])[0] not in db.read_bytes()

    # the kept user: still in every table, in the online store and in the generation cache
    holding = files_holding(lake, kept)
    for expected in ("curated/interactions.parquet", "augment/user_profiles.parquet", "embeddings/users.parquet",
                     "features/user_history.parquet", "features/user_profile.parquet", "feast/online_store.db"):
        assert expected in holding, (expected, holding)
    gone, still = get_user_context([forgotten[0], kept], settings)
    assert not gone.known and still.known and still.history_item_ids

    # the raw batches (immutable, DVC-versioned) still hold them: documented, not rewritten
    assert any(forgotten[0] in parquet_strings(p) for p in (lake / "raw").rglob("interactions.parquet"))

    # idempotent: a second forget finds nothing more
    assert recaug(lake, "privacy", "forget", *forgotten, "--json") == 0
    again = json.loads(capsys.readouterr().out)
    assert sum(again["removed"].values()) == 0 and again["residues"] == []

    # the other users' cached generations survive: augmenting again sends no item or profile prompt (pick
    # candidates come from co-occurrence over all users, so removing two users' events changes some of them)
    server = LLMServer().start()
    try:
        assert recaug(lake, "augment", *augment_options(server)) == 0
        systems = [r["body"]["messages"][0]["content"] for r in server.requests]
        assert all(s.startswith("You predict") for s in systems), systems
    finally:
        server.stop()
    profiles = io.read_parquet(settings.lake.url("augment", "user_profiles.parquet"))
    assert kept in set(profiles["user_id"]) and not set(forgotten) & set(profiles["user_id"])

    # the pipeline carries on after a forget: materialize the rewritten tables, then rebuild and materialize again
    for step in (["features", "materialize"], ["embed", "--set", "embed.encoder.type=sentence_transformers"],
                 ["features", "build"], ["features", "materialize"]):
        assert recaug(lake, *step) == 0, step
    for user in forgotten:
        assert files_holding(lake, user) == [], user
    gone, still = get_user_context([forgotten[1], kept], settings)
    assert not gone.known and still.known
