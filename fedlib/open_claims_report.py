"""What the studies of :mod:`fedlib.open_claims` found: tables, glued numbers and ledger rows.

Reads only the studies' files (nothing trains here), and reports every part that is not computed
yet as such, so the chapter builds at any stage. Arms are compared by paired differences with
95 % bootstrap intervals, as everywhere in the book.
"""

from __future__ import annotations

import json

import pandas as pd

from fedlib import open_claims, unseen
from fedlib.artifacts import artifact_path, load_artifact
from fedlib.config import results_dir
from fedlib.data import language_name
from fedlib.display import MISSING, for_reader, interval, number
from fedlib.evidence import task_results
from fedlib.evidence_tables import interval_text, points_text, seeds_text
from fedlib.privacy import clipping_scales, run_epsilon, update_norm_quantiles, update_norms
from fedlib.run_cost import cpu_hours
from fedlib.stats import Estimate, Outcomes, arm_estimate, outcomes, paired_difference
from fedlib.verdicts import decide, rule

# unseen-language arms: (paradigm, method) of the source run -> arm key
UNSEEN_ARM_KEYS = {("federated", "ptuning"): "fed-ptuning", ("federated", "prompt"): "fed-prompt",
                   ("centralized", "ptuning"): "central-ptuning", ("monolingual", "ptuning"): "mono-ptuning"}
UNSEEN_CLAIMS = (("fed-ptuning", "mono-ptuning", "federated prompt tuning generalises better to unseen languages "
                                                 "than monolingual tuning"),
                 ("fed-ptuning", "central-ptuning", "federated prompt tuning generalises better to unseen languages "
                                                    "than centralized tuning"))
MEMBERSHIP_CLAIM = ("fed-full", "fed-ptuning", "prompt tuning memorises less than full fine-tuning "
                                               "(membership-inference AUC, full − prompt encoder)")
DP_ARM_PREFIX = "fed-ptuning DP"
DP_REFERENCE_ARM = "fed-ptuning, {sub_clients} sub-clients per language, no DP"
UNSEEN_PAGE = MEMBERSHIP_PAGE = "../notebooks/11_open_claims.html"
FamilyOutcomes = tuple[Outcomes, Outcomes, dict[str, str]]  # family runs, global runs, language -> family


def unseen_arms(profile: str = "cpu") -> dict[str, Outcomes]:
    """Each arm's outcomes on the unseen languages, over the seeds it has (monolingual: averaged models)."""
    by_arm: dict[str, list[dict]] = {}
    for scored in unseen.unseen_artifacts(profile):
        key = UNSEEN_ARM_KEYS.get((scored["paradigm"], scored["method"]))
        if key is not None:
            by_arm.setdefault(key, []).append(scored)
    return {key: unseen.arm_outcomes(runs) for key, runs in by_arm.items()}


def unseen_difference(arms: dict[str, Outcomes], a: str, b: str) -> Estimate | None:
    if a not in arms or b not in arms or not set(arms[a].seeds) & set(arms[b].seeds):
        return None
    seeds = sorted(set(arms[a].seeds) & set(arms[b].seeds))
    return paired_difference(arms[a].on_seeds(seeds), arms[b].on_seeds(seeds))


def unseen_table(arms: dict[str, Outcomes]) -> pd.DataFrame:
    rows = []
    for key in UNSEEN_ARM_KEYS.values():
        if key in arms:
            estimate = arm_estimate(arms[key])
            rows.append({"arm": key, "seeds": len(arms[key].seeds), "unseen languages": len(arms[key].languages),
                         "accuracy": 100 * estimate.mean, "low": 100 * estimate.low, "high": 100 * estimate.high})
    return pd.DataFrame(rows, columns=["arm", "seeds", "unseen languages", "accuracy", "low", "high"])


def prediction_table(arms: dict[str, Outcomes], profile: str = "cpu") -> pd.DataFrame:
    """Per unseen language: the recorded prediction per distance kind and the federated model's accuracy."""
    path = unseen.study_dir(profile) / unseen.PREDICTION_FILE
    if not path.exists() or "fed-ptuning" not in arms:
        return pd.DataFrame()
    prediction = json.loads(path.read_text())
    observed = arms["fed-ptuning"]
    rows = []
    for lang in observed.languages:
        columns = observed.language_of == observed.languages.index(lang)
        row = {"language": language_name(lang), "code": lang,
               "observed": 100 * float(observed.correct[:, columns].mean())}
        for kind, values in prediction["predicted_accuracy"].items():
            value = values.get(lang)
            row[f"predicted ({kind})"] = None if value is None else 100 * value
        rows.append(row)
    return pd.DataFrame(rows)


