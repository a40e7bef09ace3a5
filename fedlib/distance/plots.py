"""Figures of the language-distance study: matrices, resources, agreement, and gain against candidates."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

# (column of a language_table, axis label) of the candidates plotted against the gain.
GAIN_CANDIDATES = (("syntactic_to_en", "syntactic distance to English"),
                   ("model_cosine_to_en", "model distance to English"),
                   ("cc100_gib", "CC-100 size (GiB, symlog)"))


def plot_matrices(matrices: dict[str, pd.DataFrame], kinds: Sequence[str]):
    """One heatmap per distance kind, side by side; blank cells are undefined distances."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, axes = plt.subplots(1, len(kinds), figsize=(16 / 3 * len(kinds), 4.8), squeeze=False)
    for ax, kind in zip(axes[0], kinds, strict=False):
        sns.heatmap(matrices[kind], ax=ax, cmap="viridis", square=True, cbar_kws={"shrink": 0.8})
        ax.set_title(f"{kind} distance")
        ax.set_xlabel("")
        ax.set_ylabel("")
    fig.tight_layout()
    return fig


def plot_resources(resources: pd.DataFrame):
    """CC-100 size per language on a log scale; languages outside CC-100 are labelled, not drawn."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, ax = plt.subplots(figsize=(7, 0.25 * len(resources) + 1))
    present = resources["in_pretraining"].to_numpy()
    rows = np.arange(len(resources))
    floor = resources.loc[present, "cc100_gib"].min() / 2  # a log axis has no 0: where the labels go
    ax.barh(rows[present], resources.loc[present, "cc100_gib"], left=0, color=sns.color_palette("colorblind")[0])
    for row in rows[~present]:
        ax.text(floor, row, "not in CC-100", va="center", color="gray")
    ax.set_yticks(rows, resources["name"])
    ax.set_xscale("log")
    ax.set_xlim(left=floor / 2)
    ax.set_ylim(-1, len(resources))
    ax.set_xlabel("CC-100 size (GiB, log scale; Conneau et al. 2020, Table 6)")
    fig.tight_layout()
    return fig


def plot_agreement(agreement: pd.DataFrame):
    """The rank agreement between distance kinds, annotated."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, ax = plt.subplots(figsize=(6.5, 5))
    sns.heatmap(agreement, ax=ax, annot=True, fmt=".2f", cmap="vlag", vmin=-1, vmax=1, square=True)
    fig.tight_layout()
    return fig


def plot_gain_scatter(tables: dict[str, pd.DataFrame], candidates=GAIN_CANDIDATES):
    """Per task (rows) and candidate (columns): each language's gain against the candidate."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, axes = plt.subplots(len(tables), len(candidates), figsize=(14, 3.6 * len(tables)), squeeze=False)
    for row, (task, table) in zip(axes, tables.items(), strict=False):
        for ax, (column, label) in zip(row, candidates, strict=False):
            sns.scatterplot(data=table, x=column, y="gain", hue="in_pretraining", ax=ax, s=50,
                            palette={True: "tab:blue", False: "tab:orange"})
            for _, language in table.iterrows():
                ax.annotate(language["language"], (language[column], language["gain"]), fontsize=8,
                            xytext=(3, 3), textcoords="offset points")
            ax.axhline(0, color="gray", lw=0.8)
            ax.set_xlabel(label)
            ax.set_ylabel(f"{task}: gain (points)")
            if column == "cc100_gib":
                ax.set_xscale("symlog", linthresh=0.1)
    fig.tight_layout()
    return fig
