"""The training loop shared by FusionSASRec, its ablations and GRU4Rec.

Cross-entropy over the full catalogue at every position of every window, one weight per
target, computed in row chunks that never hold the whole logits matrix
(`recaug.train.losses`); augmented targets are down-weighted by confidence and, after a
warm-up, pruned by loss (`recaug.augment.denoise.prune_by_loss`). With `train.hard_negatives`, the
item the LLM proposed as a user's negative gets a BPR term against each of that user's targets. Windows are batched by
length (padding costs as much as events); the learning rate decays linearly over the epoch
budget. The forward runs under bf16 autocast on CUDA and on CPUs that compute bf16
natively (the losses stay fp32); evaluation is fp32. Validation NDCG@10 sets the budget
(`recaug.train.stopping`: patience on a relative gain, an epoch cap, an optional time limit);
the best weights are restored at the end, and a run still improving at its limit says so. A checkpoint after each epoch holds everything
needed to resume (weights, optimizer, RNG states, history), written atomically.
"""

from __future__ import annotations

import copy
import io as _bytes_io
import logging
import random
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recaug import io
from recaug.errors import RecaugError
from recaug.train.cold_start import calibrate_cold_boost
from recaug.train.dataset import SequenceData
from recaug.train.evaluate import evaluate_recommender, user_inputs
from recaug.train.stopping import ValidationStopper

log = logging.getLogger(__name__)

SELECTION_METRIC = "ndcg@10"


@dataclass
class FitResult:
    history: list[dict[str, float]] = field(default_factory=list)  # one row per epoch
    best_epoch: int = 0
    best_valid: float = float("-inf")
    stopped_early: bool = False  # stopped before the epoch cap (converged, or the time limit)
    stop_reason: str = ""  # converged | cap | time (recaug.train.stopping)
    still_improving: bool = False  # the best epoch is the last one run: the budget, not the model, ended training
    warning: str | None = None
    resumed_from_epoch: int = 0
    seconds: float = 0.0
    cold_boost: dict[str, Any] | None = None  # what recaug.train.cold_start chose, and why


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


PROGRESS_SECONDS = 60.0  # a progress line this often inside a long epoch


def select_device(spec: str = "auto"):
    import torch

    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(spec)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RecaugError(f"train.device={spec!r} but CUDA is not available on this machine")
    return device


