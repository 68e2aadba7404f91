"""Which version the gateway pins requests to, from real deploy records and artifact folders."""

from __future__ import annotations

import asyncio
import hashlib
import json

import pytest

from recaug.deploy.deploy import DeployRecord, write_record
from recaug.serving_gateway.live_model import LiveModel


def _artifact(settings, name: str, items: list[str]) -> tuple[str, str, str]:
    """An artifact folder as export leaves it (model.onnx, export.json, item_vocab.json): (dir, model sha, vocab sha)."""
    folder = settings.lake.local("models", name)
    folder.mkdir(parents=True)
    onnx = f"model bytes of {name}".encode()
    (folder / "model.onnx").write_bytes(onnx)
    vocab = json.dumps([None, *items]).encode()
    (folder / "item_vocab.json").write_bytes(vocab)
    model_sha = hashlib.sha256(onnx).hexdigest()
    (folder / "export.json").write_text(json.dumps({"model_sha256": model_sha, "top_k": 4}))
    return str(folder), model_sha, hashlib.sha256(vocab).hexdigest()


def _record(settings, version: int, artifact, outcome: str, at: str) -> DeployRecord:
    folder, model_sha, vocab_sha = artifact
    record = DeployRecord(model_name=settings.deploy.model_name, version=version, deployed_at=at, model_sha256=model_sha,
                          artifact_dir=folder, target="local:127.0.0.1:1", model_format="python", outcome=outcome,
                          vocab_sha256=vocab_sha)
    write_record(settings, record)
    return record


async def _settled(live: LiveModel):
    """The pinned version after the background check has run (checks are due on every call here)."""
    for _ in range(50):
        live.current()
        await asyncio.sleep(0.01)
    return live.current()


def test_follows_deployed_records_only_and_encodes_with_each_versions_vocabulary(settings):
    first = _artifact(settings, "run-1", ["a", "b", "c"])
    second = _artifact(settings, "run-2", ["new", "c", "b", "a"])
    _record(settings, 1, first, "deployed", "2026-12-01T00:00:00+00:00")
    intent = _record(settings, 2, second, "in_progress", "2026-12-02T00:00:00+00:00")

    async def scenario():
        live = LiveModel(settings, check_interval_s=0)
        try:
            pinned = await _settled(live)
            assert pinned.version == 1  # loaded in Triton but unchecked: never used
            assert pinned.encode(["c", "zz", "a"], [10, 20, 30]) == ([3, 1], [10, 30])
            write_record(settings, intent.model_copy(update={"outcome": "deployed"}))  # same file, rewritten
            pinned = await _settled(live)
            assert pinned.version == 2 and pinned.top_k == 4
            assert pinned.encode(["c", "zz", "a"], [10, 20, 30]) == ([2, 4], [10, 30])
            assert [pinned.decode(i) for i in (0, 1, 4, 5)] == [None, "new", "a", None]
        finally:
            live.close()

    asyncio.run(scenario())


def test_an_explicit_artifact_pins_the_version_deployed_from_it(settings):
    first = _artifact(settings, "run-1", ["a", "b"])
    second = _artifact(settings, "run-2", ["b", "a"])
    _record(settings, 1, first, "deployed", "2026-12-01T00:00:00+00:00")
    _record(settings, 2, second, "deployed", "2026-12-02T00:00:00+00:00")
    live = LiveModel(settings, artifact_dir=first[0] + "/")
    assert live.served.version == 1
    live.close()


@pytest.mark.parametrize("changed", ["item_vocab.json", "export.json"])
def test_a_version_whose_artifact_changed_after_its_deploy_is_not_used(settings, changed, caplog):
    artifact = _artifact(settings, "run-1", ["a", "b"])
    _record(settings, 1, artifact, "deployed", "2026-12-01T00:00:00+00:00")
    path = settings.lake.local("models", "run-1", changed)
    if changed == "item_vocab.json":
        path.write_text(json.dumps([None, "b", "a"]))
    else:
        path.write_text(json.dumps({"model_sha256": "0" * 64, "top_k": 4}))
    live = LiveModel(settings)
    assert live.served is None
    assert "changed after the deploy" in caplog.text or "exported again after the deploy" in caplog.text
    live.close()


