"""The training loop shared by FusionSASRec, its ablations and GRU4Rec.

Cross-entropy over the full catalogue at every position of every window; augmented
targets are down-weighted by confidence and, after a warm-up, pruned by loss
(`recaug.augment.denoise.prune_by_loss`). Early stopping on validation NDCG@10; the best
weights are restored at the end. A checkpoint after each epoch holds everything needed
to resume (weights, optimizer, RNG states, history), written atomically.
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
from recaug.train.dataset import SequenceData
from recaug.train.evaluate import evaluate_recommender

log = logging.getLogger(__name__)

SELECTION_METRIC = "ndcg@10"


@dataclass
class FitResult:
    history: list[dict[str, float]] = field(default_factory=list)  # one row per epoch
    best_epoch: int = 0
    best_valid: float = float("-inf")
    stopped_early: bool = False
    resumed_from_epoch: int = 0
    seconds: float = 0.0


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


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
                                    config.windows_per_user)
    tensors = [torch.from_numpy(a) for a in (windows.inputs, windows.input_times, windows.targets,
                                             windows.target_times, windows.weights, windows.augmented)]
    if device.type == "cuda":
        tensors = [t.pin_memory() for t in tensors]
    has_augmented = bool(windows.augmented.any())
    prune = _pruner() if has_augmented and config.prune_rate > 0 else None
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    use_amp = config.amp and device.type == "cuda"
    amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)

    result = FitResult()
    best_state = copy.deepcopy(model.state_dict())
    bad_epochs, start_epoch = 0, 1
    state = _load_checkpoint(checkpoint_url) if checkpoint_url and io.exists(checkpoint_url) else None
    if state is not None and state.get("key") != checkpoint_key:
        log.warning("ignoring %s: written for other data or parameters", checkpoint_url)
        state = None
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        best_state, bad_epochs = state["best_state"], state["bad_epochs"]
        result.history, result.best_epoch, result.best_valid = state["history"], state["best_epoch"], state["best_valid"]
        result.stopped_early = state["stopped_early"]
        start_epoch = result.resumed_from_epoch = state["epoch"] + 1
        _set_rng_state(state["rng"])
        log.info("resuming from %s at epoch %d", checkpoint_url, start_epoch)

    started = time.perf_counter()
    for epoch in range(start_epoch, config.epochs + 1):
        if result.stopped_early:
            break
        epoch_started = time.perf_counter()
        model.train()
        order = torch.randperm(len(windows), generator=torch.Generator().manual_seed(config.seed * 1000 + epoch))
        total_loss, total_weight, pruned = 0.0, 0.0, 0
        for start in range(0, len(order), config.batch_size):
            batch = [t[order[start:start + config.batch_size]].to(device, non_blocking=True) for t in tensors]
            inputs, input_times, targets, target_times, weights, augmented = batch
            with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
                losses = _position_losses(model, inputs, input_times, targets, target_times)
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
            total_weight += float(weights.sum())
        valid = evaluate_recommender(model, data.valid, data, config, model.config.max_length, device)["overall"]
        score = valid.get(SELECTION_METRIC, 0.0)
        row = {"epoch": epoch, "loss": total_loss / max(total_weight, 1e-8), "valid_ndcg@10": score,
               "valid_hr@10": valid.get("hr@10", 0.0), "pruned": pruned,
               "seconds": time.perf_counter() - epoch_started}
        result.history.append(row)
        if score > result.best_valid + config.min_delta:
            result.best_valid, result.best_epoch, bad_epochs = score, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            bad_epochs += 1
            result.stopped_early = bad_epochs >= config.patience
        log.info("%s epoch %d/%d loss %.4f valid ndcg@10 %.4f hr@10 %.4f (best %.4f @ %d)%s %.1fs",
                 model.name, epoch, config.epochs, row["loss"], score, row["valid_hr@10"], result.best_valid,
                 result.best_epoch, f" pruned {pruned}" if pruned else "", row["seconds"])
        if checkpoint_url and config.checkpoint_every and (epoch % config.checkpoint_every == 0 or result.stopped_early):
            _save_checkpoint(checkpoint_url, {
                "key": checkpoint_key, "epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scaler": scaler.state_dict(), "best_state": best_state, "bad_epochs": bad_epochs,
                "history": result.history, "best_epoch": result.best_epoch, "best_valid": result.best_valid,
                "stopped_early": result.stopped_early, "rng": _rng_state(),
            })
    model.load_state_dict(best_state)
    model.eval()
    result.seconds = time.perf_counter() - started
    return result


def _position_losses(model, inputs, input_times, targets, target_times):
    """Cross-entropy over all items for every real target position -> [M]. The padding row is
    sliced off the item matrix (not masked with -inf), which saves a copy of the largest tensor."""
    from torch.nn import functional as F

    items = model.item_matrix()
    hidden = model.encode(inputs, input_times, items)
    mask = targets > 0
    query = model.readout(hidden[mask], inputs[mask], input_times[mask], target_times[mask])
    logits = query @ items[1:].T
    return F.cross_entropy(logits.float(), targets[mask] - 1, reduction="none")


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
    import torch

    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _save_checkpoint(url: str, state: dict[str, Any]) -> None:
    import torch

    buffer = _bytes_io.BytesIO()
    torch.save(state, buffer)
    io.write_bytes(url, buffer.getvalue())


def _load_checkpoint(url: str) -> dict[str, Any]:
    import torch

    return torch.load(_bytes_io.BytesIO(io.read_bytes(url)), map_location="cpu", weights_only=False)
