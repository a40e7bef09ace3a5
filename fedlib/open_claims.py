"""The paper's claims its tables leave open, as four resumable studies on the compute plan's models.

* **unseen** -- does federated prompt tuning generalise better to languages that never joined?
  The NC stand-in's models on the other SIB-200 languages (:mod:`fedlib.unseen`), with a prediction
  from language distance recorded before any unseen language is scored.
* **membership** -- does prompt tuning memorise less than full fine-tuning? A loss-threshold
  membership attack (:mod:`fedlib.membership`) on the federated prompt encoder, LoRA, full
  fine-tuning and the centralized prompt encoder, and on the DP runs below.
* **dp** -- what does differential privacy cost, at which ε? Each NC language split into
  :data:`SUB_CLIENTS` equal IID sub-clients (so the noise on the average is divided by 20, not 5);
  clipping norms at :data:`CLIP_FACTORS` of the median update norm measured without DP; noise
  multipliers on the median norm; ε from Flower's RDP accountant at δ = 1/clients
  (:func:`fedlib.privacy.epsilon`).
* **families** -- aggregate within language families instead of one global prompt? MasakhaNEWS'
  16 languages clustered by URIEL+ genetic distance (languages that share no ancestor, distance 1,
  never share a cluster), one federation per family.

Every study reads the plan's learning rates (``lr-selection.json``) and writes its own files under
``results/<profile>/<task>/<study>/``; finished parts are loaded, so ``python -m fedlib study <name>``
resumes where it stopped. Models the plan trained come from :func:`fedlib.paradigms.trained_states`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from fedlib import unseen
from fedlib.atomic_file import write_json_atomically
from fedlib.config import get_profile, results_dir
from fedlib.experiment import ExperimentConfig

STUDIES = ("unseen", "membership", "dp", "families")
STUDY_SEEDS = (0, 1, 2)  # three of the plan's five: the studies retrain models the plan did not keep
# In the order they are scored: the monolingual models first (step 1 has just trained them, so they cost
# no retraining), then the two arms the ledger compares them with, the soft prompt last (shown, not decided).
UNSEEN_ARMS = ("mono-ptuning", "fed-ptuning", "central-ptuning", "fed-prompt")
MEMBERSHIP_ARMS = {"fed-ptuning": STUDY_SEEDS, "fed-lora": STUDY_SEEDS, "central-ptuning": STUDY_SEEDS,
                   "fed-full": STUDY_SEEDS}  # full fine-tuning costs ~5 prompt runs, yet one seed left its claim open
UNSEEN_DISTANCES = ("model_cosine", "syntactic")
SUB_CLIENTS = 4
CLIP_FACTORS = (1.0, 0.5, 0.25)  # of the reference's median round-1 update norm: 1 clips about half the clients
NOISE_MULTIPLIERS = (0.01, 0.1, 1.0)
FAMILY_TASK = "masakhanews"
RESAMPLES = 2000


def study_dir(task: str, study: str, profile: str = "cpu") -> Path:
    return results_dir() / profile / task / study


def plan_config(task: str, arm_key: str, seed: int, *, profile: str = "cpu") -> ExperimentConfig:
    """The plan's run of ``arm_key`` at ``seed``, at the learning rate the plan chose on validation."""
    from fedlib.plan import get_plan, load_selection

    plan = get_plan(task)
    chosen = load_selection(plan, profile).get(arm_key)
    if chosen is None:
        raise RuntimeError(f"{task} {arm_key}: no learning rate chosen yet; run `python -m fedlib plan "
                           f"--task {task} --arms {arm_key}` first")
    return plan.config(plan.arm(arm_key), seed=seed, lr=chosen["lr"], profile=profile)


# ------------------------------------------------------------------ unseen languages
def unseen_distances(profile: str) -> dict[str, pd.DataFrame]:
    """The distances the prediction uses, over every shipped SIB-200 language."""
    from fedlib import distance as D
    from fedlib.data import get_task

    languages = get_task(unseen.TARGET_TASK).languages
    model = D.model_options(get_profile(profile))
    return {kind: D.distance_matrix(languages, kind, **model) for kind in UNSEEN_DISTANCES}


