"""The studies of the claims the tables leave open: families, DP runs from measured norms, paired AUCs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fedlib import open_claims
from fedlib.artifacts import artifact_path
from fedlib.experiment import ExperimentConfig


def test_masakhanews_families_follow_genetic_distance():
    from fedlib.data import get_task

    families = open_claims.language_families(get_task("masakhanews").languages)
    assert ("eng", "fra", "pcm") in families  # Nigerian Pidgin is English-based
    assert ("amh", "hau", "orm", "som", "tir") in families  # Afro-Asiatic
    assert sum(len(f) for f in families) == 16 and all(len(f) >= 2 for f in families)


def test_a_family_of_one_joins_its_closest_family():
    families = open_claims.language_families(["eng", "fra", "swa", "xho", "yor"])
    assert all(len(f) >= 2 for f in families) and sorted(sum(map(list, families), [])) == ["eng", "fra", "swa",
                                                                                           "xho", "yor"]


def test_two_unrelated_languages_make_one_federation():
    assert open_claims.language_families(["eng_Latn", "hau_Latn"]) == [("eng_Latn", "hau_Latn")]


def smoke_plan_config(task, arm_key, seed, *, profile="cpu"):
    return ExperimentConfig(task="sib200", languages=("eng_Latn", "hau_Latn"), profile="smoke", rounds=2, seed=seed,
                            num_threads=1, protocol=2, train_per_client=16, paradigm="federated", method="ptuning")


def test_dp_runs_take_their_clipping_norms_from_the_measured_update_norms(results_tmp, monkeypatch):
    monkeypatch.setattr(open_claims, "plan_config", smoke_plan_config)
    monkeypatch.setattr(open_claims, "NOISE_MULTIPLIERS", (0.5,))
    assert open_claims.dp_configs(profile="smoke") == [None]  # no reference yet: nothing to choose from
    artifacts = open_claims.run_dp(profile="smoke", log=lambda line: None)
    reference = open_claims.dp_reference(profile="smoke").resolved()
    assert reference.num_clients == 2 * open_claims.SUB_CLIENTS and reference.dp_clipping_norm is None
    plan = smoke_plan_config("nc_standin", "fed-ptuning", 0).resolved()
    assert reference.lr == pytest.approx(plan.lr * open_claims.SUB_CLIENTS)  # a round moves as far as the plan's
    median = float(np.median([c["update_norm"] for c in artifacts[0]["history"]["rounds"][0]["clients"].values()]))
    configs = open_claims.dp_configs(profile="smoke")
    clips = [c.dp_clipping_norm for c in configs]
    assert len(artifacts) == 1 + len(open_claims.CLIP_FACTORS) + 1 and all(artifact_path(c).exists() for c in configs)
    assert clips[:3] == pytest.approx([f * median for f in open_claims.CLIP_FACTORS], rel=5e-3)  # 3 digits
    assert configs[-1].dp_clipping_norm == clips[0] and configs[-1].dp_noise_multiplier == 0.5

    from fedlib import open_claims_report as report

    table = report.dp_table("smoke")  # what chapter 11 shows: one row per run, reference first
    assert len(table) == len(artifacts) and pd.isna(table["clipping norm"].iloc[0])
    assert table["clip / median norm"].iloc[1:4].tolist() == pytest.approx(open_claims.CLIP_FACTORS, rel=5e-3)
    assert np.isinf(table["epsilon"].iloc[1:4].astype(float)).all() and 0 < table["epsilon"].iloc[-1] < np.inf
    assert (table["low"] <= table["accuracy"]).all() and (table["accuracy"] <= table["high"]).all()
    ax = report.plot_dp(table)
    assert len(ax.get_lines()) >= 1 + len(open_claims.CLIP_FACTORS) and ax.get_xscale() == "log"
    # Clipping shrinks steps: the reference keeps its rate (SUB_CLIENTS times the plan's), a lower norm
    # never cuts less, and the noisy run at the median clips as its clipping-only twin does.
    assert table["step scale"].iloc[0] == 1 and table["rate / plan's"].iloc[0] == pytest.approx(
        open_claims.SUB_CLIENTS)
    scales = table["step scale"].iloc[1:4].tolist()
    assert 1 >= scales[0] >= scales[1] >= scales[2] > 0 and scales[2] < 1
    assert table["step scale"].iloc[-1] == scales[0]
    numbers = report.dp_numbers(table)
    assert numbers["oc_dp_clip_quarter_scale"] == f"{scales[2]:.2f}" and "%" in numbers["oc_dp_reference_accuracy"]
    full = int((table["rounds run"] == table["rounds planned"]).sum())  # smoke runs have no time to stop early
    assert numbers["oc_dp_full_count"] == str(full) and int(numbers["oc_dp_stopped_count"]) == len(table) - full
    compute = report.study_compute("smoke").set_index("study")
    assert compute.loc["dp", "models"] == len(artifacts) and compute.loc["dp", "CPU-h"] > 0
    ax = report.plot_dp_norms("smoke")
    assert len(ax.get_lines()) == 1 + len(open_claims.CLIP_FACTORS)  # the median norm per round, one line per C

    attacked = []  # the membership attack covers every DP run and their no-DP twin
    monkeypatch.setattr(open_claims, "score_membership", lambda configs, **kw: attacked.extend(configs) or [])
    open_claims.run_membership(profile="smoke")
    assert [c.resolved() for c in attacked[-len(configs) - 1:]] == [reference] + [c.resolved() for c in configs]


def scored(seed, member_shift, n=40, rng=None):
    rng = rng or np.random.default_rng(seed)
    return {"seed": seed, "per_language": {"x": {"members": list(rng.normal(1.0 - member_shift, 0.3, n)),
                                                 "nonmembers": list(rng.normal(1.0, 0.3, n))}}}


def test_paired_auc_difference_finds_more_leakage_and_not_a_fake_one():
    leaky = [scored(s, 0.5) for s in range(3)]
    tight = [scored(s, 0.0) for s in range(3)]
    assert open_claims.membership_estimate(leaky).low > 0.7
    assert open_claims.membership_estimate(tight).low < 0.5 < open_claims.membership_estimate(tight).high
    gap = open_claims.membership_difference(leaky, tight)
    assert gap.low > 0.2
    same = open_claims.membership_difference(tight, tight)
    assert same.mean == 0 and same.low <= 0 <= same.high
    with pytest.raises(ValueError, match="share no seed"):
        open_claims.membership_difference(leaky[:1], tight[1:])


def test_a_study_needs_the_plans_learning_rates(results_tmp):
    from fedlib.cli import main

    with pytest.raises(KeyError, match="no study"):
        open_claims.run_study("nope")
    with pytest.raises(RuntimeError, match="no learning rate chosen yet"):
        open_claims.plan_config("nc_standin", "fed-ptuning", 0, profile="smoke")
    assert main(["study", "families"]) == 2  # one line, no traceback: the plan has not run here
