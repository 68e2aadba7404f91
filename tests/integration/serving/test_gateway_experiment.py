"""An online experiment through the real gateway, Triton and Feast: a champion and a challenger
deployed side by side; each user always gets the same arm and that arm's version (decoded with
that version's own vocabulary), and deploys and promotion end the experiment as recorded."""

from __future__ import annotations

import re
import time

import pytest

from gateway_helpers import Answer, OnnxOracle, gateway_test_settings, write_marketplace
from serving_helpers import make_exported_artifact

pytestmark = pytest.mark.slow
ITEMS = [f"sku-{i:03d}" for i in range(30)]
K = 5


@pytest.fixture(scope="module")
def experiment_world(serving_root, triton):
    """Version 1 deployed as champion, version 2 (another catalogue order, so another
    vocabulary) as the challenger for 40% of users."""
    from recaug.deploy.deploy import deploy

    root = serving_root / "experiment"
    settings = gateway_test_settings(root, "recaug_experiment", triton.home, triton_timeout_s=5.0,
                                     features_timeout_s=5.0)
    settings.experiment.share = 0.4
    settings.deploy.gateway.records_check_interval_s = 0.0
    interactions = write_marketplace(settings, ITEMS, n_users=40, n_events=1200)
    champion = make_exported_artifact(settings, root / "lake" / "models" / "run-1", ITEMS, seed=5)
    challenger = make_exported_artifact(settings, root / "lake" / "models" / "run-2", ITEMS[::-1], seed=6)
    assert deploy(settings, champion).version == 1
    record = deploy(settings, challenger, role="challenger")
    assert (record.version, record.role, record.outcome) == (2, "challenger", "deployed")
    return settings, sorted(interactions["user_id"].unique()), champion, challenger


def _ask(client, user: str) -> Answer:
    sent_at = time.time()
    response = client.get("/recommend", params={"user_id": user, "k": K})
    assert response.status_code == 200, response.text
    body = response.json()
    assert response.headers["X-Request-Id"] == body["request_id"]
    return Answer(user, response.status_code, body, sent_at, time.time(), 0.0)


def test_each_user_always_gets_the_same_arm_and_that_arms_version(experiment_world):
    from fastapi.testclient import TestClient

    from recaug.deploy.deploy import live_record
    from recaug.experiments.split import assign_arm
    from recaug.experiments.store import running_experiment
    from recaug.serving_gateway.app import create_app

    settings, users, _, _ = experiment_world
    experiment = running_experiment(settings)
    assert (experiment.champion_version, experiment.challenger_version, experiment.share) == (1, 2, 0.4)
    assert experiment.salt == experiment.experiment_id
    assert live_record(settings).version == 1  # a challenger never becomes live by deploying
    oracle = OnnxOracle(settings)
    request_ids = set()
    with TestClient(create_app(settings)) as client:
        for _ in range(3):
            for user in users:
                answer = _ask(client, user)
                body = answer.body
                arm = assign_arm(user, experiment.salt, experiment.share)
                assert body["arm"] == arm and body["source"] == "model", body
                assert body["model_version"] == ("2" if arm == "challenger" else "1"), body
                assert re.fullmatch("[0-9a-f]{32}", body["request_id"]) and body["request_id"] not in request_ids
                request_ids.add(body["request_id"])
                assert oracle.check(answer, K) is None
    arms = {assign_arm(u, experiment.salt, experiment.share) for u in users}
    assert arms == {"champion", "challenger"}


def test_promotion_and_new_deploys_end_the_experiment(experiment_world, triton):
    from fastapi.testclient import TestClient

    from recaug.deploy.deploy import deploy, kept_versions, live_record
    from recaug.deploy.local import LocalTarget
    from recaug.experiments.store import list_experiments, running_experiment
    from recaug.serving_gateway.app import create_app

    settings, users, champion, challenger = experiment_world
    target = LocalTarget.from_settings(settings)
    assert {1, 2} <= target.loaded_versions(settings.deploy.model_name)
    assert kept_versions(settings) == {1, 2}

    # a new challenger replaces the running experiment; reconcile drops the old challenger's version
    third = make_exported_artifact(settings, settings.lake.local("models", "run-3"), ITEMS, seed=7)
    assert deploy(settings, third, role="challenger").version == 3
    ended = [e for e in list_experiments(settings) if e.challenger_version == 2][0]
    assert ended.status == "stopped" and "replaced by a new challenger" in ended.end_reason
    assert running_experiment(settings).challenger_version == 3
    assert target.repository.versions(settings.deploy.model_name) == [1, 3]
    assert target.loaded_versions(settings.deploy.model_name) == {1, 3}

    # a new champion ends the experiment too: nobody is served the challenger any more
    fourth = make_exported_artifact(settings, settings.lake.local("models", "run-4"), ITEMS, seed=8)
    assert deploy(settings, fourth).version == 4
    assert running_experiment(settings) is None and live_record(settings).version == 4
    with TestClient(create_app(settings)) as client:
        bodies = [_ask(client, user).body for user in users]
    assert {(b["arm"], b["model_version"]) for b in bodies} == {(None, "4")}
    assert target.repository.versions(settings.deploy.model_name) == [1, 4]
