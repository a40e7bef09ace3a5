"""Accuracy against the level of differential-privacy noise on the prompt update.

Federated prompt tuning with central DP and client-side clipping (see
:mod:`fedlib.federated.strategies`): each client clips its update to L2 norm ``clipping_norm``, the
server adds Gaussian noise with standard deviation ``noise_multiplier * clipping_norm / clients`` to
the aggregate. :func:`dp_sweep` runs (or loads) one federated experiment per noise level and seed and
returns the test accuracy of each, for a book chapter's table or plot.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd

from fedlib.config import Profile
from fedlib.experiment import ExperimentConfig, ResolvedConfig

COLUMNS = ("noise_multiplier", "clipping_norm", "noise_std", "seed", "accuracy", "macro_f1", "best_round",
           "run_name")


def dp_configs(task: str, noise_levels: Iterable[float], *, profile: Profile, clipping_norm: float = 1.0,
               seeds: Sequence[int] | None = None, include_no_dp: bool = True,
               **overrides) -> list[ResolvedConfig]:
    """The resolved configs of a sweep (validated, so bad input fails before any run starts).

    ``include_no_dp`` adds, per seed, the same run without DP (no clipping, no noise) as reference.
    ``seeds`` defaults to the profile's; ``overrides``: any other :class:`ExperimentConfig` field
    (languages, strategy, rounds...).
    """
    levels = [float(n) for n in noise_levels]
    if not levels and not include_no_dp:
        raise ValueError("dp_sweep needs at least one noise level")
    overrides.setdefault("paradigm", "federated")
    overrides["profile"] = profile.name
    if seeds is None:
        seeds = profile.seeds
    configs = []
    for seed in seeds:
        if include_no_dp:
            configs.append(ExperimentConfig(task=task, seed=seed, **overrides).resolved())
        for noise in levels:
            configs.append(ExperimentConfig(task=task, seed=seed, dp_clipping_norm=float(clipping_norm),
                                            dp_noise_multiplier=noise, **overrides).resolved())
    return configs


def dp_sweep(task: str, noise_levels: Iterable[float], *, profile: Profile, clipping_norm: float = 1.0,
             seeds: Sequence[int] | None = None, include_no_dp: bool = True, progress: bool | None = None,
             force: bool | None = None, **overrides) -> pd.DataFrame:
    """Test accuracy of federated runs at each DP noise level: one row per (seed, noise level).

    The reference run without DP (``include_no_dp``) has ``noise_multiplier`` and ``clipping_norm``
    NaN. Artifacts are cached like every other run (same config, same artifact).
    """
    from fedlib.paradigms import run_experiment

    rows = []
    for cfg in dp_configs(task, noise_levels, profile=profile, clipping_norm=clipping_norm, seeds=seeds,
                          include_no_dp=include_no_dp, **overrides):
        artifact = run_experiment(cfg, force=force, progress=progress)
        dp = cfg.dp_clipping_norm is not None
        rows.append({
            "noise_multiplier": cfg.dp_noise_multiplier if dp else float("nan"),
            "clipping_norm": cfg.dp_clipping_norm if dp else float("nan"),
            "noise_std": cfg.dp_noise_multiplier * cfg.dp_clipping_norm / cfg.num_clients if dp else 0.0,
            "seed": cfg.seed, "accuracy": artifact["average"]["accuracy"],
            "macro_f1": artifact["average"]["macro_f1"], "best_round": artifact.get("best_round"),
            "run_name": artifact["run_name"],
        })
    return pd.DataFrame(rows, columns=list(COLUMNS))


def update_numbers(payload: pd.DataFrame, clients: int) -> dict[str, float | int]:
    """Size of the update a client sends (from :func:`fedlib.payload.payload_summary`), and the noise
    multiplier above which the noise vector on the average outgrows a clipped update (``clients / sqrt(d)``)."""
    elements = int(payload.loc[payload["record"].str.startswith("ArrayRecord"), "elements"].sum())
    return {"update_elements": elements, "dp_clients": clients, "dp_noise_threshold": clients / elements ** 0.5}


def dp_numbers(sweep: pd.DataFrame, noise_levels: Sequence[float], clipping_norm: float) -> dict[str, float]:
    """What chapter 9 quotes of a :func:`dp_sweep` with a reference run and ``noise_levels[0] == 0``:
    accuracy (%) and macro-F1 without DP, with clipping only, and at the middle and largest noise."""
    reference = sweep[sweep["noise_multiplier"].isna()]
    dp_runs = sweep.dropna(subset=["noise_multiplier"]).set_index("noise_multiplier")
    accuracy, f1 = dp_runs["accuracy"] * 100, dp_runs["macro_f1"]
    return {
        "dp_reference": float(reference["accuracy"].mean() * 100),
        "dp_clip_only": float(accuracy.loc[0.0]),
        "dp_small": float(accuracy.loc[noise_levels[2]]), "dp_small_z": noise_levels[2],
        "dp_large": float(accuracy.loc[noise_levels[-1]]), "dp_large_z": noise_levels[-1],
        "dp_clip": clipping_norm,
        "dp_reference_f1": float(reference["macro_f1"].mean()),
        "dp_clip_only_f1": float(f1.loc[0.0]),
        "dp_noise_effect": float((accuracy.drop(0.0) - accuracy.loc[0.0]).abs().max()),
    }


def shown_sweep(sweep: pd.DataFrame):
    """A :func:`dp_sweep` as a reader sees it: "no DP" instead of empty DP settings, accuracy in %."""
    from fedlib.display import for_reader

    dp = sweep["noise_multiplier"].notna()
    table = pd.DataFrame({
        "DP": ["clipping + noise" if on else "no DP" for on in dp],
        "noise multiplier z": [f"{z:g}" if on else "—" for z, on in zip(sweep["noise_multiplier"], dp, strict=True)],
        "clipping norm": [f"{c:g}" if on else "—" for c, on in zip(sweep["clipping_norm"], dp, strict=True)],
        "noise std on the average": [f"{s:.2g}" for s in sweep["noise_std"]],
        "seed": sweep["seed"].astype(int).to_numpy(),
        "test accuracy (%)": (sweep["accuracy"] * 100).to_numpy(),
        "macro-F1": [f"{f:.3f}" for f in sweep["macro_f1"]],
        "best round": sweep["best_round"].to_numpy(),
    })
    return for_reader(table)