def fit(model, data: SequenceData, config, *, checkpoint_url: str | None = None, checkpoint_key: str = "",
        device=None) -> FitResult:
    """Train `model` in place on `data` (TrainConfig `config`); returns the epoch history.

    A checkpoint at `checkpoint_url` is resumed only if it was written with the same
    `checkpoint_key` (the caller's fingerprint of data and parameters)."""
    import torch

    device = device or select_device(config.device)
    if config.num_threads and device.type == "cpu":
        torch.set_num_threads(config.num_threads)
    seed_everything(config.seed)
    model.to(device)
    windows = data.training_windows(model.config.max_length, config.augmented_weight if config.use_augmented else 0.0,
                                    config.windows_per_user, config.first_event_targets)
    tensors = [torch.from_numpy(a) for a in (windows.inputs, windows.input_times, windows.targets, windows.target_times,
                                             windows.weights, windows.augmented)]
    hard_negatives = config.hard_negatives and config.hard_negative_weight > 0 and bool(windows.negatives.any())
    if config.hard_negatives and not hard_negatives:
        log.warning("train.hard_negatives is on but no augmented row carries a usable negative_item_id: training "
                    "without hard negatives")
    window_negatives = torch.from_numpy(windows.negatives)
    if device.type == "cuda":
        tensors = [t.pin_memory() for t in tensors]
    users = user_inputs(model, data)
    if users is not None:  # each position reads the user as known at its target's time
        users = users.to(device)
        position_users = torch.from_numpy(data.user_features.rows_at(windows.users[:, None], windows.target_times))
    lengths = (windows.targets > 0).sum(axis=1)  # a first-event target sits on a padding input
    has_augmented = bool(windows.augmented.any())
    prune = _pruner() if has_augmented and config.prune_rate > 0 else None
    optimizer = torch.optim.AdamW(parameter_groups(model, config.scalar_lr_scale, config.user_tower_weight_decay),
                                  lr=config.learning_rate, weight_decay=config.weight_decay)
    amp_dtype = autocast_dtype(config.amp, device)
    use_amp = amp_dtype is not None
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda" and amp_dtype == torch.float16)
    log.info("training %s on %s, forward in %s: %d windows of up to %d events, %d epochs at most", model.name,
             device, "fp32" if amp_dtype is None else f"{amp_dtype} autocast".replace("torch.", ""), len(windows),
             windows.inputs.shape[1], config.epochs)

    result = FitResult()
    best_state = copy.deepcopy(model.state_dict())
    limits = {"patience": config.patience, "max_epochs": config.epochs, "min_relative_delta": config.min_relative_delta,
              "min_delta": config.min_delta, "max_seconds": config.max_seconds}
    stopper, start_epoch = ValidationStopper(**limits), 1
    state = _load_checkpoint(checkpoint_url) if checkpoint_url and io.exists(checkpoint_url) else None
    if state is not None and state.get("key") != checkpoint_key:
        log.warning("ignoring %s: written for other data or parameters", checkpoint_url)
        state = None
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        best_state, result.history = state["best_state"], state["history"]
        stopper = ValidationStopper.from_state(state["stopper"], **limits)
        start_epoch = result.resumed_from_epoch = state["epoch"] + 1
        _set_rng_state(state["rng"])
        log.info("resuming from %s at epoch %d", checkpoint_url, start_epoch)

    started = time.perf_counter()
    for epoch in range(start_epoch, config.epochs + 1):
        if stopper.stopped:
            break
        epoch_started = last_progress = time.perf_counter()
        model.train()
        total_loss, total_weight, pruned, steps = 0.0, 0.0, 0, 0
        batches = training_batches(lengths, config.batch_size, config.seed * 1000 + epoch, model.padding_invariant)
        if config.max_steps_per_epoch is not None:
            batches = batches[:config.max_steps_per_epoch]
        for step, rows in enumerate(batches):
            if config.max_seconds is not None and step and time.perf_counter() - started >= config.max_seconds:
                log.info("%s epoch %d: time budget train.max_seconds=%s reached after %d of %d steps", model.name,
                         epoch, config.max_seconds, step, len(batches))
                break
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(config, epoch - 1 + step / len(batches)) * group["lr_scale"]
            length = int(lengths[rows].max()) if model.padding_invariant else windows.inputs.shape[1]
            batch = [t[torch.from_numpy(rows), -length:].to(device, non_blocking=True) for t in tensors]
            inputs, input_times, targets, target_times, weights, augmented = batch
            batch_users = None
            if users is not None:
                batch_users = users, position_users[torch.from_numpy(rows), -length:].to(device)
            negatives = None
            if hard_negatives:
                negatives = window_negatives[torch.from_numpy(rows)].to(device).unsqueeze(1).expand_as(targets)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
                losses = _position_losses(model, inputs, input_times, targets, target_times, batch_users,
                                          negatives, config.hard_negative_weight, config.cold_user_weight)
            mask = targets > 0
            weights, augmented = weights[mask], augmented[mask]
            if prune is not None and epoch > config.prune_warmup_epochs:
                keep = torch.as_tensor(prune(losses.detach(), augmented, config.prune_rate), device=device).bool()
                pruned += int((~keep).sum())
                weights = weights * keep.to(weights.dtype)
            loss = (losses * weights).sum() / weights.sum().clamp(min=1e-8)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            total_loss += float(loss.detach()) * float(weights.sum())
            steps += 1
            if time.perf_counter() - last_progress >= PROGRESS_SECONDS:
                last_progress = time.perf_counter()
                rate = steps / (last_progress - epoch_started)
                log.info("%s epoch %d: step %d of %d, loss %.4f, %.1f steps/s, about %.0f s left in the epoch",
                         model.name, epoch, steps, len(batches), total_loss / max(total_weight, 1e-8), rate,
                         (len(batches) - steps) / rate)
            total_weight += float(weights.sum())
        valid = evaluate_recommender(model, data.valid, data, config, model.config.max_length, device)["overall"]
        score = valid.get(SELECTION_METRIC, 0.0)
        row = {"epoch": epoch, "loss": total_loss / max(total_weight, 1e-8), "valid_ndcg@10": score,
               "valid_hr@10": valid.get("hr@10", 0.0), "pruned": pruned, "steps": steps,
               "seconds": time.perf_counter() - epoch_started}
        result.history.append(row)
        if stopper.update(epoch, score, time.perf_counter() - started):
            best_state = copy.deepcopy(model.state_dict())
        log.info("%s epoch %d/%d loss %.4f valid ndcg@10 %.4f hr@10 %.4f (best %.4f @ %d)%s %.1fs%s",
                 model.name, epoch, config.epochs, row["loss"], score, row["valid_hr@10"], stopper.best,
                 stopper.best_epoch, f" pruned {pruned}" if pruned else "", row["seconds"],
                 f"; stopping: {stopper.reason}" if stopper.stopped else "")
        if checkpoint_url and config.checkpoint_every and (epoch % config.checkpoint_every == 0 or stopper.stopped):
            _save_checkpoint(checkpoint_url, {
                "key": checkpoint_key, "epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scaler": scaler.state_dict(), "best_state": best_state, "stopper": stopper.state(),
                "history": result.history, "rng": _rng_state(),
            })
    result.best_epoch, result.best_valid = stopper.best_epoch, stopper.best
    result.stop_reason = stopper.reason or "cap"  # a resumed run already past a lowered cap ran no epoch
    result.stopped_early = result.stop_reason in ("converged", "time")
    result.still_improving, result.warning = stopper.still_improving, stopper.warning(model.name)
    if result.warning:
        log.warning("!!! %s", result.warning)
    model.load_state_dict(best_state)
    model.eval()
    result.cold_boost = calibrate_cold_boost(model, data, config, device)
    result.seconds = time.perf_counter() - started
    return result