def run_unseen(*, profile: str = "cpu", seeds: Sequence[int] = STUDY_SEEDS, log: Callable[[str], None] = print,
               progress: bool | None = None) -> list[dict]:
    configs = {arm: [plan_config(unseen.SOURCE_TASK, arm, s, profile=profile) for s in seeds] for arm in UNSEEN_ARMS}
    pairs = unseen.transfer_pairs(configs["mono-ptuning"], progress=progress)
    log(f"unseen: {len(pairs)} monolingual transfer pairs")
    if not (unseen.study_dir(profile) / unseen.PREDICTION_FILE).exists():  # distances cost minutes: only when new
        unseen.record_prediction(pairs, unseen_distances(profile), profile=profile)
    return unseen.score_unseen([c for arm in UNSEEN_ARMS for c in configs[arm]], progress=progress, log=log)


# ------------------------------------------------------------------ membership
def membership_losses(config: ExperimentConfig, *, progress: bool | None = None) -> dict:
    """Per-example losses of members and non-members per language, for the run's trained model."""
    from fedlib.membership import example_losses, membership_rows
    from fedlib.methods import load_trainable_state
    from fedlib.model import get_bundle, model_spec, num_labels_of
    from fedlib.paradigms import trained_states

    cfg = config.resolved()
    states, info = trained_states(cfg, progress=progress)
    if len(states) != 1:
        raise ValueError(f"{cfg.run_name()}: the attack takes one shared model, this run has {len(states)}")
    bundle = get_bundle(model_spec(cfg, num_labels_of(cfg)))
    load_trainable_state(bundle.model, next(iter(states.values())))
    per_language = {}
    for lang in cfg.languages:
        members, nonmembers = membership_rows(cfg, lang)
        per_language[lang] = {
            part: [round(float(x), 6) for x in example_losses(bundle.model, bundle.tokenizer, rows,
                                                              max_length=cfg.max_length, runtime=bundle.runtime)]
            for part, rows in (("members", members), ("nonmembers", nonmembers))}
    return {"model": info, "per_language": per_language}


def _membership_file(config: ExperimentConfig) -> Path:
    cfg = config.resolved()
    from fedlib.data import task_file_name

    return study_dir(task_file_name(cfg.task), "membership", cfg.profile) / f"{config.run_name()}.json"


def score_membership(configs: Sequence[ExperimentConfig], *, log: Callable[[str], None] = print,
                     progress: bool | None = None) -> list[dict]:
    """The attack on every run of ``configs``: one file per run (losses, so arms can be paired)."""
    from fedlib.artifacts import environment

    out = []
    for cfg in configs:
        path = _membership_file(cfg)
        if not path.exists():
            resolved = cfg.resolved()
            payload = {"schema": 1, "source_run": cfg.run_name(), "source_config_hash": resolved.config_hash(),
                       "method": resolved.method, "paradigm": resolved.paradigm, "seed": resolved.seed,
                       "dp_clipping_norm": resolved.dp_clipping_norm,
                       "dp_noise_multiplier": resolved.dp_noise_multiplier,
                       **membership_losses(cfg, progress=progress), "environment": environment()}
            write_json_atomically(path, payload)
            log(f"membership: {cfg.run_name()} AUC {pooled_auc(payload):.3f}")
        out.append(json.loads(path.read_text()))
    return out


def _pooled(scored: dict) -> tuple[np.ndarray, np.ndarray]:
    per = scored["per_language"].values()
    return (np.concatenate([p["members"] for p in per]), np.concatenate([p["nonmembers"] for p in per]))


def pooled_auc(scored: dict) -> float:
    from fedlib.membership import membership_auc

    return membership_auc(*_pooled(scored), resamples=10).mean


def _auc_bootstrap(groups: Sequence[tuple[np.ndarray, np.ndarray]], auc_of):
    """Mean over runs of ``auc_of(run, members_index, non_members_index)``, with a percentile bootstrap
    that resamples each run's members and non-members independently (``groups``: their losses)."""
    from fedlib.stats import Estimate

    def statistic(*indices):
        return float(np.mean([auc_of(k, i, j) for k, (i, j) in enumerate(zip(indices[::2], indices[1::2],
                                                                                strict=True))]))

    data = [np.arange(len(x)) for pair in groups for x in pair]
    mean = statistic(*data)
    result = scipy_stats.bootstrap(data, statistic, paired=False, vectorized=False, n_resamples=RESAMPLES,
                                   confidence_level=0.95, method="percentile", rng=np.random.default_rng(0))
    return Estimate(mean, float(result.confidence_interval.low), float(result.confidence_interval.high))


