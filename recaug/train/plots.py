"""PNG plots for run reports: training curves and metric bars (matplotlib, Agg backend)."""

from __future__ import annotations

from typing import Any

from recaug import io


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, url: str) -> str:
    with io.atomic_local_path(url, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    return url


def plot_training_curves(history: list[dict[str, float]], url: str) -> str:
    """Training loss and validation NDCG@10 / HR@10 per epoch."""
    plt = _figure()
    epochs = [row["epoch"] for row in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
    left.plot(epochs, [row["loss"] for row in history], marker="o")
    left.set(title="training loss (CE, full catalogue)", xlabel="epoch")
    right.plot(epochs, [row["valid_ndcg@10"] for row in history], marker="o", label="NDCG@10")
    right.plot(epochs, [row["valid_hr@10"] for row in history], marker="o", label="HR@10")
    right.set(title="validation", xlabel="epoch")
    right.legend()
    try:
        return _save(fig, url)
    finally:
        plt.close(fig)


def plot_metric_bars(results: dict[str, dict[str, Any]], url: str,
                     metrics: tuple[str, ...] = ("hr@10", "ndcg@10", "hr@20", "ndcg@20", "mrr@10")) -> str:
    """Grouped bars: one group per metric, one bar per model (overall and cold-item HR@10)."""
    plt = _figure()
    names = list(results)
    columns = [*metrics, "cold hr@10"]
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(columns) * max(1, len(names)) / 2), 3.5))
    width = 0.8 / max(1, len(names))
    for i, name in enumerate(names):
        overall = results[name].get("overall", {})
        values = [overall.get(m, 0.0) for m in metrics] + [results[name].get("cold_items", {}).get("hr@10", 0.0)]
        ax.bar([c + i * width for c in range(len(columns))], values, width, label=name)
    ax.set_xticks([c + width * (len(names) - 1) / 2 for c in range(len(columns))], columns)
    ax.set_title("test metrics (full ranking)")
    ax.legend(fontsize="small")
    try:
        return _save(fig, url)
    finally:
        plt.close(fig)
