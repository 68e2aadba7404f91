from __future__ import annotations

import logging

import pandas as pd

from recaug.models.most_pop import MostPop
from recaug.train import evaluate
from recaug.train.config import TrainConfig
from recaug.train.dataset import build_sequences


def test_a_long_evaluation_says_how_far_it_got(monkeypatch, caplog):
    rows = [(f"u{u}", f"i{(u * 3 + k) % 25}", k) for u in range(30) for k in range(5)]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], unit="s", utc=True)
    data = build_sequences(frame)
    monkeypatch.setattr(evaluate, "PROGRESS_SECONDS", 0.0)
    with caplog.at_level(logging.INFO, logger="recaug.train.evaluate"):
        result = evaluate.evaluate_recommender(MostPop.fit(data), data.test, data, TrainConfig(eval_batch_size=8), 10)
    assert result["overall"]["cases"] == 30
    progress = [r.getMessage() for r in caplog.records if "ranked all" in r.getMessage()]
    assert len(progress) == 4 and progress[-1].startswith("most_pop: ranked all 25 items for 30 of 30 cases")