def prediction_correlations(table: pd.DataFrame) -> pd.DataFrame:
    """Spearman ρ of predicted against observed accuracy over the unseen languages, per distance kind."""
    from fedlib.distance import bootstrap_spearman

    rows = []
    for column in [c for c in table.columns if c.startswith("predicted")]:
        result = bootstrap_spearman(table[column].astype(float).tolist(), table["observed"].tolist())
        rows.append({"prediction": column, "languages": result.n, "rho": result.rho, "low": result.lo,
                     "high": result.hi, "p_perm": result.p_perm, "note": result.note})
    return pd.DataFrame(rows, columns=["prediction", "languages", "rho", "low", "high", "p_perm", "note"])


def membership_arms(profile: str = "cpu") -> dict[str, list[dict]]:
    """The scored runs of the membership study per arm key (DP runs under ``fed-ptuning-dp-C-z``)."""
    folder = open_claims.study_dir(unseen.SOURCE_TASK, "membership", profile)
    arms: dict[str, list[dict]] = {}
    names = {("federated", "ptuning"): "fed-ptuning", ("federated-lora", "lora"): "fed-lora",
             ("federated-full", "full"): "fed-full", ("centralized", "ptuning"): "central-ptuning"}
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        scored = json.loads(path.read_text())
        key = names.get((scored["paradigm"], scored["method"]), scored["source_run"])
        if scored.get("dp_clipping_norm") is not None:
            key = f"{DP_ARM_PREFIX} (C={scored['dp_clipping_norm']:g}, z={scored['dp_noise_multiplier']:g})"
        elif "iid" in scored["source_run"]:
            key = DP_REFERENCE_ARM.format(sub_clients=open_claims.SUB_CLIENTS)
        arms.setdefault(key, []).append(scored)
    main = [k for k in names.values() if k in arms]
    dp = sorted((k for k in arms if k.startswith(DP_ARM_PREFIX)), key=lambda k: (
        -arms[k][0]["dp_clipping_norm"], arms[k][0]["dp_noise_multiplier"]))
    return {k: arms[k] for k in main + [k for k in arms if k not in main and k not in dp] + dp}


def membership_table(arms: dict[str, list[dict]]) -> pd.DataFrame:
    rows = []
    for key, runs in arms.items():
        estimate = open_claims.membership_estimate(runs)
        rows.append({"arm": key, "seeds": len(runs), "AUC": estimate.mean, "low": estimate.low, "high": estimate.high})
    return pd.DataFrame(rows, columns=["arm", "seeds", "AUC", "low", "high"])


def membership_difference(arms: dict[str, list[dict]], a: str, b: str) -> Estimate | None:
    if a not in arms or b not in arms or not {r["seed"] for r in arms[a]} & {r["seed"] for r in arms[b]}:
        return None
    return open_claims.membership_difference(arms[a], arms[b])


def dp_membership_table(arms: dict[str, list[dict]]) -> pd.DataFrame:
    """Each DP run's membership AUC minus that of its no-DP reference, paired on the same members and
    non-members (one seed: the interval resamples them only)."""
    reference = DP_REFERENCE_ARM.format(sub_clients=open_claims.SUB_CLIENTS)
    rows = []
    for key in [k for k in arms if k.startswith(DP_ARM_PREFIX)]:
        estimate = membership_difference(arms, key, reference)
        if estimate is not None:
            rows.append({"arm": key, "AUC − no DP": estimate.mean, "low": estimate.low, "high": estimate.high})
    return pd.DataFrame(rows, columns=["arm", "AUC − no DP", "low", "high"])


def _not_computed(study: str) -> str:
    return f"not computed yet (python -m fedlib study {study})"


