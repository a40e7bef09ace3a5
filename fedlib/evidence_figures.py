"""Figures of the plan's evidence: arms and languages as dots with their 95 % intervals.

Dots with intervals rather than bars: a bar's length suggests a quantity from 0, while what a reader
needs here is where each arm lies and whether two intervals overlap. One colour per arm across every
chapter (Okabe-Ito, safe for colour-blind readers).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from fedlib import paper
from fedlib.data.tasks import get_task
from fedlib.evidence import PAPER_PARADIGM, ArmResult
from fedlib.evidence_tables import arm_table, language_table

ARM_COLOURS = {
    "fed-ptuning": "#0072B2", "fed-prompt": "#56B4E9", "mono-ptuning": "#E69F00", "central-ptuning": "#009E73",
    "fed-lora": "#CC79A7", "fed-full": "#D55E00", "fed-ptuning-noniid": "#999999",
}


def arm_colour(key: str) -> str:
    return ARM_COLOURS.get(key, "#000000")


def _chance(task: str) -> float:
    return 100 / get_task(task).num_labels


def plot_arms(task: str, results: dict[str, ArmResult], ax=None, title: str | None = None):
    """Each arm's mean accuracy with its interval; the paper's value (hollow diamond) and chance (dashed)."""
    table = arm_table(results)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 0.5 * len(table) + 1.2))
    y = np.arange(len(table))[::-1]
    reported = paper.reported_averages(task)
    for yi, row in zip(y, table.itertuples(index=False), strict=True):
        colour = arm_colour(row.arm)
        ax.errorbar(row.accuracy, yi, xerr=[[row.accuracy - row.low], [row.high - row.accuracy]], fmt="o",
                    color=colour, capsize=3, label=None)
        value = reported.get(PAPER_PARADIGM.get(row.arm, ""))
        if value is not None:
            ax.plot(value, yi, marker="D", mfc="none", mec=colour, ms=7, ls="none")
    ax.axvline(_chance(task), color="grey", ls="--", lw=1)
    ax.set_yticks(y, [f"{row.arm}{' (collapsed)' if row.collapsed else ''}" for row in table.itertuples()])
    ax.set_xlabel("test accuracy (%), mean over languages, 95 % interval")
    handles = [plt.Line2D([], [], marker="o", color="black", ls="none", label="ours"),
               plt.Line2D([], [], marker="D", mfc="none", mec="black", ls="none", label="paper (its own data)"),
               plt.Line2D([], [], color="grey", ls="--", label="chance")]
    ax.legend(handles=handles, loc="lower right", fontsize="small", frameon=False)
    ax.set_title(title or task)
    return ax


def plot_languages(task: str, results: dict[str, ArmResult], ax=None, title: str | None = None):
    """Per language, each arm's accuracy with its interval (languages down the page, so 16 fit)."""
    table = language_table(results)
    languages = list(dict.fromkeys(table["language"]))
    arms = list(dict.fromkeys(table["arm"]))
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 0.35 * len(languages) * max(1, len(arms) / 3) + 1.2))
    step = 0.8 / max(1, len(arms))
    base = np.arange(len(languages))[::-1]
    for i, arm in enumerate(arms):
        rows = table[table["arm"] == arm].set_index("language").reindex(languages)
        y = base + 0.4 - step * (i + 0.5)
        ax.errorbar(rows["accuracy"], y, xerr=[rows["accuracy"] - rows["low"], rows["high"] - rows["accuracy"]],
                    fmt="o", ms=4, color=arm_colour(arm), capsize=2, label=arm)
    ax.axvline(_chance(task), color="grey", ls="--", lw=1, label="chance")
    ax.set_yticks(base, languages)
    ax.set_xlabel("test accuracy (%), 95 % interval over seeds and test sentences")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small", frameon=False)
    ax.set_title(title or task)
    return ax