def test_no_records_means_no_version(settings):
    live = LiveModel(settings)
    assert live.served is None
    live.close()


def test_each_version_carries_the_diversity_chosen_for_it_on_validation(settings, caplog):
    """The default MMR weight of requests comes from the version's metrics.json (0 without one,
    or when it cannot be read: a default never stops serving)."""
    artifacts = {name: _artifact(settings, name, ["a", "b"]) for name in ("chosen", "plain", "broken")}
    (settings.lake.local("models", "chosen") / "metrics.json").write_text(json.dumps({"mmr": {"chosen_weight": 0.3}}))
    (settings.lake.local("models", "broken") / "metrics.json").write_text("{not json")
    for version, artifact in enumerate(artifacts.values(), start=1):
        _record(settings, version, artifact, "deployed", f"2026-12-0{version}T00:00:00+00:00")
    served = {}
    for name, artifact in artifacts.items():
        live = LiveModel(settings, artifact_dir=artifact[0])
        served[name] = live.served.diversity
        live.close()
    assert served == {"chosen": 0.3, "plain": 0.0, "broken": 0.0}
    assert "cannot read the default diversity" in caplog.text


def test_a_version_with_a_user_tower_encodes_the_users_attributes_and_profile_with_its_codes(tmp_path):
    """export.json's user_features decide what is read and how; a version without them reads nothing."""
    import numpy as np

    from recaug.features.online import UserContext
    from recaug.models.user_spec import UserFeatureSpec
    from recaug.serving_gateway.live_model import VersionUnusable, _user_spec

    spec = UserFeatureSpec({"gender": ["f", "m"], "region": ["north", "south"]},
                           {"age": {"mean": 40.0, "std": 10.0, "edges": [30.0, 50.0]}}, 3)
    record = DeployRecord(model_name="m", version=2, deployed_at="2026-01-01T00:00:00+00:00", model_sha256="x",
                          artifact_dir=str(tmp_path), target="local:127.0.0.1:1", model_format="python",
                          outcome="deployed")
    served = _user_spec(record, {"user_inputs": spec.input_widths, "user_features": spec.to_json()})
    assert served == spec
    assert _user_spec(record, {"top_k": 4}) is None  # exported without a tower
    with pytest.raises(VersionUnusable, match="declares user inputs"):
        _user_spec(record, {"user_inputs": {"user_categorical": 5}, "user_features": spec.to_json()})

    from recaug.serving_gateway.live_model import ServedModel

    model = ServedModel(version=2, artifact_dir=str(tmp_path), top_k=4, vocab=[None, "a"], index={"a": 1}, users=spec)
    cold = UserContext(user_id="u", known=False, attributes={"gender": "m", "age": 35.0, "occupation": "cook"},
                       profile_embedding=[0.5, 0.5, 0.5])
    assert model.reads_profile and model.describes(cold) == ["gender", "age", "profile"]  # occupation: not in its codes
    inputs = model.user_inputs(cold)
    assert inputs["user_categorical"].tolist() == [[2, 0]] and inputs["user_numeric"].tolist() == [[35.0]]
    assert inputs["user_profile"].tolist() == [[0.5, 0.5, 0.5]] and inputs["user_numeric"].dtype == np.float32
    assert model.describes(UserContext(user_id="v", known=False)) == []
    plain = ServedModel(version=1, artifact_dir=str(tmp_path), top_k=4, vocab=[None, "a"], index={"a": 1})
    assert plain.describes(cold) == [] and plain.user_inputs(cold) == {} and not plain.reads_profile