def open_claims_rows(profile: str = "cpu") -> list[dict]:
    """The ledger rows of the studies (dicts with the ledger's columns)."""
    rows = []
    arms = unseen_arms(profile)
    for a, b, text in UNSEEN_CLAIMS:
        estimate = unseen_difference(arms, a, b)
        complete = all(k in arms and set(open_claims.STUDY_SEEDS) <= set(arms[k].seeds) for k in (a, b))
        rows.append({"claim": f"nc_standin: {text}", "paper": "— (claimed, no number)",
                     "ours": _not_computed("unseen") if estimate is None else
                     points_text(estimate, arms, a, b) + ("" if complete else " (interim)"),
                     "verdict": decide(estimate if complete else None, 1),
                     "rule": rule(a, b, 1, of="accuracy on SIB-200 languages outside the federation"),
                     "evidence": UNSEEN_PAGE})
    members = membership_arms(profile)
    a, b, text = MEMBERSHIP_CLAIM
    estimate = membership_difference(members, a, b)
    complete = all(k in members and set(open_claims.MEMBERSHIP_ARMS[k]) <= {r["seed"] for r in members[k]}
                   for k in (a, b))
    paired_seeds = len({r["seed"] for r in members.get(a, [])} & {r["seed"] for r in members.get(b, [])})
    ours = _not_computed("membership") if estimate is None else (
        f"{estimate.mean:+.3f} [{estimate.low:+.3f}, {estimate.high:+.3f}] "
        f"({seeds_text(paired_seeds)})")
    rows.append({"claim": f"nc_standin: {text}", "paper": "— (claimed, no number)", "ours": ours,
                 "verdict": decide(estimate if complete else None, 1),
                 "rule": rule(a, b, 1, of="membership-inference AUC"),
                 "evidence": MEMBERSHIP_PAGE})
    return rows


def dp_reference_norms(profile: str = "cpu") -> dict[float, float] | None:
    """Quartiles of the DP reference's round-1 update norms (what the clipping norms are scaled from),
    or ``None`` before the reference has run."""
    found = _dp_reference_artifact(profile)
    return None if found is None else _norm_quartiles(found[1])


def _norm_quartiles(reference_artifact: dict) -> dict[float, float]:
    return update_norm_quantiles(reference_artifact, (0.25, 0.5, 0.75))


def _dp_reference_artifact(profile: str) -> tuple | None:
    """``(config, artifact)`` of the DP reference, or ``None`` before it has run."""
    try:
        reference = open_claims.dp_reference(profile=profile)
    except RuntimeError:  # the plan has not chosen the learning rate the study reuses
        return None
    path = artifact_path(reference)
    return (reference, load_artifact(path)) if path.exists() else None


def dp_table(profile: str = "cpu") -> pd.DataFrame:
    """The DP study's runs: clipping norm (and its ratio to the reference's median update norm), the
    mean factor by which that clipping shrinks the reference's updates over its rounds
    (:func:`fedlib.privacy.clipping_scales`) and the learning rate that makes in units of the plan's,
    noise multiplier, ε at δ = 1/clients, rounds run, and test accuracy with its interval (one seed:
    the interval resamples test sentences only)."""
    columns = ["clipping norm", "clip / median norm", "step scale", "rate / plan's", "noise multiplier", "epsilon",
               "rounds run", "rounds planned", "patience", "best round", "accuracy", "low", "high"]
    found = _dp_reference_artifact(profile)
    if found is None:
        return pd.DataFrame(columns=columns)
    reference, reference_artifact = found
    norms = _norm_quartiles(reference_artifact)
    runs = [reference, *open_claims.dp_configs(profile=profile, measured=True)]
    clips = sorted({cfg.dp_clipping_norm for cfg in runs if cfg.dp_clipping_norm is not None})
    scales = (clipping_scales(reference_artifact, clips).groupby("clipping_norm")["scale"].mean().to_dict()
              if clips else {})
    plan_lr = open_claims.plan_config(unseen.SOURCE_TASK, "fed-ptuning", 0, profile=profile).resolved().lr
    rows = []
    for cfg in runs:
        path = artifact_path(cfg)
        if not path.exists():
            continue
        artifact = load_artifact(path)
        estimate = arm_estimate(outcomes([artifact]))
        dp = cfg.dp_clipping_norm is not None
        scale = scales[cfg.dp_clipping_norm] if dp else 1.0
        rows.append({"clipping norm": cfg.dp_clipping_norm if dp else None,
                     "clip / median norm": cfg.dp_clipping_norm / norms[0.5] if dp else None,
                     "step scale": scale, "rate / plan's": cfg.resolved().lr * scale / plan_lr,
                     "noise multiplier": cfg.dp_noise_multiplier if dp else None,
                     "epsilon": run_epsilon(cfg, artifact) if dp else None,
                     "rounds run": len(artifact["history"]["rounds"]), "rounds planned": cfg.resolved().rounds,
                     "patience": cfg.resolved().patience, "best round": artifact.get("best_round"),
                     "accuracy": 100 * estimate.mean, "low": 100 * estimate.low, "high": 100 * estimate.high})
    return pd.DataFrame(rows, columns=columns)


