"""When training stops: validation progress sets the budget, not a fixed epoch count.

An evaluation counts as better only when it beats the best so far by `min_relative_delta`
of the best (and by `min_delta` absolute): a recipe tuned on one dataset's epoch count
either stops a larger set while it still improves or wastes epochs on a smaller one, and a
relative threshold means the same on datasets whose NDCG differs by 3x. Training stops
after `patience` evaluations without a better one (converged), at the epoch cap, or when
`max_seconds` have passed; a run whose best epoch is its last one was still improving, and
the caller is told so instead of being handed a number that understates the model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

StopReason = Literal["converged", "cap", "time"]


@dataclass
class ValidationStopper:
    patience: int
    max_epochs: int
    min_relative_delta: float = 0.0
    min_delta: float = 0.0
    max_seconds: float | None = None
    best: float = float("-inf")
    best_epoch: int = 0
    last_epoch: int = 0
    bad_evaluations: int = 0
    reason: StopReason | None = None

    def is_better(self, score: float) -> bool:
        if self.best == float("-inf"):
            return True
        return score > self.best + max(self.min_delta, self.min_relative_delta * abs(self.best))

    def update(self, epoch: int, score: float, elapsed_seconds: float) -> bool:
        """Record one evaluation; True when it is the new best (keep its weights)."""
        self.last_epoch = epoch
        better = self.is_better(score)
        if better:
            self.best, self.best_epoch, self.bad_evaluations = score, epoch, 0
        else:
            self.bad_evaluations += 1
        if self.bad_evaluations >= self.patience:
            self.reason = "converged"
        elif epoch >= self.max_epochs:
            self.reason = "cap"
        elif self.max_seconds is not None and elapsed_seconds >= self.max_seconds:
            self.reason = "time"
        return better

    @property
    def stopped(self) -> bool:
        return self.reason is not None

    @property
    def still_improving(self) -> bool:
        """Stopped by the cap or the clock while the last evaluation was the best: more budget would help."""
        return self.reason in ("cap", "time") and self.best_epoch == self.last_epoch

    def state(self) -> dict:
        return asdict(self)

    @classmethod
    def from_state(cls, state: dict, **limits) -> "ValidationStopper":
        """Resume the progress of a checkpoint under the current limits (a resumed run may get a larger cap)."""
        progress = {k: state[k] for k in ("best", "best_epoch", "last_epoch", "bad_evaluations")}
        stopper = cls(**limits, **progress)
        stopper.reason = state["reason"] if state["reason"] == "converged" else None
        return stopper

    def warning(self, model_name: str) -> str | None:
        if not self.still_improving:
            return None
        limit = "epoch cap train.epochs" if self.reason == "cap" else "time budget train.max_seconds"
        return (f"{model_name} was still improving when the {limit} ended training: its best validation NDCG@10 "
                f"{self.best:.4f} is at the last epoch ({self.best_epoch}); raise the budget for a fair number")
