"""bench/bench_quality.py: the default dataset comes from the project root, not one machine's path."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_quality", ROOT / "bench" / "bench_quality.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_default_dataset_is_resolved_beside_the_repository_root():
    bench = _bench()
    assert bench.DATASETS == ROOT.parent / "shared" / "datasets"
    assert bench.resolve_dataset(str(ROOT)) == ROOT  # a given directory is used as is


def test_default_dataset_found_under_the_given_shared_folder(tmp_path):
    (tmp_path / "ml-latest-small").mkdir()
    assert _bench().resolve_dataset(None, tmp_path) == tmp_path / "ml-latest-small"


def test_a_bare_name_is_looked_up_under_the_shared_datasets_and_names_the_format(tmp_path):
    (tmp_path / "ml-1m").mkdir()
    bench = _bench()
    path = bench.resolve_dataset("ml-1m", tmp_path)
    assert path == tmp_path / "ml-1m" and bench.infer_format(path) == "ml-dat"
    assert bench.infer_format(Path("x/amazon-beauty")) == "amazon"
    assert bench.infer_format(Path("x/ml-latest-small")) == "ml-latest"
    with pytest.raises(SystemExit, match="--format"):
        bench.infer_format(Path("x/mystery"))


def test_missing_dataset_error_names_the_path(tmp_path):
    bench = _bench()
    (tmp_path / "ml-1m").mkdir()
    with pytest.raises(SystemExit, match=str(tmp_path / "ml-latest-small")) as missing:
        bench.resolve_dataset(None, tmp_path)
    assert "ml-1m" in str(missing.value)  # the error lists what is there
    with pytest.raises(SystemExit, match=str(tmp_path / "amazon-beauty")):
        bench.resolve_dataset("amazon-beauty", tmp_path)
    with pytest.raises(SystemExit, match="nowhere"):
        bench.resolve_dataset(str(tmp_path / "nowhere"), tmp_path)


def test_grid_points_split_model_and_train_overrides():
    points = _bench().grid_points({"train.learning_rate": [1e-3, 2e-3], "model.dropout": [0.1, 0.3]})
    assert len(points) == 4
    assert points[0] == {"model": {"dropout": 0.1}, "train": {"learning_rate": 1e-3}}
    assert {(p["train"]["learning_rate"], p["model"]["dropout"]) for p in points} == {
        (1e-3, 0.1), (1e-3, 0.3), (2e-3, 0.1), (2e-3, 0.3)}


def test_the_winner_is_the_best_validation_ndcg_first_of_equals():
    bench = _bench()
    metric = bench.SEARCH_METRIC
    candidates = [{"id": 0, metric: .05}, {"id": 1, metric: .07}, {"id": 2, metric: .07}, {"id": 3, metric: .06}]
    assert bench.choose_winner(candidates)["id"] == 1


def test_every_searched_baseline_is_a_bench_model_with_a_small_grid():
    bench = _bench()
    for name, grid in bench.SEARCH.items():
        assert name in bench.NEURAL
        assert 2 <= len(bench.grid_points(grid)) <= 4


@pytest.mark.slow
def test_search_trains_each_grid_point_and_keeps_the_best_on_validation():
    import pandas as pd

    from recaug.data.config import SynthConfig
    from recaug.data.synth import generate_days
    from recaug.models.config import ModelConfig
    from recaug.train.config import TrainConfig
    from recaug.train.dataset import build_sequences

    days = list(generate_days(SynthConfig(seed=3, n_users=120, n_items=80, n_interactions=3000, n_topics=4, n_days=5)))
    data = build_sequences(pd.concat([d.interactions for d in days], ignore_index=True),
                           pd.concat([d.items for d in days], ignore_index=True))
    bench = _bench()
    # a learning rate of 0.5 wrecks training: the search must not pick it
    grid = {"train.learning_rate": [0.5, 3e-3], "model.dropout": [0.1]}
    record, run = bench.search("GRU4Rec", "gru4rec", ModelConfig(hidden_size=16, num_layers=1, max_length=20),
                               TrainConfig(epochs=3, batch_size=16, num_threads=1), data, grid)
    scores = [c[bench.SEARCH_METRIC] for c in record["candidates"]]
    assert len(scores) == 2 and scores[1] > scores[0], scores
    assert record["winner"] == {"model": {"dropout": 0.1}, "train": {"learning_rate": 3e-3}}
    assert run[bench.SEARCH_METRIC] == scores[1] and run["stop_reason"] in ("converged", "cap", "time")
    assert record["grid"] == grid and {"best_epoch", "stop_reason"} <= set(record["candidates"][0])


def test_report_quotes_ours_against_the_tuned_sasrec_row_and_shows_why_training_stopped():
    import time

    bench = _bench()
    ours = {"ndcg@10": .066, "hr@10": .12, "cold hr@10": .07, "stop_reason": "cap", "still_improving": True,
            "epochs": 20, "best_epoch": 20, "train_cpu_seconds": 431.0}
    sasrec = {"ndcg@10": .055, "hr@10": .10, "cold hr@10": 0.0, "stop_reason": "converged", "still_improving": False,
              "epochs": 14, "best_epoch": 6}
    search = {"grid": {"train.learning_rate": [2e-3, 5e-3]}, "winner": {"model": {}, "train": {"learning_rate": 5e-3}}}
    results = {"FusionSASRec (ours)": {"runs": [ours], "summary": bench.aggregate([ours]), "model": {}},
               "SASRec (ID-only, no time)": {"runs": [sasrec], "summary": bench.aggregate([sasrec]), "model": {},
                                             "search": search}}
    context = {"machine": {"cpus": 2, "load_average_start": (1.0, 1.0, 1.0)}, "started": time.perf_counter()}
    report, table, ratios, targets = bench.build_report(results, context, complete=True)
    assert ratios["ours / plain SASRec (tuned), NDCG@10"] == pytest.approx(.066 / .055)
    assert targets["ours >= 1.10 x plain SASRec (tuned) NDCG@10"] is True
    assert "| 431 |" in table  # training CPU seconds beside wall time
    del results["SASRec (ID-only, no time)"]["search"]  # a --no-search run: the ratio says untuned
    _, _, ratios, targets = bench.build_report(results, context, complete=True)
    assert "ours / plain SASRec (untuned), NDCG@10" in ratios and "ours >= 1.10 x plain SASRec (untuned) NDCG@10" in targets
    assert "cap (STILL IMPROVING: 1 of 1 runs)" in table and "tuned: learning_rate=0.005" in table and "converged" in table
