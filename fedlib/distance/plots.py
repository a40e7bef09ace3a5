"""Figures of the language-distance study: matrices, resources, agreement, and gain against candidates.

CC-100 size is drawn on a log axis: it spans three orders of magnitude and is never negative. A log
axis has no 0, so the languages CC-100 lacks (0 GiB) sit in a separate strip left of it, marked
"not in CC-100", rather than on a symlog scale whose linear region and negative ticks mean nothing
for a corpus size. Colours follow chapter 1: blue for languages in CC-100, orange for the others.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

# (column of a language_table, axis label) of the candidates plotted against the gain.
GAIN_CANDIDATES = (("syntactic_to_en", "syntactic distance to English"),
                   ("model_cosine_to_en", "model distance to English"),
                   ("cc100_gib", "CC-100 size (GiB, log scale)"))
CC100_SOURCE = "Conneau et al. 2020, Table 6"
ABSENT = "not in\nCC-100"  # the strip's tick label


def _coverage_colours() -> dict[bool, tuple]:
    """in CC-100 -> colour, from seaborn's colour-blind palette (chapter 1 uses the same two)."""
    import seaborn as sns

    blue, orange = sns.color_palette("colorblind", 2)
    return {True: blue, False: orange}


def _cc100_axes(fig, strip_cell, axis_cell, limits: tuple[float, float] | None = None):
    """A log axis of CC-100 size in ``axis_cell`` and, in ``strip_cell`` left of it, a strip for the
    languages CC-100 lacks.

    The two share the y axis; the strip has one x position (0), labelled "not in CC-100", and the
    break between them is marked by diagonal ticks. ``limits`` fixes the log axis's range (GiB), so
    that several panels share one scale. Returns ``(strip, axis)``.
    """
    from matplotlib.ticker import LogLocator, NullFormatter

    strip = fig.add_subplot(strip_cell)
    axis = fig.add_subplot(axis_cell, sharey=strip)
    strip.set_xlim(-1, 1)
    strip.set_xticks([0], [ABSENT])
    strip.set_facecolor("0.95")
    strip.spines["right"].set_visible(False)
    axis.spines["left"].set_visible(False)
    axis.set_facecolor("none")  # names written in the strip may run on over the break
    axis.set_xscale("log")
    if limits is not None:
        axis.set_xlim(*limits)
    axis.xaxis.set_major_locator(LogLocator(base=10))
    axis.xaxis.set_minor_formatter(NullFormatter())
    axis.tick_params(axis="y", left=False, labelleft=False)
    marks = dict(marker=[(-1, -2), (1, 2)], markersize=8, linestyle="none", color="k", mew=1, clip_on=False)
    strip.plot([1, 1], [0, 1], transform=strip.transAxes, **marks)
    axis.plot([0, 0], [0, 1], transform=axis.transAxes, **marks)
    return strip, axis


def _cc100_limits(sizes: pd.Series) -> tuple[float, float] | None:
    """A log axis's range around the positive CC-100 sizes (GiB): half the smallest to twice the largest."""
    positive = sizes[sizes > 0]
    return (float(positive.min()) / 2, float(positive.max()) * 2) if len(positive) else None


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
    """CC-100 size per language on a log axis; languages outside CC-100 in a strip left of it."""
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(7, 0.25 * len(resources) + 1.2), layout="constrained")
    grid = fig.add_gridspec(1, 2, width_ratios=(0.12, 0.88))
    strip, axis = _cc100_axes(fig, grid[0, 0], grid[0, 1], _cc100_limits(resources["cc100_gib"]))
    present = resources["in_pretraining"].to_numpy()
    rows = np.arange(len(resources))
    colours = _coverage_colours()
    axis.hlines(rows[present], 0, resources.loc[present, "cc100_gib"], color="0.85", lw=1, zorder=1)
    axis.scatter(resources.loc[present, "cc100_gib"], rows[present], color=colours[True], zorder=2)
    strip.scatter(np.zeros((~present).sum()), rows[~present], color=colours[False], zorder=2)
    strip.set_yticks(rows, resources["name"])
    strip.set_ylim(-1, len(resources))
    axis.grid(axis="x", which="major", color="0.9")
    axis.set_xlabel(f"CC-100 size (GiB, log scale; {CC100_SOURCE})")
    return fig


def plot_agreement(agreement: pd.DataFrame):
    """The rank agreement between distance kinds, annotated."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, ax = plt.subplots(figsize=(6.5, 5))
    sns.heatmap(agreement, ax=ax, annot=True, fmt=".2f", cmap="vlag", vmin=-1, vmax=1, square=True)
    fig.tight_layout()
    return fig


def plot_gain_scatter(tables: dict[str, pd.DataFrame], candidates=GAIN_CANDIDATES, *, width: float = 10.0):
    """Per task (rows) and candidate (columns): each language's gain against the candidate.

    The CC-100 candidate is a log axis with the languages CC-100 lacks in a strip left of it. ``width``
    (inches) stays near the page's column, so that the language names stay readable there.
    """
    import matplotlib.pyplot as plt

    widths = [w for column, _ in candidates for w in ((0.3, 0.8) if column == "cc100_gib" else (1,))]
    fig = plt.figure(figsize=(width, 4.2 * len(tables)), layout="constrained")
    grid = fig.add_gridspec(len(tables), len(widths), width_ratios=widths)
    colours = _coverage_colours()
    limits = (_cc100_limits(pd.concat([t["cc100_gib"] for t in tables.values()]))
              if tables and any(column == "cc100_gib" for column, _ in candidates) else None)
    for r, (task, table) in enumerate(tables.items()):
        c = 0
        for column, label in candidates:
            if column == "cc100_gib":
                strip, ax = _cc100_axes(fig, grid[r, c], grid[r, c + 1], limits)
                parts = [(strip, table[~table["in_pretraining"]], 0.0), (ax, table[table["in_pretraining"]], None)]
                strip.set_ylabel(f"{task}: gain (points)")
                c += 2
            else:
                ax = fig.add_subplot(grid[r, c])
                parts = [(ax, table, None)]
                ax.set_ylabel(f"{task}: gain (points)")
                c += 1
            for target, part, x in parts:
                xs = np.full(len(part), x) if x is not None else part[column].to_numpy()
                target.scatter(xs, part["gain"], s=40, c=[colours[bool(v)] for v in part["in_pretraining"]])
                for xv, (_, language) in zip(xs, part.iterrows(), strict=True):
                    note = target.annotate(language["language"], (xv, language["gain"]), fontsize=8,
                                           xytext=(3, 3), textcoords="offset points")
                    note.set_in_layout(target is ax)  # a strip's names may run over the break
                target.axhline(0, color="gray", lw=0.8)
            ax.set_xlabel(label)
    handles = [plt.Line2D([], [], marker="o", ls="", color=colours[v], label=name)
               for v, name in ((True, "in CC-100"), (False, "not in CC-100"))]
    fig.legend(handles=handles, title="XLM-R pre-training corpus", loc="outside upper right", ncols=2)
    return fig
