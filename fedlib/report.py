"""Run a paradigm comparison over seeds and turn the artifacts into tables and figures.

Notebooks call these; every number they print or glue comes from the artifacts returned here.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from fedlib.config import Profile, get_profile
from fedlib.experiment import ExperimentConfig
from fedlib.paradigms import run_experiment


@dataclasses.dataclass(frozen=True)
class Arm:
    """One column of a comparison table: a paradigm plus the settings that distinguish it."""

    key: str
    label: str
    overrides: tuple[tuple[str, object], ...] = ()
    max_seeds: int | None = None  # run on the first max_seeds seeds only; None = every seed


# Full fine-tuning updates every backbone weight: at the prompt's learning rate (5e-3 on the cpu
# profile) it diverged to the majority class (25 % on the NC stand-in, seed 0). The paper does not
# publish its full fine-tuning rate; 5e-5 is the usual order for fine-tuning XLM-R-sized encoders.
FULL_FT_LR = 5e-5


def paper_arms(profile: Profile, *, noniid_clients: int = 2, alpha: float = 0.5) -> list[Arm]:
    """The paper's comparison: baselines, federated prompt tuning, federated full FT and LoRA.

    The three paradigms of the headline comparison run on every seed of ``profile``; the secondary
    arms (non-IID, full fine-tuning, LoRA) on its first ``secondary_seeds`` seeds (``None`` = every
    seed), which is what keeps the ``cpu`` profile affordable.
    """
    secondary_seeds = profile.secondary_seeds
    return [
        Arm("monolingual", "Monolingual", (("paradigm", "monolingual"),)),
        Arm("centralized", "Centralized", (("paradigm", "centralized"),)),
        Arm("federated", "Federated prompt", (("paradigm", "federated"),)),
        Arm("federated-noniid", f"Federated prompt, non-IID (α={alpha})",
            (("paradigm", "federated"), ("partition", "dirichlet"),
             ("clients_per_language", noniid_clients), ("alpha", alpha)), secondary_seeds),
        Arm("federated-full", "Federated full FT", (("paradigm", "federated-full"), ("lr", FULL_FT_LR)),
            secondary_seeds),
        Arm("federated-lora", "Federated LoRA", (("paradigm", "federated-lora"),), secondary_seeds),
    ]


def run_comparison(task: str, arms: list[Arm], *, profile: Profile, seeds=None, progress: bool | None = None,
                   load_only: bool = False, **common) -> pd.DataFrame:
    """Run (or load) every arm x seed of ``profile``; one tidy row per arm, seed and language.

    ``seeds`` defaults to the profile's; ``common`` sets any other config field for every arm.
    ``load_only=True`` never trains: runs without an artifact are left out (the claims ledger uses
    this to report only what has been computed).
    """
    from fedlib.artifacts import artifact_path, load_artifact
    from fedlib.data import task_file_name

    seeds = tuple(seeds if seeds is not None else profile.seeds)
    rows = []
    jobs = [(arm, seed) for arm in arms for seed in seeds[: arm.max_seeds]]
    for arm, seed in tqdm(jobs, desc=f"{task_file_name(task)} runs", disable=progress is False or load_only):
        config = ExperimentConfig(task=task, seed=seed, profile=profile.name, **{**common, **dict(arm.overrides)})
        if load_only:
            path = artifact_path(config)
            if not path.exists():
                continue
            artifact = load_artifact(path)
        else:
            artifact = run_experiment(config, progress=False)
        cfg = artifact["config"]
        sent = [c["sent"] for c in artifact.get("bytes_per_round", {}).values()]
        for lang, metrics in artifact["per_language"].items():
            rows.append({
                "arm": arm.key, "label": arm.label, "seed": seed, "lang": lang,
                "paradigm": cfg["paradigm"], "method": cfg["method"],
                "train_per_client": cfg["train_per_client"],
                "bytes_sent_per_round": float(np.mean(sent)) if sent else np.nan,
                "rounds_run": len(artifact["history"]["rounds"]) if "history" in artifact else np.nan,
                "accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"],
                "trainable": artifact["parameters"]["trainable"],
                "communicated": artifact["parameters"]["communicated"],
                "wall_seconds": artifact["wall_seconds"], "run_name": artifact["run_name"],
                "profile": artifact["profile"], "backbone": artifact["backbone"],
            })
    columns = ["arm", "label", "seed", "lang", "paradigm", "method", "train_per_client", "accuracy",
               "macro_f1"]
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=columns)


def run_times(results: pd.DataFrame) -> pd.DataFrame:
    """Compute spent per arm: one row per *run* (a tidy results frame repeats a run per language)."""
    runs = results.drop_duplicates("run_name")
    return runs.groupby("label", sort=False).agg(
        runs=("run_name", "count"), minutes=("wall_seconds", lambda s: round(float(s.sum()) / 60, 1)))


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


def paired_seeds(results: pd.DataFrame, arm: str, baseline: str) -> list[int]:
    """The seeds on which both arms ran: a gain compares the two on the same seeds only."""
    ran = results.groupby("arm")["seed"].apply(set)
    return sorted(ran.get(arm, set()) & ran.get(baseline, set()))


def gain_over(results: pd.DataFrame, arm: str, baseline: str, metric: str = "accuracy") -> pd.DataFrame:
    """Per language: ``arm`` minus ``baseline`` in points (mean over the seeds both arms ran)."""
    paired = results[results["seed"].isin(paired_seeds(results, arm, baseline))]
    means = paired.groupby(["lang", "arm"])[metric].mean().mul(100).unstack()
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


def headline_numbers(results: pd.DataFrame, task: str, prefix: str) -> dict[str, float | int]:
    """The numbers a chapter's prose quotes, named ``{prefix}_{what}``, ready for MyST-NB ``glue``.

    Per arm: mean accuracy over seeds (``{prefix}_{arm}``) and the paper's reported average where it
    reports one (``{prefix}_paper_{arm}``); the federated gain over monolingual in points and the number
    of languages where it is positive; the number of seeds behind the federated mean.
    """
    from fedlib.paper import reported

    averages = seed_averages(results).set_index("arm")
    headline_seeds = averages["seeds"].get("federated", averages["seeds"].max())  # secondary arms run fewer
    numbers: dict[str, float | int] = {f"{prefix}_seeds": int(headline_seeds),
                                       f"{prefix}_languages": int(results["lang"].nunique())}
    for arm, row in averages.iterrows():
        key = arm.replace("-", "_")
        numbers[f"{prefix}_{key}"] = float(row["mean"])
        numbers[f"{prefix}_{key}_sd"] = float(row["std"]) if row["seeds"] > 1 else 0.0
        paper_value = reported(task, arm)
        if paper_value is not None:
            numbers[f"{prefix}_paper_{key}"] = float(paper_value)
    if {"federated", "monolingual"} <= set(averages.index):
        gain = gain_over(results, "federated", "monolingual")
        numbers[f"{prefix}_gain"] = float(averages.loc["federated", "mean"] - averages.loc["monolingual", "mean"])
        numbers[f"{prefix}_gain_languages"] = int((gain["gain"] > 0).sum())
    return numbers


def budget_summary(task: str, profile: Profile, **overrides) -> str:
    """One sentence stating the budget a chapter's runs use (profile, backbone, rows, rounds)."""
    cfg = ExperimentConfig(task=task, profile=profile.name, **overrides).resolved()

    def rows(n: int | None) -> str:
        return "all" if n is None else f"{n:,}"

    return (f"profile {cfg.profile}: backbone {cfg.backbone}, {len(cfg.languages)} language clients with "
            f"{rows(cfg.train_per_client)} training, {rows(cfg.val_per_client)} validation and "
            f"{rows(cfg.eval_per_client)} test rows each, {cfg.rounds} rounds of {cfg.local_epochs} local "
            f"epoch(s), batch {cfg.batch_size}, learning rate {cfg.lr:g}, at most {cfg.max_length} tokens, "
            f"{cfg.num_virtual_tokens} virtual tokens")


def profile_table(tasks=("nc_standin", "xnli", "masakhanews")) -> pd.DataFrame:
    """The budget every profile gives every chapter task, as resolved by the experiment config."""
    from fedlib.config import PROFILES

    rows = []
    for name in PROFILES:
        for task in tasks:
            cfg = ExperimentConfig(task=task, profile=name).resolved()
            rows.append({"profile": name, "task": task, "backbone": cfg.backbone, "clients": len(cfg.languages),
                         "train/client": cfg.train_per_client or "all", "val/client": cfg.val_per_client or "all",
                         "test/client": cfg.eval_per_client or "all", "rounds": cfg.rounds,
                         "batch": cfg.batch_size, "lr": cfg.lr, "max tokens": cfg.max_length,
                         "seeds": len(get_profile(name).seeds)})
    return pd.DataFrame(rows).set_index(["profile", "task"])