def membership_estimate(scored: Sequence[dict]):
    """AUC (members vs non-members, every language pooled) averaged over the runs (seeds), with a
    bootstrap interval resampling members and non-members of every run."""
    from fedlib.membership import auc

    pairs = [_pooled(s) for s in scored]
    return _auc_bootstrap(pairs, lambda k, i, j: auc(pairs[k][0][i], pairs[k][1][j]))


def membership_difference(a: Sequence[dict], b: Sequence[dict]):
    """AUC of ``a`` minus AUC of ``b``, paired: the same seeds' members and non-members (the plan's runs of
    one seed train on the same rows whatever the method), resampled together for both arms."""
    from fedlib.membership import auc

    by_seed_b = {s["seed"]: s for s in b}
    common = [s for s in sorted(a, key=lambda s: s["seed"]) if s["seed"] in by_seed_b]
    if not common:
        raise ValueError("the arms share no seed")
    pairs = [(_pooled(s), _pooled(by_seed_b[s["seed"]])) for s in common]
    for (ma, na), (mb, nb) in pairs:
        if len(ma) != len(mb) or len(na) != len(nb):
            raise ValueError("the arms' members or non-members differ in number: not the same rows")

    def auc_gap(k, i, j):
        (ma, na), (mb, nb) = pairs[k]
        return auc(ma[i], na[j]) - auc(mb[i], nb[j])

    return _auc_bootstrap([pa for pa, _ in pairs], auc_gap)


def run_membership(*, profile: str = "cpu", log: Callable[[str], None] = print,
                   progress: bool | None = None) -> list[dict]:
    configs = [plan_config(unseen.SOURCE_TASK, arm, seed, profile=profile)
               for arm, seeds in MEMBERSHIP_ARMS.items() for seed in seeds]
    from fedlib.artifacts import artifact_path

    reference = dp_reference(profile=profile)  # the DP runs' no-DP twin: same sub-clients, same rows
    dp = ([reference] if artifact_path(reference).exists() else []) + dp_configs(profile=profile, measured=True)
    return score_membership(configs + dp, log=log, progress=progress)


# ------------------------------------------------------------------ differential privacy
def dp_reference(*, profile: str = "cpu") -> ExperimentConfig:
    """The no-DP run with each NC language split into :data:`SUB_CLIENTS` equal IID sub-clients.

    The learning rate is the plan's times :data:`SUB_CLIENTS`. A sub-client holds a quarter of its
    language's rows, so it takes a quarter of the local steps, and FedAvg averages four nearly equal
    updates: one round then moves the model about as far as a quarter of the plan's round (four
    steps on a four times larger batch). At the plan's rate the reference sat at chance and stopped
    early at round 6. The linear scaling rule (learning rate in proportion to batch size; Goyal et
    al., 2017) restores a round's progress at the same compute, where more local epochs would cost
    four times as much.
    """
    base = plan_config(unseen.SOURCE_TASK, "fed-ptuning", 0, profile=profile)
    return dataclasses.replace(base, partition="iid", clients_per_language=SUB_CLIENTS,
                               lr=float(f"{base.resolved().lr * SUB_CLIENTS:.6g}"))


def dp_configs(*, profile: str = "cpu", measured: bool = False) -> list[ExperimentConfig | None]:
    """The DP runs: clipping only at each of :data:`CLIP_FACTORS` times the median update norm, then
    each noise multiplier at the median norm. The norms come from the reference run's round-1 update
    norms; before it exists the list is ``[None]`` (``measured`` returns only what can be named now)."""
    from fedlib.artifacts import artifact_path, load_artifact
    from fedlib.privacy import clipping_norms

    reference = dp_reference(profile=profile)
    path = artifact_path(reference)
    if not path.exists():
        return [] if measured else [None]
    norms = clipping_norms(load_artifact(path), CLIP_FACTORS)
    median = norms[CLIP_FACTORS.index(1.0)]
    clip_only = [dataclasses.replace(reference, dp_clipping_norm=c, dp_noise_multiplier=0.0) for c in norms]
    noisy = [dataclasses.replace(reference, dp_clipping_norm=median, dp_noise_multiplier=z) for z in NOISE_MULTIPLIERS]
    return clip_only + noisy