def autocast_dtype(amp: bool, device):
    """The autocast dtype of the training forward, None for fp32: the 16-bit type the device
    computes natively (bfloat16, float16 on CUDA without it); None on CPUs without AVX512-BF16
    or AMX, where emulated bf16 matmuls are slower than fp32."""
    import torch

    from recaug.hardware import native_half_precision

    if not amp or device.type not in ("cpu", "cuda"):
        return None
    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(native_half_precision(device.type))


def parameter_groups(model, scalar_lr_scale: float, user_tower_weight_decay: float = 0.0) -> list[dict[str, Any]]:
    """Weights, and the scalar parameters (gate and text-channel scales) with a larger step: Adam
    moves every parameter by about lr per step, so at 2e-3 over a few hundred steps a scalar stays
    near its initial value (see TrainConfig.scalar_lr_scale for what 10x measured). The user
    tower's weights form a third group with their own weight decay."""
    tower = getattr(model, "user_tower", None)
    in_tower = {id(p) for p in tower.parameters()} if tower is not None else set()
    scalars = [p for p in model.parameters() if p.ndim == 0]
    weights = [p for p in model.parameters() if p.ndim > 0 and id(p) not in in_tower]
    tower_weights = [p for p in model.parameters() if p.ndim > 0 and id(p) in in_tower]
    groups = [{"params": weights, "lr_scale": 1.0}, {"params": scalars, "lr_scale": scalar_lr_scale},
              {"params": tower_weights, "lr_scale": 1.0, "weight_decay": user_tower_weight_decay}]
    return [group for group in groups if group["params"]]


def learning_rate(config, progress: float) -> float:
    """The step's learning rate; `progress` counts epochs done (fractions within an epoch)."""
    if config.lr_schedule == "linear":
        return config.learning_rate * max(0.0, 1.0 - progress / config.epochs)
    return config.learning_rate


