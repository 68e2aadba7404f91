"""An online experiment through the real gateway, Triton and Feast: a champion and a challenger
deployed side by side; each user always gets the same arm and that arm's version (decoded with
that version's own vocabulary); the report counts the events posted for each arm, conclude promotes
the winner through a champion record, and new deploys end the experiment as recorded."""

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
    settings.experiment.min_impressions = 50
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


def test_the_report_counts_logged_events_per_arm_and_conclude_promotes_the_winner(experiment_world):
    """Impressions and clicks posted to POST /events as a client would (clicks of champion users
    without their arm: the report recomputes it); the challenger's users click more."""
    from fastapi.testclient import TestClient

    from recaug.deploy.deploy import live_record
    from recaug.experiments.conclude import conclude
    from recaug.experiments.report import experiment_report
    from recaug.experiments.store import find_experiment, running_experiment
    from recaug.serving_gateway.app import create_app

    settings, users, _, challenger = experiment_world
    experiment = running_experiment(settings)
    expected = {"champion": [0, 0], "challenger": [0, 0]}  # impressions, clicked impressions
    with TestClient(create_app(settings)) as client:
        for _ in range(3):
            for user in users:
                body = _ask(client, user).body
                arm, tags = body["arm"], {"request_id": body["request_id"], "model_version": body["model_version"]}
                events = [{"user_id": user, "item_id": item["item_id"], "event_type": "impression", "arm": arm, **tags}
                          for item in body["items"]]
                clicks = body["items"][:3] if arm == "challenger" else body["items"][:1]
                events += [{"user_id": user, "item_id": item["item_id"], "event_type": "click", "request_id":
                            body["request_id"], **({"arm": arm} if arm == "challenger" else {})} for item in clicks]
                if not events:  # the user has seen every item this version ranks
                    continue
                response = client.post("/events", json={"events": events})
                assert response.status_code == 200, response.text
                expected[arm][0] += len(body["items"])
                expected[arm][1] += len(clicks)

    report = experiment_report(settings, experiment)
    for arm, (impressions, clicked) in expected.items():
        assert (report.arms[arm].impressions, report.arms[arm].ctr.count) == (impressions, clicked), arm
    assert report.arms["champion"].model_versions == ["1"] and report.arms["challenger"].model_versions == ["2"]
    assert report.arms_recomputed == expected["champion"][1]
    assert report.verdict == "challenger_wins", report.verdict_text

    conclusion = conclude(settings)
    assert conclusion.action == "promoted"
    live = live_record(settings)
    assert (live.version, live.role, live.artifact_dir, live.previous_version) == (2, "champion", challenger, 1)
    assert experiment.experiment_id in live.reason and live.smoke.passed
    assert find_experiment(settings, experiment.experiment_id).status == "promoted"
    with TestClient(create_app(settings)) as client:
        assert {(b["arm"], b["model_version"]) for b in (_ask(client, u).body for u in users)} == {(None, "2")}


def test_new_deploys_end_the_experiment_and_reconcile_removes_its_challenger(experiment_world):
    from fastapi.testclient import TestClient

    from recaug.deploy.deploy import deploy, kept_versions, live_record
    from recaug.deploy.local import LocalTarget
    from recaug.experiments.store import list_experiments, running_experiment
    from recaug.serving_gateway.app import create_app

    settings, users, _, _ = experiment_world
    name = settings.deploy.model_name
    target = LocalTarget.from_settings(settings)
    third = make_exported_artifact(settings, settings.lake.local("models", "run-3"), ITEMS, seed=7)
    assert deploy(settings, third, role="challenger").version == 3
    assert running_experiment(settings).champion_version == 2
    assert kept_versions(settings) == {1, 2, 3} and target.loaded_versions(name) == {2, 3}

    # a new challenger replaces the running experiment; reconcile drops the old challenger's version
    fourth = make_exported_artifact(settings, settings.lake.local("models", "run-4"), ITEMS, seed=8)
    assert deploy(settings, fourth, role="challenger").version == 4
    ended = [e for e in list_experiments(settings) if e.challenger_version == 3][0]
    assert ended.status == "stopped" and "replaced by a new challenger" in ended.end_reason
    assert running_experiment(settings).challenger_version == 4
    assert target.repository.versions(name) == [1, 2, 4] and target.loaded_versions(name) == {2, 4}

    # a new champion ends the experiment too: nobody is served the challenger any more
    fifth = make_exported_artifact(settings, settings.lake.local("models", "run-5"), ITEMS, seed=9)
    assert deploy(settings, fifth).version == 5
    assert running_experiment(settings) is None and live_record(settings).version == 5
    assert target.repository.versions(name) == [2, 5] and target.loaded_versions(name) == {2, 5}
    with TestClient(create_app(settings)) as client:
        assert {(b["arm"], b["model_version"]) for b in (_ask(client, u).body for u in users)} == {(None, "5")}
