"""Results at a glance (the introduction): ours beside the paper's for Tables 1-3, from the plan's
artifacts only, with intervals, and our worst language beside our average (the paper reports no
worst language); the claims' verdicts come from :mod:`fedlib.claims`."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from fedlib import paper
from fedlib.claims import CHAPTER_TASKS
from fedlib.display import for_reader
from fedlib.evidence import PAPER_PARADIGM, task_results
from fedlib.evidence_figures import plot_arms
from fedlib.evidence_tables import MISSING, interval_text
from fedlib.stats import arm_estimate, worst_language

TASK_TITLES = {"nc_standin": "Table 1: news classification (SIB-200 stand-in, 5 languages)",
               "xnli": "Table 2: XNLI (15 languages; a pilot here)",
               "masakhanews": "Table 3: MasakhaNEWS (16 African languages)"}
PARADIGM_NAMES = {"federated": "federated prompt tuning", "monolingual": "monolingual",
                  "centralized": "centralized", "federated-lora": "federated LoRA"}


def glance_table(profile: str = "cpu") -> pd.DataFrame:
    """One row per task and paradigm the paper reports: our accuracy with its interval, our worst
    language with its accuracy and interval, the paper's accuracy."""
    rows = []
    for task in CHAPTER_TASKS:
        results = task_results(task, profile=profile)
        for arm, paradigm in PAPER_PARADIGM.items():
            reported = paper.reported(task, paradigm)
            if reported is None:
                continue
            ours = (interval_text(arm_estimate(results[arm].outcomes)) if arm in results else MISSING)
            seeds = f"{len(results[arm].seeds)} of {len(results[arm].planned_seeds)}" if arm in results else "—"
            worst = MISSING
            if arm in results:
                language, estimate = worst_language(results[arm].outcomes)
                worst = f"{language} {interval_text(estimate)}"
            rows.append({"table": TASK_TITLES[task], "paradigm": PARADIGM_NAMES[paradigm], "ours": ours,
                         "worst language": worst, "seeds": seeds, "paper": f"{reported:g} %"})
    return pd.DataFrame(rows)


def shown_glance(profile: str = "cpu"):
    return for_reader(glance_table(profile).rename(columns={"ours": "ours (%) [95 % CI]",
                                                            "worst language": "ours, worst language (%) [95 % CI]",
                                                            "paper": "paper (its data, XLM-R base)"}))


def plot_glance(profile: str = "cpu"):
    """One panel per task with artifacts: the paper's arms as dots with intervals, the paper as diamonds."""
    tasks = [t for t in CHAPTER_TASKS if task_results(t, profile=profile)]
    fig, axes = plt.subplots(len(tasks) or 1, 1, figsize=(7, 2.2 * max(1, len(tasks)) + 0.6), squeeze=False)
    for ax, task in zip(axes[:, 0], tasks, strict=False):
        results = {k: v for k, v in task_results(task, profile=profile).items() if k in PAPER_PARADIGM}
        plot_arms(task, results, ax=ax, title=TASK_TITLES[task])
    if not tasks:
        axes[0, 0].text(0.5, 0.5, "no plan artifacts yet", ha="center")
        axes[0, 0].axis("off")
    fig.tight_layout()
    return fig