def training_batches(lengths: np.ndarray, batch_size: int, seed: int, bucketed: bool = True,
                     pool: int = 4) -> list[np.ndarray]:
    """Window indices per step for one epoch. Bucketed (for models that ignore left padding):
    shuffled windows are sorted by length within pools of `pool` batches, so each batch can be
    cut to its longest window (on ml-latest-small ~80% of the cells are events instead of ~50%),
    and the batches are shuffled; small pools keep the batches' composition random."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(lengths))
    size = batch_size * pool if bucketed else batch_size
    batches = []
    for start in range(0, len(order), size):
        chunk = order[start:start + size]
        if bucketed:
            chunk = chunk[np.argsort(-lengths[chunk], kind="stable")]
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def _position_losses(model, inputs, input_times, targets, target_times, users=None, negatives=None,
                     negative_weight: float = 0.0, cold_weight: float = 0.0):
    """fp32 cross-entropy over all items for every real target position -> [M]. The padding row is
    sliced off the item matrix (not masked with -inf); the logits are made chunk by chunk and
    never held whole (`recaug.train.losses`). `users`: (UserInputs of the user feature rows,
    the row [B, L] each position reads) or None.
    `negatives` [B, L] (0 = none): an LLM-proposed hard negative per position, which adds
    `negative_weight * softplus(score(negative) - score(target))` (BPR) where it is not the target.
    `cold_weight` > 0 (with `users`) adds the cross-entropy of each target scored as for a user with
    no history but the same features, the way a cold user is ranked. The item vectors are detached
    there: that term trains the tower and the empty-history state, not the vectors warm users are
    ranked with (bench_profiles: warm NDCG@10 -0.9% with them detached, -5.5% without)."""
    import torch

    from recaug.train.losses import linear_cross_entropy

    items = model.item_matrix()
    hidden = model.encode(inputs, input_times, items)
    mask = targets > 0
    query = model.readout(hidden[mask], inputs[mask], input_times[mask], target_times[mask])
    if users is not None:
        features, rows = users
        history_length = (inputs > 0).cumsum(dim=1)[mask]  # events the position has seen
        query = model.personalise(query, features.take(rows[mask]), history_length)
    losses = linear_cross_entropy(query, items[1:], targets[mask] - 1)
    if users is not None and cold_weight > 0:
        cold = _cold_queries(model, items, features.take(rows[mask]), target_times[mask])
        losses = losses + cold_weight * linear_cross_entropy(cold, items[1:].detach(), targets[mask] - 1)
    if negatives is None:
        return losses
    negative, target = negatives[mask], targets[mask]
    active = ((negative > 0) & (negative != target)).to(losses.dtype)
    margin = (query * (items[negative] - items[target])).sum(dim=-1).float()
    return losses + negative_weight * active * torch.nn.functional.softplus(margin)


def _cold_queries(model, items, features, now):
    """[M, H'] user vectors of an empty history read at `now` [M], personalised by `features`: what
    `model.score` gives a user without events."""
    import torch

    empty = torch.zeros((1, 1), dtype=torch.long, device=now.device)
    hidden = model.encode(empty, empty, items)[:, -1].expand(len(now), -1)
    none = torch.zeros_like(now)
    return model.personalise(model.readout(hidden, none, none, now), features, none)


def _pruner():
    try:
        from recaug.augment.denoise import prune_by_loss
    except ImportError as exc:
        raise RecaugError(
            "augmented interactions need recaug.augment.denoise.prune_by_loss for denoising, which is not "
            "available; set train.prune_rate=0 to train on them unpruned or train.use_augmented=false"
        ) from exc
    return prune_by_loss


def _rng_state() -> dict[str, Any]:
    """Random generator states as tensors and plain values, so checkpoints load weights-only."""
    import torch

    name, keys, pos, has_gauss, cached = np.random.get_state()
    numpy_state = {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                   "has_gauss": int(has_gauss), "cached_gaussian": float(cached)}
    state = {"python": random.getstate(), "numpy": numpy_state, "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    import torch

    random.setstate(state["python"])
    numpy_state = state["numpy"]
    if isinstance(numpy_state, dict):
        numpy_state = (numpy_state["name"], np.asarray(numpy_state["keys"], dtype=np.int64).astype(np.uint32),
                       numpy_state["pos"], numpy_state["has_gauss"], numpy_state["cached_gaussian"])
    np.random.set_state(numpy_state)
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _save_checkpoint(url: str, state: dict[str, Any]) -> None:
    import torch

    buffer = _bytes_io.BytesIO()
    torch.save(state, buffer)
    io.write_bytes(url, buffer.getvalue())


def _load_checkpoint(url: str) -> dict[str, Any]:
    """Weights-only: a checkpoint in the lake is data, never code. Checkpoints written before
    the generator states were stored as tensors hold numpy arrays, which are allowed too."""
    from recaug.models.artifact import load_weights_only

    return load_weights_only(io.read_bytes(url), url)
