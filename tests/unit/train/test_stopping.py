"""The stopping rule on known validation curves (recaug.train.stopping)."""

from __future__ import annotations

from recaug.train.stopping import ValidationStopper


def run(curve: list[float], seconds_per_epoch: float = 1.0, **limits) -> ValidationStopper:
    stopper = ValidationStopper(**{"patience": 3, "max_epochs": len(curve), **limits})
    for epoch, score in enumerate(curve, start=1):
        stopper.update(epoch, score, epoch * seconds_per_epoch)
        if stopper.stopped:
            break
    return stopper


def test_a_plateau_converges_patience_evaluations_after_the_best():
    stopper = run([.01, .03, .05, .06, .059, .058, .060, .057, .05], min_relative_delta=0.01)
    assert (stopper.reason, stopper.best_epoch, stopper.last_epoch, stopper.best) == ("converged", 4, 7, .06)
    assert not stopper.still_improving


def test_gains_below_the_relative_delta_do_not_reset_patience():
    # +0.2% of the best per epoch after epoch 3: under a 1% threshold for `patience` epochs, so the run
    # converges at epoch 6 ...
    curve = [.02, .04, .060, .06012, .06024, .06036, .06048, .0606, .06072]
    slow = run(curve, min_relative_delta=0.01)
    assert (slow.reason, slow.best_epoch, slow.last_epoch) == ("converged", 3, 6)
    # ... while a 0.1% threshold counts every one of them and trains to the cap, still improving
    fine = run(curve, min_relative_delta=0.001)
    assert (fine.reason, fine.best_epoch, fine.last_epoch) == ("cap", 9, 9)
    assert fine.still_improving and "still improving" in fine.warning("m") and "train.epochs" in fine.warning("m")


def test_the_relative_delta_scales_with_the_metric():
    # the same curve shape at a third of the NDCG stops at the same epoch: the threshold is relative
    curve = [.03, .06, .09, .0903, .0906, .0908, .095]
    assert run(curve, min_relative_delta=0.01).last_epoch == run([x / 3 for x in curve], min_relative_delta=0.01).last_epoch == 6


def test_the_cap_with_an_earlier_best_is_not_still_improving():
    stopper = run([.01, .05, .04, .045], patience=5)
    assert (stopper.reason, stopper.best_epoch, stopper.still_improving) == ("cap", 2, False)
    assert stopper.warning("m") is None


def test_the_time_limit_stops_after_the_epoch_that_passes_it():
    stopper = run([.01, .02, .03, .04, .05, .06], seconds_per_epoch=10.0, max_seconds=25.0)
    assert (stopper.reason, stopper.last_epoch, stopper.best_epoch) == ("time", 3, 3)
    assert stopper.still_improving and "train.max_seconds" in stopper.warning("m")


def test_convergence_wins_over_the_cap_on_the_same_epoch():
    assert run([.05, .04, .04, .04], patience=3).reason == "converged"


def test_resumed_progress_continues_under_new_limits():
    first = run([.01, .05, .04], patience=3, max_epochs=3)
    assert first.reason == "cap"
    resumed = ValidationStopper.from_state(first.state(), patience=3, max_epochs=10)
    assert not resumed.stopped and (resumed.best, resumed.best_epoch, resumed.bad_evaluations) == (.05, 2, 1)
    resumed.update(4, .045, 4.0)
    resumed.update(5, .045, 5.0)
    assert resumed.reason == "converged" and resumed.best_epoch == 2
