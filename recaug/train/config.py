"""Configuration of training, evaluation and the champion gate (`settings.train.*`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class TrainConfig(BaseModel):
    epochs: int = Field(60, description="upper bound on epochs (early stopping usually ends sooner)")
    seed: int = Field(42, description="seeds torch, numpy and Python: same seed + data -> same model")
    batch_size: int = Field(32, description="training windows per step (each up to max_length events)")
    windows_per_user: int = Field(
        0, description="train on at most this many of each user's most recent windows per epoch (0 = all events)"
    )
    learning_rate: float = Field(1e-3, description="Adam learning rate")
    weight_decay: float = Field(0.0, description="AdamW weight decay")
    patience: int = Field(5, description="epochs without a better validation NDCG@10 before stopping")
    min_delta: float = Field(1e-4, description="smallest validation NDCG@10 gain that counts as better")
    device: str = Field("auto", description="auto (CUDA if present, else CPU), cpu, cuda, cuda:1 ...")
    amp: bool = Field(True, description="bfloat16/float16 autocast on CUDA (ignored on CPU)")
    num_threads: int = Field(2, description="torch CPU threads (0 = torch default)")
    split: Literal["leave_one_out", "temporal"] = Field(
        "leave_one_out",
        description="leave_one_out: each user's last event is test, the one before validation; "
        "temporal: events after a global time cut are test (the nightly view)",
    )
    temporal_cut_quantile: float = Field(0.9, description="temporal split: the cut is this quantile of timestamps")
    use_augmented: bool = Field(True, description="train on augment/interactions.parquet when present")
    augmented_weight: float = Field(0.5, description="loss weight of an augmented target (times its confidence)")
    prune_rate: float = Field(0.2, description="share of high-loss augmented targets dropped per step (denoising)")
    prune_warmup_epochs: int = Field(1, description="epochs before loss-based pruning starts (losses are noise at first)")
    eval_batch_size: int = Field(256, description="users scored per evaluation step")
    ks: list[int] = Field([10, 20], description="cut-offs for HR/Recall and NDCG (MRR uses the smallest)")
    cold_item_threshold: int = Field(5, description="test items with fewer training interactions form the cold-item slice")
    cold_user_threshold: int = Field(5, description="users with fewer training events form the cold-user slice")
    checkpoint_every: int = Field(1, description="epochs between resumable checkpoints (0 = never)")
    gate_metric: str = Field("ndcg@10", description="validation metric the champion/challenger gate compares")
    gate_tolerance: float = Field(
        0.002, description="a challenger may be this much (absolute) below the champion and still deploy"
    )