def run_dp(*, profile: str = "cpu", log: Callable[[str], None] = print, progress: bool | None = None) -> list[dict]:
    from fedlib.paradigms import run_experiment

    reference = run_experiment(dp_reference(profile=profile), progress=progress)
    log(f"dp: reference (no DP, {SUB_CLIENTS} sub-clients per language) {reference['average']['accuracy']:.3f}")
    out = [reference]
    for cfg in dp_configs(profile=profile):
        artifact = run_experiment(cfg, progress=progress)
        log(f"dp: C={cfg.dp_clipping_norm:g} z={cfg.dp_noise_multiplier:g} {artifact['average']['accuracy']:.3f}")
        out.append(artifact)
    return out


# ------------------------------------------------------------------ language families
def language_families(languages: Sequence[str]) -> list[tuple[str, ...]]:
    """Clusters of ``languages`` by URIEL+ genetic distance (average linkage, cut below 1): languages
    with no common ancestor in Glottolog never share a family. Families of one language join the
    genetically closest other family, since a federation needs two clients."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    from fedlib import distance as D

    matrix = D.distance_matrix(languages, "genetic")
    if matrix.isna().any().any():
        raise ValueError("genetic distance is missing for some languages: "
                         f"{sorted(matrix.index[matrix.isna().any(axis=1)])}")
    labels = fcluster(linkage(squareform(matrix.to_numpy(), checks=False), "average"), t=0.999, criterion="distance")
    families: dict[int, list[str]] = {}
    for lang, label in zip(matrix.index, labels, strict=True):
        families.setdefault(int(label), []).append(lang)
    for label in [k for k, v in families.items() if len(v) == 1]:
        if len(families) == 1 or len(families[label]) > 1:  # all joined, or an earlier one joined this one
            continue
        (lang,) = families.pop(label)
        nearest = min(families, key=lambda k: matrix.loc[lang, families[k]].mean())
        families[nearest].append(lang)
    return sorted(tuple(sorted(v)) for v in families.values())


def family_configs(seed: int, *, profile: str = "cpu") -> list[ExperimentConfig]:
    base = plan_config(FAMILY_TASK, "fed-ptuning", seed, profile=profile)
    return [dataclasses.replace(base, languages=family) for family in language_families(base.resolved().languages)]


def family_artifact(seed: int, *, profile: str = "cpu") -> dict | None:
    """The per-family runs of one seed merged into one artifact (``per_language`` over all languages),
    or ``None`` while a family is missing."""
    from fedlib.artifacts import artifact_path, load_artifact

    runs = []
    for cfg in family_configs(seed, profile=profile):
        path = artifact_path(cfg)
        if not path.exists():
            return None
        runs.append(load_artifact(path))
    per_language = {lang: m for run in runs for lang, m in run["per_language"].items()}
    return {"seed": seed, "run_name": f"{FAMILY_TASK}-families-s{seed}", "per_language": per_language,
            "families": [list(run["config"]["languages"]) for run in runs],
            "wall_seconds": sum(run["wall_seconds"] for run in runs)}


def run_families(*, profile: str = "cpu", seeds: Sequence[int] = STUDY_SEEDS, log: Callable[[str], None] = print,
                 progress: bool | None = None) -> list[dict]:
    from fedlib.paradigms import run_experiment

    for seed in seeds:
        for cfg in family_configs(seed, profile=profile):
            artifact = run_experiment(cfg, progress=progress)
            log(f"families: seed {seed} {'+'.join(cfg.languages)} {artifact['average']['accuracy']:.3f}")
    return [family_artifact(seed, profile=profile) for seed in seeds]


RUNNERS = {"unseen": run_unseen, "membership": run_membership, "dp": run_dp, "families": run_families}


def run_study(name: str, *, profile: str = "cpu", log: Callable[[str], None] = print,
              progress: bool | None = None) -> list[dict]:
    if name not in RUNNERS:
        raise KeyError(f"no study {name!r}; studies: {', '.join(STUDIES)}")
    return RUNNERS[name](profile=profile, log=log, progress=progress)