def _accuracy_text(row) -> str:
    """``60.0 % [57.1, 62.8]`` from a table row of accuracy, low and high in %."""
    mean, bounds = interval(row["accuracy"], row["low"], row["high"]).split(" ", 1)
    return f"{mean} % {bounds}"


def dp_numbers(table: pd.DataFrame) -> dict[str, str]:
    """Glue for the DP section: the reference's accuracy, and per clipping factor of
    :data:`fedlib.open_claims.CLIP_FACTORS` the clipping-only run's accuracy, step scale and rate."""
    names = {1.0: "clip1", 0.5: "clip_half", 0.25: "clip_quarter"}
    numbers = {name: _not_computed("dp") for name in ["oc_dp_reference_accuracy"] + [
        f"oc_dp_{names[f]}_{part}" for f in open_claims.CLIP_FACTORS for part in ("accuracy", "scale", "rate")]}
    reference = table[table["clipping norm"].isna()]
    if len(reference):
        r = reference.iloc[0]
        numbers["oc_dp_reference_accuracy"] = _accuracy_text(r)
    clip_only = table[table["clipping norm"].notna() & (table["noise multiplier"] == 0)]
    for r in clip_only.to_dict("records"):
        factor = min(open_claims.CLIP_FACTORS, key=lambda f: abs(f - r["clip / median norm"]))
        name = f"oc_dp_{names[factor]}"
        numbers[f"{name}_accuracy"] = _accuracy_text(r)
        numbers[f"{name}_scale"] = f"{r['step scale']:.2f}"
        rate = r["rate / plan's"]
        numbers[f"{name}_rate"] = f"{rate:.1f}"
    numbers.update(_stopping_numbers(table))
    return numbers


def _stopping_numbers(table: pd.DataFrame) -> dict[str, str]:
    """How many DP-study runs early stopping ended before their planned rounds and how many ran them
    all, with the accuracy range of each group (``oc_dp_stopped_*``, ``oc_dp_full_*``)."""
    numbers = {f"oc_dp_{group}_{part}": _not_computed("dp") for group in ("stopped", "full")
               for part in ("count", "range")}
    numbers["oc_dp_patience"] = _not_computed("dp") if table.empty else str(int(table["patience"].iloc[0]))
    full = table["rounds run"] >= table["rounds planned"]
    for group, rows in (("stopped", table[~full]), ("full", table[full])):
        numbers[f"oc_dp_{group}_count"] = str(len(rows))
        numbers[f"oc_dp_{group}_range"] = (MISSING if rows.empty else
                                           f"{rows['accuracy'].min():.1f}–{rows['accuracy'].max():.1f} %")
    return numbers


def plot_dp_norms(profile: str = "cpu", ax=None):
    """The reference's client update norms per round (median and interquartile band) against the
    clipping norms of the sweep: how far below the updates each clipping norm cuts, round by round."""
    import matplotlib.pyplot as plt

    found = _dp_reference_artifact(profile)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.4))
    if found is None:
        return ax
    reference, artifact = found
    norms = update_norms(artifact).groupby("round")["update_norm"]
    q1, median, q3 = norms.quantile(0.25), norms.median(), norms.quantile(0.75)
    ax.fill_between(median.index, q1, q3, color="tab:blue", alpha=0.25, label="client update norms (quartiles)")
    ax.plot(median.index, median, "o-", color="tab:blue", label="median update norm (no DP)")
    measured = open_claims.dp_configs(profile=profile, measured=True)
    clips = sorted({cfg.dp_clipping_norm for cfg in measured}, reverse=True)
    for clip, style in zip(clips, ("--", "-.", ":"), strict=False):
        ax.axhline(clip, color="grey", ls=style, lw=1, label=f"clipping norm C = {clip:g}")
    ax.set_xlabel("round")
    ax.set_ylabel("L2 norm of a client's update")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    return ax


