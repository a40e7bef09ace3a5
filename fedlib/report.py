"""Run a paradigm comparison over seeds and turn the artifacts into tables and figures.

Notebooks call these; every number they print or glue comes from the artifacts returned here.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from fedlib.config import get_profile
from fedlib.experiment import ExperimentConfig
from fedlib.paradigms import run_experiment


@dataclasses.dataclass(frozen=True)
class Arm:
    """One column of a comparison table: a paradigm plus the settings that distinguish it."""

    key: str
    label: str
    overrides: tuple[tuple[str, object], ...] = ()


def paper_arms(*, noniid_clients: int = 2, alpha: float = 0.5) -> list[Arm]:
    """The paper's comparison: baselines, federated prompt tuning, federated full FT and LoRA."""
    return [
        Arm("monolingual", "Monolingual", (("paradigm", "monolingual"),)),
        Arm("centralized", "Centralized", (("paradigm", "centralized"),)),
        Arm("federated", "Federated prompt", (("paradigm", "federated"),)),
        Arm("federated-noniid", f"Federated prompt, non-IID (α={alpha})",
            (("paradigm", "federated"), ("partition", "dirichlet"),
             ("clients_per_language", noniid_clients), ("alpha", alpha))),
        Arm("federated-full", "Federated full FT", (("paradigm", "federated-full"),)),
        Arm("federated-lora", "Federated LoRA", (("paradigm", "federated-lora"),)),
    ]


def run_comparison(task: str, arms: list[Arm], *, seeds=None, progress: bool | None = None,
                   **common) -> pd.DataFrame:
    """Run (or load) every arm x seed; one tidy row per arm, seed and language."""
    seeds = tuple(seeds if seeds is not None else get_profile(common.get("profile")).seeds)
    rows = []
    jobs = [(arm, seed) for arm in arms for seed in seeds]
    for arm, seed in tqdm(jobs, desc=f"{task} runs", disable=progress is False):
        config = ExperimentConfig(task=task, seed=seed, **{**common, **dict(arm.overrides)})
        artifact = run_experiment(config, progress=False)
        for lang, metrics in artifact["per_language"].items():
            rows.append({
                "arm": arm.key, "label": arm.label, "seed": seed, "lang": lang,
                "accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"],
                "trainable": artifact["parameters"]["trainable"],
                "communicated": artifact["parameters"]["communicated"],
                "wall_seconds": artifact["wall_seconds"], "run_name": artifact["run_name"],
                "profile": artifact["profile"], "backbone": artifact["backbone"],
            })
    return pd.DataFrame(rows)


def seed_averages(results: pd.DataFrame, metric: str = "accuracy") -> pd.DataFrame:
    """Per arm: mean and standard deviation over seeds of the language-averaged metric (percent)."""
    per_seed = results.groupby(["arm", "label", "seed"], sort=False)[metric].mean().mul(100).reset_index()
    out = per_seed.groupby(["arm", "label"], sort=False)[metric].agg(["mean", "std", "count"]).reset_index()
    return out.rename(columns={"count": "seeds"})


def comparison_table(results: pd.DataFrame, metric: str = "accuracy") -> pd.DataFrame:
    """Languages x arms, cells 'mean ± std' over seeds in percent, plus an 'average' row."""
    labels = list(dict.fromkeys(results["label"]))
    per_lang = results.groupby(["lang", "label"], sort=False)[metric].agg(["mean", "std"]).mul(100)
    averages = seed_averages(results, metric).set_index("label")

    def cell(mean: float, std: float) -> str:
        return f"{mean:.1f}" if np.isnan(std) else f"{mean:.1f} ± {std:.1f}"

    langs = list(dict.fromkeys(results["lang"]))
    table = pd.DataFrame(
        {label: [cell(*per_lang.loc[(lang, label)]) for lang in langs] for label in labels}, index=langs)
    table.loc["average"] = [cell(averages.loc[label, "mean"], averages.loc[label, "std"]) for label in labels]
    table.index.name = "language"
    return table


def gain_over(results: pd.DataFrame, arm: str, baseline: str, metric: str = "accuracy") -> pd.DataFrame:
    """Per language: ``arm`` minus ``baseline`` in points (mean over seeds)."""
    means = results.groupby(["lang", "arm"])[metric].mean().mul(100).unstack()
    return (means[arm] - means[baseline]).rename("gain").reset_index()


def plot_comparison(results: pd.DataFrame, metric: str = "accuracy", ax=None, title: str | None = None):
    """Grouped bars per language and arm, with the spread over seeds as error bars."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    data = results.assign(value=results[metric] * 100)
    if ax is None:
        width = max(6.0, 0.55 * data["lang"].nunique() * max(1, data["arm"].nunique() / 2))
        _, ax = plt.subplots(figsize=(min(width, 16), 4))
    sns.barplot(data=data, x="lang", y="value", hue="label", errorbar="sd", ax=ax, palette="colorblind")
    ax.set_xlabel("language (client)")
    ax.set_ylabel(f"test {metric.replace('_', ' ')} (%)")
    ax.legend(title=None, fontsize="small", ncols=3, loc="upper center", bbox_to_anchor=(0.5, -0.18))
    if title:
        ax.set_title(title)
    return ax
