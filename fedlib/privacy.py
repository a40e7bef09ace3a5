"""Accuracy against the level of differential-privacy noise on the prompt update, and what it buys.

Federated prompt tuning with central DP and client-side clipping (see
:mod:`fedlib.federated.strategies`): each client clips its update to L2 norm ``clipping_norm``, the
server adds Gaussian noise with standard deviation ``noise_multiplier * clipping_norm / clients`` to
the aggregate. :func:`dp_sweep` runs (or loads) one federated experiment per noise level and seed and
returns the test accuracy of each, with its privacy budget ε (:func:`epsilon`), for a book chapter's
table or plot. :func:`clipping_norms` picks clipping norms from the update norms clients measured.

The privacy budget is client-level: neighbouring datasets differ by one client's whole training data.
Noise of ``z * C / n`` on the average of ``n`` updates clipped to ``C`` is noise ``z * C`` on their
sum, whose sensitivity to adding or removing one client is ``C``: a Gaussian mechanism with noise
multiplier ``z`` per round, composed over the rounds run (Rényi DP, Flower's ``RdpAccountant``).
That holds only under our set-up, which :func:`check_accountable` checks:

* equal client weights: FedAvg weights updates by training rows, so every client must hold as many;
* no sampling amplification: every client takes part in every round (no client failed in training);
* FedAvg: FedAdam adds the noise after its server optimizer step, FedProx is not accounted here.

The budget covers the parameters sent, not the validation and test metrics nor the update norms that
clients report in the clear.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from fedlib.config import Profile
from fedlib.experiment import ExperimentConfig, ResolvedConfig

COLUMNS = ("noise_multiplier", "clipping_norm", "noise_std", "epsilon", "seed", "accuracy", "macro_f1",
           "best_round", "run_name")


def epsilon(noise_multiplier: float, rounds: int, clients: int, delta: float | None = None) -> float:
    """Client-level ε after ``rounds`` rounds of noise multiplier ``noise_multiplier`` on the sum of
    ``clients`` clipped updates, at ``delta`` (default ``1 / clients``); ``inf`` without noise.

    δ = 1/N is weak: publishing each client's whole training data with probability δ is (0, δ)-DP, so
    at δ = 1/N a mechanism may publish one client's data outright and still qualify; a meaningful
    guarantee needs δ well below 1/N. It is reported anyway as the most favourable reading: any
    smaller δ gives a larger ε, so an ε that is already large at 1/N settles that the run protects
    little. Pass ``delta`` for a stricter one. Assumes what :func:`check_accountable` checks (see the
    module docstring).
    """
    if not noise_multiplier >= 0:
        raise ValueError(f"noise_multiplier must be >= 0 (got {noise_multiplier!r})")
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 0:
        raise ValueError(f"rounds must be a non-negative integer (got {rounds!r})")
    if isinstance(clients, bool) or not isinstance(clients, int) or clients < 1:
        raise ValueError(f"clients must be a positive integer (got {clients!r})")
    delta = 1 / clients if delta is None else float(delta)
    if rounds == 0:
        return 0.0
    if noise_multiplier == 0:
        return math.inf
    from flwr.serverapp import (  # needs flwr's `dp` extra (dp-accounting)
        GaussianPrivacyEvent,
        NeighboringRelation,
        PrivacyConfig,
        RdpAccountant,
        SamplingMethod,
    )

    accountant = RdpAccountant(PrivacyConfig(
        target_delta=delta, population_size=clients, neighboring_relation=NeighboringRelation.ADD_OR_REMOVE_ONE,
        sampling_method=SamplingMethod.NO_AMPLIFICATION))
    accountant.compose(GaussianPrivacyEvent(float(noise_multiplier), sample_size=clients, population_size=clients),
                       count=rounds)
    return accountant.get_epsilon(delta)


def check_accountable(config: ExperimentConfig, train_sizes: Sequence[int] | None = None) -> None:
    """Raise one ``ValueError`` listing every reason :func:`epsilon` would not hold for ``config``.

    ``train_sizes``: each client's training rows; by default those of :func:`fedlib.client_datasets.build_clients`.
    """
    cfg = config.resolved()
    problems = []
    if cfg.dp_clipping_norm is None:
        problems.append("the config has no differential privacy (dp_clipping_norm is None)")
    if cfg.strategy != "fedavg":
        problems.append(f"strategy={cfg.strategy!r}: ε is accounted for FedAvg only (uniform averaging, noise on "
                        "the average)")
    if train_sizes is None:
        from fedlib.client_datasets import build_clients

        train_sizes = [len(c.train) for c in build_clients(cfg)]
    if len(set(train_sizes)) > 1:
        problems.append(f"clients hold {sorted(set(train_sizes))} training rows: FedAvg weights them by rows, and "
                        "the accountant needs equal weights (use budgets every language meets, or partition='iid')")
    if problems:
        raise ValueError("the privacy budget does not apply:\n  - " + "\n  - ".join(problems))


def _history(history_or_artifact: dict) -> dict:
    return history_or_artifact.get("history", history_or_artifact)


def run_epsilon(config: ExperimentConfig, history_or_artifact: dict, delta: float | None = None) -> float:
    """ε of a finished run (:func:`epsilon` over the rounds it ran, at ``delta``, default 1/clients);
    NaN without DP. Raises when the run is not accountable (:func:`check_accountable`) or a client
    failed in training (that round averaged fewer updates than its noise was set for)."""
    cfg = config.resolved()
    if cfg.dp_clipping_norm is None:
        return math.nan
    check_accountable(cfg)
    history = _history(history_or_artifact)
    failed = [f for f in history.get("failures", []) if f["stage"] == "train"]
    if failed:
        raise ValueError(f"{len(failed)} client(s) failed in training (rounds {sorted({f['round'] for f in failed})}): "
                         "those rounds' noise was calibrated to more updates, so ε does not apply")
    return epsilon(cfg.dp_noise_multiplier, len(history["rounds"]), cfg.num_clients, delta)


def update_norms(history_or_artifact: dict) -> pd.DataFrame:
    """Each client's update norm before clipping, per round (``round, client, lang, update_norm``),
    as its train reply reported it (:mod:`fedlib.federated.client_app`)."""
    rows = [{"round": record["round"], "client": name, "lang": client.get("lang"), "update_norm": client["update_norm"]}
            for record in _history(history_or_artifact)["rounds"]
            for name, client in record["clients"].items() if "update_norm" in client]
    if not rows:
        raise ValueError("this history has no update norms: clients report them in their train replies "
                         "('update-norm'), and the server stores them per client and round as 'update_norm'")
    return pd.DataFrame(rows, columns=["round", "client", "lang", "update_norm"])


def update_norm_quantiles(history_or_artifact: dict, quantiles: Sequence[float] = (0.25, 0.5, 0.75), *,
                          first_round: bool = True) -> dict[float, float]:
    """``{q: q-quantile of the clients' update norms}``, of round 1 (``first_round``) or of every round.

    Round 1 by default: every client starts from the same initial model there, so these are the norms a
    clipping norm meets before clipping changes the run; later updates shrink as training converges.
    """
    norms = update_norms(history_or_artifact)
    if first_round:
        norms = norms[norms["round"] == norms["round"].min()]
    values = norms["update_norm"].to_numpy(dtype=float)
    return {float(q): float(np.quantile(values, q)) for q in quantiles}


def clipping_norms(history_or_artifact: dict, factors: Sequence[float] = (1.0, 0.5, 0.25), *, quantile: float = 0.5,
                   first_round: bool = True, digits: int = 3) -> list[float]:
    """Clipping norms at ``factors`` times the ``quantile`` of the measured update norms
    (:func:`update_norm_quantiles`), rounded to ``digits`` significant digits so that the configs (and
    run names) they go into read well.

    Factors of one quantile, not several quantiles: clients of equal size that start from one model
    send updates of nearly one norm (the NC stand-in's round-1 quartiles lie within 5 % of each
    other), so norms at the quartiles are one norm, and a sweep over them sweeps nothing. At the
    median about half the clients are clipped in round 1 (the usual choice, as in adaptive
    clipping's target quantile); a factor below 1 clips every update, which shrinks every step like a
    smaller learning rate but, the noise being ``z * C``, adds proportionally less noise at the same ε.
    """
    if not factors or any(not f > 0 for f in factors):
        raise ValueError(f"factors must be positive (got {list(factors)!r})")
    scale = update_norm_quantiles(history_or_artifact, (quantile,), first_round=first_round)[float(quantile)]
    return [float(f"{factor * scale:.{digits}g}") for factor in factors]


def clipping_scales(history_or_artifact: dict, clipping_norms: Sequence[float]) -> pd.DataFrame:
    """Per round of a run without DP and per clipping norm ``C``: the mean factor ``min(1, C / norm)``
    by which clipping at ``C`` would shrink that round's client updates (``round, clipping_norm,
    scale``), beside the round's median update norm (``median_norm``).

    Clipping every update to ``C`` below its norm is a step ``C / norm`` times shorter, like a learning
    rate that much smaller. A DP run cannot say how much its own clipping shrank (it does not send
    the unclipped norm), so the scale is read off its no-DP twin's updates: the same rows, start and
    rate, hence the same norms until the clipped run's trajectory departs from it.
    """
    if any(not c > 0 for c in clipping_norms):
        raise ValueError(f"clipping norms must be positive (got {list(clipping_norms)!r})")
    norms = update_norms(history_or_artifact)
    median = norms.groupby("round")["update_norm"].median().rename("median_norm")
    frames = [norms.assign(clipping_norm=float(c), scale=np.minimum(1.0, c / norms["update_norm"]))
              .groupby(["round", "clipping_norm"], as_index=False)["scale"].mean() for c in clipping_norms]
    return pd.concat(frames, ignore_index=True).merge(median, on="round")


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

    The reference run without DP (``include_no_dp``) has ``noise_multiplier``, ``clipping_norm`` and
    ``epsilon`` NaN; ``epsilon`` is :func:`run_epsilon` at δ = 1/clients (``inf`` at noise 0). A sweep
    whose runs ε would not hold for (:func:`check_accountable`) fails before any run starts.
    Artifacts are cached like every other run (same config, same artifact).
    """
    from fedlib.paradigms import run_experiment

    configs = dp_configs(task, noise_levels, profile=profile, clipping_norm=clipping_norm, seeds=seeds,
                         include_no_dp=include_no_dp, **overrides)
    for cfg in configs:
        if cfg.dp_clipping_norm is not None:
            check_accountable(cfg)
    rows = []
    for cfg in configs:
        artifact = run_experiment(cfg, force=force, progress=progress)
        dp = cfg.dp_clipping_norm is not None
        rows.append({
            "noise_multiplier": cfg.dp_noise_multiplier if dp else float("nan"),
            "clipping_norm": cfg.dp_clipping_norm if dp else float("nan"),
            "noise_std": cfg.dp_noise_multiplier * cfg.dp_clipping_norm / cfg.num_clients if dp else 0.0,
            "epsilon": run_epsilon(cfg, artifact),
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
    """A :func:`dp_sweep` as a reader sees it: "no DP" instead of empty DP settings, ε "∞" without
    noise and "—" without DP, accuracy in %."""
    from fedlib.display import for_reader

    dp = sweep["noise_multiplier"].notna()
    table = pd.DataFrame({
        "DP": ["clipping + noise" if on else "no DP" for on in dp],
        "noise multiplier z": [f"{z:g}" if on else "—" for z, on in zip(sweep["noise_multiplier"], dp, strict=True)],
        "clipping norm": [f"{c:g}" if on else "—" for c, on in zip(sweep["clipping_norm"], dp, strict=True)],
        "noise std on the average": [f"{s:.2g}" for s in sweep["noise_std"]],
        "ε (δ = 1/clients)": [_shown_epsilon(e) for e in sweep["epsilon"]],
        "seed": sweep["seed"].astype(int).to_numpy(),
        "test accuracy (%)": (sweep["accuracy"] * 100).to_numpy(),
        "macro-F1": [f"{f:.3f}" for f in sweep["macro_f1"]],
        "best round": sweep["best_round"].to_numpy(),
    })
    return for_reader(table)


def _shown_epsilon(value: float) -> str:
    if math.isnan(value):
        return "—"
    if math.isinf(value):
        return "∞"
    return f"{value:.3g}" if value < 1000 else f"{value:,.0f}"