def _family_outcomes(profile: str) -> FamilyOutcomes | None:
    """The family runs and the global prompt's runs on the seeds both have, and each language's family;
    ``None`` before both exist."""
    global_arm = task_results(open_claims.FAMILY_TASK, profile=profile).get("fed-ptuning")
    families = [] if global_arm is None else [
        a for a in (open_claims.family_artifact(s, profile=profile) for s in open_claims.STUDY_SEEDS) if a is not None]
    seeds = sorted({a["seed"] for a in families} & set(global_arm.seeds)) if families else []
    if not seeds:
        return None
    languages = tuple(global_arm.outcomes.languages)
    ours = outcomes([a for a in families if a["seed"] in seeds], languages)
    theirs = outcomes([a for a in global_arm.artifacts if a["seed"] in seeds], languages).on_seeds(ours.seeds)
    family_of = {lang: "+".join(f) for a in families[:1] for f in a["families"] for lang in f}
    return ours, theirs, family_of


def family_gains(profile: str = "cpu") -> tuple[pd.DataFrame, Estimate | None]:
    """Per MasakhaNEWS language: aggregation within its family minus one global prompt (points, paired
    on seeds and test sentences), and the difference of the language-averaged accuracy."""
    return _gains_per_language(_family_outcomes(profile))


def family_gain_by_seed(profile: str = "cpu") -> pd.DataFrame:
    """The language-averaged gain of family aggregation seed by seed (points; each interval resamples
    that seed's test sentences only): how far one seed's verdict can sit from the next one's."""
    return _gains_per_seed(_family_outcomes(profile))


def _gains_per_language(found: FamilyOutcomes | None) -> tuple[pd.DataFrame, Estimate | None]:
    if found is None:
        return pd.DataFrame(columns=["language", "family", "gain", "low", "high", "seeds"]), None
    ours, theirs, family_of = found
    rows = []
    for lang in ours.languages:
        gain = paired_difference(ours.restricted(lang), theirs.restricted(lang))
        rows.append({"language": lang, "family": family_of.get(lang, "?"), "gain": 100 * gain.mean,
                     "low": 100 * gain.low, "high": 100 * gain.high, "seeds": len(ours.seeds)})
    return pd.DataFrame(rows), paired_difference(ours, theirs)


def _gains_per_seed(found: FamilyOutcomes | None) -> pd.DataFrame:
    rows = []
    for seed in [] if found is None else found[0].seeds:
        gain = paired_difference(found[0].on_seeds([seed]), found[1].on_seeds([seed]))
        rows.append({"seed": seed, "gain": 100 * gain.mean, "low": 100 * gain.low, "high": 100 * gain.high})
    return pd.DataFrame(rows, columns=["seed", "gain", "low", "high"])


def prediction_numbers(table: pd.DataFrame) -> dict[str, str]:
    """Glue for how well the recorded predictions did, per distance kind of
    :data:`fedlib.open_claims.UNSEEN_DISTANCES`: Spearman ρ with its interval, mean absolute error
    (points) and the range of the predictions, beside the range observed."""
    names = [f"oc_unseen_{part}_{kind}" for kind in open_claims.UNSEEN_DISTANCES for part in ("rho", "mae", "range")]
    numbers = {name: _not_computed("unseen") for name in names + ["oc_unseen_observed_range"]}
    if table.empty:
        return numbers
    numbers["oc_unseen_observed_range"] = f"{table['observed'].min():.1f}–{table['observed'].max():.1f} %"
    correlations = prediction_correlations(table).set_index("prediction")
    for kind in open_claims.UNSEEN_DISTANCES:
        column = f"predicted ({kind})"
        if column not in table or table[column].isna().all():
            continue
        predicted = table[column].astype(float)
        rho = correlations.loc[column]
        numbers[f"oc_unseen_rho_{kind}"] = f"{rho['rho']:.2f} [{rho['low']:.2f}, {rho['high']:.2f}]"
        numbers[f"oc_unseen_mae_{kind}"] = f"{(predicted - table['observed']).abs().mean():.1f} points"
        numbers[f"oc_unseen_range_{kind}"] = f"{predicted.min():.1f}–{predicted.max():.1f} %"
    return numbers


