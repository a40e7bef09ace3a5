"""The method in one picture: language clients around a server, each with the frozen backbone and the
small trainable part, and what travels each round — labelled with counts from the backbone's
configuration (:func:`fedlib.accounting.count_for`), never typed in."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from fedlib.accounting import BYTES_PER_PARAMETER, count_for

FROZEN, TRAINED, SERVER = "#D9D9D9", "#0072B2", "#009E73"


def _size(parameters: int) -> str:
    megabytes = parameters * BYTES_PER_PARAMETER / 1e6
    return f"{megabytes:,.1f} MB" if megabytes >= 1 else f"{megabytes * 1e3:,.0f} kB"


def _box(ax, x, y, w, h, colour, text, *, text_colour="black", size=9):
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02,rounding_size=0.03", fc=colour,
                                ec="#444444", lw=0.8))
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=size, color=text_colour)


def method_numbers(backbone: str = "FacebookAI/xlm-roberta-base", method: str = "ptuning",
                   num_labels: int = 10) -> dict[str, object]:
    """What the figure prints: parameter counts and the bytes one client sends per round."""
    count = count_for(backbone, method, num_labels)
    full = count_for(backbone, "full", num_labels)
    return {"backbone": backbone, "method": method, "total": count.total, "trainable": count.trainable,
            "frozen": count.total - count.trainable, "sent": _size(count.communicated),
            "full_sent": _size(full.communicated), "saving_pct": 100 * count.communication_saving}


def plot_method(languages=("sw", "yo", "ha", "am"), *, backbone: str = "FacebookAI/xlm-roberta-base",
                method: str = "ptuning", num_labels: int = 10, ax=None):
    """Clients (one per language) under a server: frozen encoder in grey, trained prompt and head in
    blue; the arrows carry the trained part only, its size per client and round from the config."""
    n = method_numbers(backbone, method, num_labels)
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4.6))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")
    _box(ax, 0.15, 0.82, 0.70, 0.12, SERVER, "server: FedAvg of the prompts and heads (Flower ServerApp)",
         text_colour="white")
    width = 0.9 / len(languages)
    for i, lang in enumerate(languages):
        x = 0.05 + i * width
        w = width - 0.03
        ax.text(x + w / 2, 0.44, f"client {lang}", ha="center", va="bottom", fontsize=8.5, weight="bold")
        _box(ax, x, 0.25, w, 0.17, TRAINED, f"prompt encoder + head\n{n['trainable'] / 1e6:.2f} M trained",
             text_colour="white", size=8)
        _box(ax, x, 0.04, w, 0.18, FROZEN, f"frozen encoder\n{n['frozen'] / 1e6:.0f} M, never sent", size=8)
        top = 0.15 + 0.7 * (i + 0.5) / len(languages)  # where this client's arrow meets the server
        ax.add_patch(FancyArrowPatch((x + w / 2, 0.50), (top, 0.81), arrowstyle="<|-|>", mutation_scale=10,
                                     color=TRAINED, lw=1.2))
    ax.text(0.5, 0.655, f"per round and client, each way: {n['sent']} (full fine-tuning: {n['full_sent']}; "
            f"{n['saving_pct']:.2f} % less)\nno text, no token ids: each client's data stays with it",
            ha="center", va="center", fontsize=8.5, bbox={"fc": "white", "ec": "none", "alpha": 0.95})
    ax.set_title(f"Federated prompt tuning on {backbone.split('/')[-1]}", fontsize=10)
    return ax
