"""Configuration of training, evaluation and the champion gate (`settings.train.*`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class TrainConfig(BaseModel):
    epochs: int = Field(
        20, description="epoch cap: the linear schedule reaches lr 0 at its end; validation progress (patience, "
        "min_relative_delta) or max_seconds may end sooner, and a run whose best epoch is the cap is flagged as "
        "still improving (metrics.json still_improving, a warning in the log)"
    )
    seed: int = Field(42, description="seeds torch, numpy and Python: same seed + data -> same model")
    batch_size: int = Field(32, description="training windows per step (each up to max_length events)")
    windows_per_user: int = Field(
        0, description="train on at most this many of each user's most recent windows per epoch (0 = all events; "
        "1, SASRec's one sequence per user, is 40% cheaper on ml-latest-small but lost .01 NDCG@10 and the cold items)"
    )
    first_event_targets: bool = Field(
        False, description="also train each user's first event from an empty history (one target per user): how a "
        "model with a user tower learns to rank for users with no history yet"
    )
    cold_user_weight: float = Field(
        1.0, ge=0.0, description="with a user tower: every target is also predicted from the user's features alone "
        "(an empty history), weighted this much against its own cross-entropy, so the tower learns from all of a "
        "user's events what their attributes say, not from their first event only (history dropout, as DropoutNet; "
        "bench_profiles, 3 seeds: cold-user NDCG@10 1.49x the model without tower where attributes carry taste, "
        "1.08x where they do not; the reported training loss includes this term)"
    )
    user_tower_weight_decay: float = Field(
        5.0, ge=0.0, description="AdamW weight decay of the user tower's weights: shrinks what attributes seem to "
        "say about taste towards nothing unless the data keeps confirming it"
    )
    learning_rate: float = Field(2e-3, description="AdamW learning rate (the peak, with the linear schedule)")
    lr_schedule: Literal["constant", "linear"] = Field(
        "linear", description="linear: decays to 0 at the last epoch, so a fixed budget ends settled; or constant"
    )
    scalar_lr_scale: float = Field(
        10.0, description="learning-rate multiplier of scalar parameters (frequency gate, text-channel scales): "
        "Adam moves each parameter by ~lr per step, too little for a scale to find its value in a short budget "
        "(ml-latest-small, seeds 42-44: 10 gave NDCG@10 .0633 and 9 cold-item hits against .0621 and 7 with 1; "
        "30 was worse)"
    )
    weight_decay: float = Field(0.0, description="AdamW weight decay")
    patience: int = Field(
        8, description="epochs without a better validation NDCG@10 before stopping (validation on 610 users moves "
        "by ~.005 between epochs: a short patience stops on noise)"
    )
    min_delta: float = Field(1e-4, description="smallest validation NDCG@10 gain that counts as better")
    min_relative_delta: float = Field(
        0.01, ge=0.0, description="smallest validation NDCG@10 gain, as a share of the best so far, that counts as "
        "better (and resets patience): a relative threshold means the same on datasets whose NDCG differs by 3x"
    )
    max_seconds: float | None = Field(
        None, gt=0, description="training time budget of this process (None = no limit): the epoch that passes it "
        "ends at the next step, is validated, and training stops"
    )
    max_steps_per_epoch: int | None = Field(
        None, gt=0, description="at most this many batches per epoch, a fresh random share of the windows each "
        "epoch (None = all): on large data an epoch of every window takes hours, and validation (early stopping, "
        "the kept best weights) should come every few thousand steps instead"
    )
    device: str = Field("auto", description="auto (CUDA if present, else CPU), cpu, cuda, cuda:1 ...")
    amp: bool = Field(
        True, description="autocast the training forward: bfloat16 (float16 without it) on CUDA; bfloat16 on CPUs "
        "that compute it natively (AVX512-BF16 or AMX), fp32 on other CPUs; losses and evaluation stay fp32"
    )
    num_threads: int = Field(2, description="torch CPU threads (0 = torch default)")
    split: Literal["leave_one_out", "temporal"] = Field(
        "leave_one_out",
        description="leave_one_out: each user's last event is test, the one before validation; "
        "temporal: events after a global time cut are test (the nightly view)",
    )
    temporal_cut_quantile: float = Field(0.9, description="temporal split: the cut is this quantile of timestamps")
    use_augmented: bool = Field(True, description="train on augment/interactions.parquet when present")
    augmented_weight: float = Field(0.5, description="loss weight of an augmented target (times its confidence)")
    hard_negatives: bool = Field(
        False, description="add a BPR term pushing each user's LLM-proposed negative (augment's pick task: the "
        "candidate the user would least like) below every fitted target of that user. Off by default: on "
        "ml-latest-small (template negatives, seeds 42/43, 5 epochs) validation NDCG@10 .0419 vs .0408 without, "
        "test .0370 vs .0415 (bench/bench_llm_signals.py, README Model)"
    )
    hard_negative_weight: float = Field(
        0.5, ge=0.0, description="weight of the hard-negative BPR term, relative to a target's cross-entropy"
    )
    prune_rate: float = Field(0.2, description="share of high-loss augmented targets dropped per step (denoising)")
    prune_warmup_epochs: int = Field(1, description="epochs before loss-based pruning starts (losses are noise at first)")
    eval_batch_size: int = Field(256, description="users scored per evaluation step")
    max_valid_cases: int | None = Field(
        20_000, ge=1, description="validation cases drawn by a stable hash of the user id when there are more (None: "
        "all). Validation is ranked ~30 times per training run (early stopping, the cold-item boost grid, the MMR "
        "weight); at 10M events that is 112k users x 50k items each time. The same users stay drawn as data grows; "
        "test cases are never sampled"
    )
    ks: list[int] = Field([10, 20], description="cut-offs for HR/Recall and NDCG (MRR uses the smallest)")
    cold_item_threshold: int = Field(
        5, description="items with fewer fitted interactions are cold: the evaluation's cold-item slice and the items "
        "the cold-item boost applies to"
    )
    cold_boost: Literal["auto", "off"] = Field(
        "auto", description="auto: after training, choose a score boost for items under cold_item_threshold fitted "
        "events (a bias and a text-similarity weight) on the validation cases (recaug.train.cold_start); off: none"
    )
    cold_boost_reference: Literal["text_similarity"] | float = Field(
        "text_similarity", description="validation cold-item HR@10 the boost aims for: the text-similarity "
        "baseline's on the same cases, or a number"
    )
    cold_boost_max_ndcg_loss: float = Field(
        0.1, description="share of validation NDCG@10 (relative) the cold-item boost may give up"
    )
    mmr_weights: list[float] = Field(
        [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 0.9], description="MMR diversity weights evaluated after training "
        "(recaug.train.diversity): NDCG/Recall@10, intra-list diversity and coverage of the gateway's re-ranked "
        "top-10 for each (0, the model's order, is always included)"
    )
    mmr_max_ndcg_loss: float = Field(
        0.02, ge=0.0, le=1.0, description="the gateway's default diversity is the largest of mmr_weights whose "
        "validation NDCG@10 stays within this share (relative) of weight 0's"
    )
    cold_user_threshold: int = Field(5, description="users with fewer training events form the cold-user slice")
    checkpoint_every: int = Field(1, description="epochs between resumable checkpoints (0 = never)")
    gate_metric: str = Field("ndcg@10", description="validation metric the champion/challenger gate compares")
    gate_tolerance: float = Field(
        0.002, description="a challenger may be this much (absolute) below the champion and still deploy"
    )
    gate_min_coverage: float = Field(
        0.02, ge=0.0, le=1.0, description="floor: share of the catalogue that the validation top-10 lists, at the "
        "model's default MMR weight, cover together; below it the gate keeps the live model (0 = no floor). "
        "ml-latest-small (610 validation users, 9,724 items): FusionSASRec ~0.08, the most-popular baseline 0.012; "
        "it cannot be met when validation users x 10 < floor x catalogue"
    )
    gate_min_diversity: float = Field(
        0.25, ge=0.0, le=2.0, description="floor: mean intra-list diversity (1 - mean pairwise cosine of the items' "
        "MiniLM text embeddings) of those lists (0 = no floor; not checked without item embeddings). "
        "Measured on ml-latest-small: FusionSASRec ~0.46, most-popular 0.49, a list of one franchise's films "
        "0.18-0.34 (Friday the 13th 0.18, Harry Potter 0.23, Star Wars 0.26, Star Trek 0.34); same-category lists "
        "of the synthetic market 0.51"
    )