def open_claims_numbers(profile: str = "cpu") -> dict[str, str]:
    """Every number chapter 11 glues, as text; parts not computed yet say so."""
    numbers = {}
    arms = unseen_arms(profile)
    for key in UNSEEN_ARM_KEYS.values():
        numbers[f"oc_unseen_{key.replace('-', '_')}"] = interval_text(arm_estimate(arms[key]) if key in arms else None)
    rows = {row["claim"]: row for row in open_claims_rows(profile)}
    for (a, b, text), name in zip(UNSEEN_CLAIMS, ("mono", "central"), strict=True):
        row = rows[f"nc_standin: {text}"]
        numbers[f"oc_unseen_vs_{name}"] = interval_text(unseen_difference(arms, a, b), unit=" points", signed=True)
        numbers[f"oc_unseen_vs_{name}_verdict"] = row["verdict"]
    # the paper's reparameterised prompt against a plain soft prompt: shown, not a claim of the paper's
    encoder_vs_soft = unseen_difference(arms, "fed-ptuning", "fed-prompt")
    numbers["oc_unseen_encoder_vs_soft"] = (MISSING if encoder_vs_soft is None else
                                            points_text(encoder_vs_soft, arms, "fed-ptuning", "fed-prompt"))
    members = membership_arms(profile)
    for key in ("fed-ptuning", "fed-lora", "fed-full", "central-ptuning"):
        estimate = None
        if key in members:
            estimate = open_claims.membership_estimate(members[key])
        numbers[f"oc_auc_{key.replace('-', '_')}"] = interval_text(estimate, scale=1, unit="", decimals=3)
    a, b, text = MEMBERSHIP_CLAIM
    numbers["oc_auc_full_minus_ptuning"] = interval_text(membership_difference(members, a, b), scale=1, unit="",
                                                     signed=True, decimals=3)
    numbers["oc_auc_verdict"] = rows[f"nc_standin: {text}"]["verdict"]
    for (x, y), name in ((("central-ptuning", "fed-ptuning"), "oc_auc_central_minus_fed"),
                         (("fed-lora", "fed-ptuning"), "oc_auc_lora_minus_ptuning")):
        numbers[name] = interval_text(membership_difference(members, x, y), scale=1, unit="", signed=True,
                                      decimals=3)
    reference = members.get(DP_REFERENCE_ARM.format(sub_clients=open_claims.SUB_CLIENTS))
    numbers["oc_auc_dp_reference"] = interval_text(open_claims.membership_estimate(reference) if reference else None,
                                                   scale=1, unit="", decimals=3)
    numbers["oc_unseen_languages"] = str(len(unseen.unseen_languages()))
    numbers.update(prediction_numbers(prediction_table(arms, profile)))
    found = _family_outcomes(profile)  # loads the task's results: once for both tables
    gains, overall = _gains_per_language(found)
    numbers["oc_family_gain"] = (_not_computed("families") if overall is None else
                                 interval_text(overall, unit=" points", signed=True))
    numbers["oc_family_languages_helped"] = str(int((gains["low"] > 0).sum())) if len(gains) else "0"
    numbers["oc_family_languages_hurt"] = str(int((gains["high"] < 0).sum())) if len(gains) else "0"
    numbers["oc_family_seeds"] = str(int(gains["seeds"].max())) if len(gains) else "0"
    numbers["oc_family_language_count"] = str(len(gains)) if len(gains) else _not_computed("families")
    numbers["oc_family_seeds_planned"] = str(len(open_claims.STUDY_SEEDS))
    by_seed = _gains_per_seed(found)
    numbers["oc_family_gain_by_seed"] = "; ".join(
        f"seed {r.seed}: {interval_text(Estimate(r.gain, r.low, r.high), scale=1, unit=' points', signed=True)}"
        for r in by_seed.itertuples()) or MISSING
    numbers["oc_family_seed_caveat"] = family_seed_caveat(int(numbers["oc_family_seeds"]),
                                                          len(open_claims.STUDY_SEEDS))
    norms = dp_reference_norms(profile)
    for q, name in ((0.25, "q1"), (0.5, "median"), (0.75, "q3")):
        numbers[f"oc_dp_norm_{name}"] = _not_computed("dp") if norms is None else f"{norms[q]:.3f}"
    numbers.update(dp_numbers(dp_table(profile)))
    numbers["oc_seed_spread"], numbers["oc_seed_count"] = seed_spread_text(profile)
    compute = study_compute(profile)
    numbers["oc_compute_total"] = f"{compute['CPU-h'].sum():.1f}"
    families = family_languages(profile)
    numbers["oc_families"] = (_not_computed("families") if families is None else
                              " | ".join(", ".join(family) for family in families))
    numbers["oc_family_count"] = _not_computed("families") if families is None else str(len(families))
    return numbers


