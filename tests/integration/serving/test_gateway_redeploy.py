"""A catalogue-changing redeploy under a running gateway with requests in flight: every model
answer must equal onnxruntime's answer of the version that gave it (zero wrong ids), and no
request may fail."""

from __future__ import annotations

import pytest

from gateway_helpers import Clients, OnnxOracle, gateway_test_settings, serving, write_marketplace
from serving_helpers import make_exported_artifact

pytestmark = pytest.mark.slow
K = 5


@pytest.fixture(scope="module", params=[1, 2], ids=["1-version-loaded", "2-versions-loaded"])
def redeploy_world(request, serving_root, triton):
    """A lake with Feast features and version 1 of a model deployed; Triton keeps the newest
    1 (the default) or 2 versions loaded."""
    from recaug.deploy.deploy import deploy

    loaded = request.param
    root = serving_root / f"redeploy-{loaded}"
    settings = gateway_test_settings(root, f"recaug_redeploy_{loaded}", triton.home, triton_timeout_s=5.0,
                                     features_timeout_s=5.0, versions_loaded=loaded)
    items = [f"sku-{i:03d}" for i in range(30)]
    interactions = write_marketplace(settings, items)
    first = make_exported_artifact(settings, root / "lake" / "models" / "run-1", items, seed=5)
    assert deploy(settings, first).version == 1
    return settings, items, interactions


def test_catalogue_changing_redeploy_under_load_gives_no_wrong_ids_and_no_errors(redeploy_world):
    from recaug.deploy.deploy import deploy
    from recaug.serving_gateway.app import create_app
    from recaug.serving_gateway.ranking import popular_items

    settings, items, interactions = redeploy_world
    # new items first: every known item moves to another index in version 2
    second = make_exported_artifact(settings, settings.lake.local("models", "run-2"),
                                    [f"new-{i:02d}" for i in range(7)] + items[::-1], seed=6)
    users = sorted(interactions["user_id"].unique())
    oracle = OnnxOracle(settings)
    for user in users:  # Feast answers are fixed during the test: read them before the load starts
        oracle.context(user)
    popular = [item for item, _ in popular_items(settings, settings.deploy.gateway.popular_window_days)]

    with serving(create_app(settings)) as port, Clients(port, users, count=6, k=K) as clients:
        clients.wait_for_answers(60, model_version="1")
        record = deploy(settings, second)
        assert record.outcome == "deployed" and record.version == 2
        clients.wait_for_answers(60, new=True, model_version="2")
    answers = clients.snapshot()

    assert clients.failures == [] and [a for a in answers if a.status != 200] == []
    by_source: dict[str, int] = {}
    wrong = []
    for answer in answers:
        source = answer.body["source"]
        by_source[source] = by_source.get(source, 0) + 1
        if source == "model":
            problem = oracle.check(answer, K)
            if problem:
                wrong.append(problem)
        else:  # only while version 1 is unloaded and version 2 not yet recorded: popular unseen items
            assert source == "fallback:model_unavailable" and settings.deploy.served.versions_loaded == 1, answer.body
            seen = set(oracle.context(answer.user_id).history_item_ids)
            assert [i["item_id"] for i in answer.body["items"]] == [i for i in popular if i not in seen][:K]
    assert wrong == []
    model_answers = [a for a in answers if a.body["source"] == "model"]
    assert sum(a.body["model_version"] == "1" for a in model_answers) >= 60
    switched_at = min(a.received_at for a in model_answers if a.body["model_version"] == "2")
    # once one request was served by version 2, every later request is too (no flapping back)
    assert all(a.body["model_version"] == "2" for a in model_answers if a.sent_at > switched_at)
    print(f"\nanswers by source during the redeploy: {by_source}")
