"""Report figures as PNG bytes (matplotlib, headless)."""

from __future__ import annotations

import io


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=100)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def bar_panels(title: str, panels: list[tuple[str, list[str], dict[str, list[float]]]], ylabel: str) -> bytes:
    """One panel per slice (title, metric names, {model: values}), same y scale, one legend."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels) + 0.8, 3.2), squeeze=False, sharey=True)
    for ax, (panel_title, groups, series) in zip(axes[0], panels):
        width = 0.8 / max(len(series), 1)
        for i, (name, values) in enumerate(series.items()):
            xs = [g + (i - (len(series) - 1) / 2) * width for g in range(len(groups))]
            ax.bar(xs, values, width, label=name, color=f"C{i}")
        ax.set_xticks(range(len(groups)), groups)
        ax.set_title(panel_title, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel(ylabel)
    axes[0][-1].legend(fontsize=8)
    fig.suptitle(title)
    return _png(fig)


def horizontal_bars(title: str, labels: list[str], values: list[float], xlabel: str) -> bytes:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(labels) + 1.2))
    ax.barh(labels[::-1], values[::-1], color="#4c78a8")
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def panels(title: str, xs: list[float], xlabel: str, groups: list[tuple[str, str, dict[str, list[float]]]]) -> bytes:
    """Side-by-side panels sharing the x axis, one per unit (panel title, y label, series):
    a loss, a count and seconds never share one y axis."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(groups), figsize=(3.6 * len(groups) + 0.6, 3.2), squeeze=False)
    for ax, (panel_title, ylabel, series) in zip(axes[0], groups):
        for name, ys in series.items():
            ax.plot(xs[: len(ys)], ys, marker="o", markersize=3, label=name)
        ax.set_title(panel_title, fontsize=10)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if len(series) > 1:
            ax.legend(fontsize=8)
    fig.suptitle(title)
    return _png(fig)