def family_seed_caveat(seeds_run: int, seeds_planned: int) -> str:
    """What the family intervals resample, which depends on how many seeds have run."""
    if seeds_run >= seeds_planned:
        return f"The intervals resample the {seeds_text(seeds_run)} as well as the test sentences."
    return (f"Until every seed has run, the intervals rest on {seeds_text(seeds_run)}"
            f"{', resample its test sentences only' if seeds_run == 1 else ''}, and say less than they will "
            "about how much a different seed would move a run.")


def family_languages(profile: str = "cpu") -> list[tuple[str, ...]] | None:
    """The MasakhaNEWS families the ablation federates, or ``None`` before the plan chose its rate."""
    try:
        return [cfg.languages for cfg in open_claims.family_configs(0, profile=profile)]
    except RuntimeError:  # the plan has not chosen the learning rate the study reuses
        return None


def seed_spread_text(profile: str = "cpu") -> tuple[str, str]:
    """How far apart the plan's seeds of federated prompt tuning land on the news stand-in (best minus
    worst seed's test accuracy, points: the spread a one-seed comparison leaves out), and how many
    seeds that is."""
    arm = task_results(unseen.SOURCE_TASK, profile=profile).get("fed-ptuning")
    if arm is None or len(arm.artifacts) < 2:
        missing = f"not computed yet (python -m fedlib plan --task {unseen.SOURCE_TASK})"
        return missing, missing
    accuracies = [100 * a["average"]["accuracy"] for a in arm.artifacts]
    return f"{max(accuracies) - min(accuracies):.1f} points", str(len(accuracies))


def shown_unseen(arms: dict[str, Outcomes]):
    table = unseen_table(arms)
    return for_reader(pd.DataFrame({
        "arm": table["arm"], "seeds": table["seeds"], "languages": table["unseen languages"],
        "test accuracy on unseen languages (%) [95 % CI]": [interval(r.accuracy, r.low, r.high)
                                                           for r in table.itertuples()]}))


def shown_membership(arms: dict[str, list[dict]]):
    table = membership_table(arms)
    return for_reader(pd.DataFrame({
        "arm": table["arm"], "seeds": table["seeds"],
        "membership AUC [95 % CI] (0.5 = no leakage)": [interval(r.AUC, r.low, r.high, 3)
                                                        for r in table.itertuples()]}))


def shown_dp_membership(table: pd.DataFrame):
    return for_reader(pd.DataFrame({
        "arm": table["arm"], "membership AUC − no DP [95 % CI]": [
            interval(auc, low, high, 3, signed=True)
            for auc, low, high in zip(table["AUC − no DP"], table["low"], table["high"], strict=True)]}))


def shown_dp(table: pd.DataFrame):
    def eps(value):
        return MISSING if value is None or pd.isna(value) else "∞" if value == float("inf") else number(value, 1)

    return for_reader(pd.DataFrame({
        "clipping norm": [MISSING if pd.isna(c) else f"{c:g}" for c in table["clipping norm"]],
        "clip / median update norm": [MISSING if pd.isna(r) else f"{r:.2f}" for r in table["clip / median norm"]],
        "noise multiplier z": [MISSING if pd.isna(z) else f"{z:g}" for z in table["noise multiplier"]],
        "ε (δ = 1/clients)": [eps(e) for e in table["epsilon"]],
        "rounds run": table["rounds run"], "best round": table["best round"],
        "test accuracy (%) [95 % CI]": [interval(r.accuracy, r.low, r.high) for r in table.itertuples()]}))


def plot_dp(table: pd.DataFrame, ax=None):
    """Test accuracy (95 % interval) against ε for the noisy runs, with the reference without DP and
    the clipping-only runs as horizontal lines (ε = ∞): what each step down in ε costs."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.6))
    noisy = table[table["noise multiplier"].fillna(0) > 0].sort_values("epsilon")
    reference = table[table["clipping norm"].isna()]
    clip_only = table[table["clipping norm"].notna() & (table["noise multiplier"].fillna(0) == 0)]
    lines = [(r, "black", "-") for r in reference.to_dict("records")] + [
        (r, "grey", style) for r, style in zip(clip_only.sort_values("clipping norm", ascending=False)
                                               .to_dict("records"), ("--", "-.", ":", (0, (1, 4))), strict=False)]
    for row, colour, style in lines:
        label = ("no DP" if pd.isna(row["clipping norm"])
                 else f"clipping only (C = {row['clip / median norm']:.2f} × median norm)")
        ax.axhline(row["accuracy"], lw=1, color=colour, ls=style, label=label)
    if len(noisy):
        ax.errorbar(noisy["epsilon"], noisy["accuracy"], yerr=[noisy["accuracy"] - noisy["low"],
                                                             noisy["high"] - noisy["accuracy"]],
                    fmt="o-", capsize=3, color="tab:blue", label="clipping at the median norm + noise")
        for r in noisy.to_dict("records"):
            ax.annotate(f"z = {r['noise multiplier']:g}", (r["epsilon"], r["accuracy"]), textcoords="offset points",
                        xytext=(4, 4), fontsize=8)
        ax.set_xscale("log")
    ax.set_xlabel("ε at δ = 1/clients (log scale)")
    ax.set_ylabel("test accuracy (%)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    return ax


def plot_family_gains(gains: pd.DataFrame, ax=None):
    """Per MasakhaNEWS language, the gain of aggregating within its family over one global prompt
    (points, 95 % interval), grouped and coloured by family."""
    import matplotlib.pyplot as plt

    table = gains.sort_values(["family", "gain"]).reset_index(drop=True)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 0.3 * len(table) + 1))
    palette = dict(zip(table["family"].unique(), plt.get_cmap("tab10").colors, strict=False))
    for i, row in table.iterrows():
        ax.errorbar(row["gain"], i, xerr=[[row["gain"] - row["low"]], [row["high"] - row["gain"]]], fmt="o",
                    capsize=3, color=palette[row["family"]])
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(range(len(table)), table["language"])
    ax.set_xlabel("family aggregation − one global prompt (points)")
    for family, colour in palette.items():
        ax.plot([], [], "o", color=colour, label=family)
    ax.legend(fontsize=7, loc="best")
    return ax



def study_compute(profile: str = "cpu") -> pd.DataFrame:
    """CPU-hours the studies cost, per study: the runs they trained (DP, families) and the plan's
    models they trained again because this machine lacked their weights (unseen, membership; a model
    both use counts once, under unseen). A retraining that recorded no cost
    (files written before ``retrain_cpu_hours``) counts at its committed run's cost and is marked
    estimated. Scoring (inference only) is not counted."""
    rows = []
    trained = {"dp": lambda: [open_claims.dp_reference(profile=profile),
                              *open_claims.dp_configs(profile=profile, measured=True)],
               "families": lambda: [c for s in open_claims.STUDY_SEEDS
                                    for c in open_claims.family_configs(s, profile=profile)]}
    for study, configs in trained.items():
        try:
            paths = [p for p in map(artifact_path, configs()) if p.exists()]
        except RuntimeError:  # the plan has not chosen the learning rate the studies reuse
            paths = []
        rows.append({"study": study, "models": len(paths), "estimated": 0,
                     "CPU-h": sum(cpu_hours(load_artifact(p)) for p in paths)})
    seen: set[str] = set()
    for study in ("unseen", "membership"):
        folder = open_claims.study_dir(unseen.SOURCE_TASK, study, profile)
        hours, models, estimated = 0.0, 0, 0
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            scored = json.loads(path.read_text())
            info, run = scored.get("model"), scored.get("source_run")
            if not isinstance(info, dict) or not info.get("retrained") or run in seen:
                continue
            seen.add(run)
            models += 1
            if "retrain_cpu_hours" in info:
                hours += info["retrain_cpu_hours"]
            else:
                estimated += 1
                hours += cpu_hours(load_artifact(results_dir() / profile / unseen.SOURCE_TASK / f"{run}.json"))
        rows.append({"study": study, "models": models, "estimated": estimated, "CPU-h": hours})
    return pd.DataFrame(rows, columns=["study", "models", "estimated", "CPU-h"])
