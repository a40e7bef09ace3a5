"""Data protocol 2, per-example predictions, bootstrap intervals, provenance and the compute plan."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from fedlib import plan as plans
from fedlib import stats
from fedlib.client_datasets import build_clients, protocol_report
from fedlib.experiment import ExperimentConfig
from fedlib.predictions import decode_labels, encode_labels, majority_share
from fedlib.protocol import regroup_by_text

ALL = 100_000  # a budget above any split: every row (None would mean "the profile's budget")


def cfg(**overrides) -> ExperimentConfig:
    return ExperimentConfig(**{"task": "xnli", "languages": ("en", "sw"), "profile": "smoke", **overrides})


# ------------------------------------------------------------------ data protocol
def test_protocol_2_keeps_every_xnli_premise_in_one_split():
    one = build_clients(cfg(protocol=1, train_per_client=ALL, val_per_client=ALL))
    shared = lambda c: set(c.train["text"]) & set(c.validation["text"])  # noqa: E731
    assert len(shared(one[0])) > 300  # the row split the audit found: premises on both sides
    for client in build_clients(cfg(protocol=2, train_per_client=ALL, val_per_client=ALL)):
        assert not shared(client)
        assert not set(client.train["text"]) & set(client.test["text"])
        assert len(client.validation) >= 490  # whole premise groups: at least as many rows as before
    report = protocol_report(cfg(protocol=2))
    assert report["en"]["validation texts that were also training texts (regrouped)"] == 396


def test_protocol_2_gives_parallel_languages_the_same_groups():
    en, sw = build_clients(cfg(protocol=2, train_per_client=ALL, val_per_client=ALL))
    assert len(en.validation) == len(sw.validation) and en.validation["label"] == sw.validation["label"]


def test_protocol_2_drops_masakhanews_headlines_shared_with_test():
    config = ExperimentConfig(task="masakhanews", languages=("ibo", "hau"), profile="smoke", protocol=2,
                              train_per_client=ALL, val_per_client=ALL)
    ibo = build_clients(config)[0]
    assert not set(ibo.train["text"]) & (set(ibo.test["text"]) | set(ibo.validation["text"]))
    assert protocol_report(config)["ibo"]["train rows sharing a text with test (dropped)"] > 0
    legacy = build_clients(ExperimentConfig(task="masakhanews", languages=("ibo", "hau"), profile="smoke",
                                            train_per_client=ALL, val_per_client=ALL))[0]
    assert set(legacy.train["text"]) & set(legacy.test["text"])  # protocol 1 keeps the published split


def test_protocol_2_fixes_the_test_rows_across_seeds():
    tests = [build_clients(cfg(protocol=2, seed=s, eval_per_client=30))[0].test["text"] for s in (0, 1)]
    trains = [build_clients(cfg(protocol=2, seed=s, eval_per_client=30))[0].train["text"] for s in (0, 1)]
    assert tests[0] == tests[1] and trains[0] != trains[1]
    legacy = [build_clients(cfg(protocol=1, seed=s, eval_per_client=30))[0].test["text"] for s in (0, 1)]
    assert legacy[0] != legacy[1]


def test_protocol_1_keeps_the_hash_and_protocol_2_changes_it():
    assert cfg().config_hash() == cfg(protocol=1).config_hash() != cfg(protocol=2).config_hash()
    with pytest.raises(ValueError, match="protocol"):
        cfg(protocol=3).resolved()


def test_regroup_moves_whole_groups():
    from datasets import Dataset

    train = Dataset.from_dict({"text": ["a", "a", "b", "c", "c", "d"], "label": [0, 1, 0, 1, 0, 1]})
    validation = Dataset.from_dict({"text": ["a", "b"], "label": [2, 2]})
    new_train, new_validation = regroup_by_text(train, validation, seed=0)
    assert not set(new_train["text"]) & set(new_validation["text"])
    assert len(new_train) + len(new_validation) == 8 and len(new_validation) >= 2


# ------------------------------------------------------------------ predictions
def test_predictions_round_trip_in_row_order(results_tmp):
    from fedlib.paradigms import run_experiment

    artifact = run_experiment(cfg(paradigm="monolingual", protocol=2, eval_per_client=20))
    for lang, entry in artifact["per_language"].items():
        p, y = decode_labels(entry["predictions"]), decode_labels(entry["labels"])
        assert len(p) == 20 and np.mean(p == y) == pytest.approx(entry["accuracy"])
        test = build_clients(cfg(protocol=2, eval_per_client=20))[("en", "sw").index(lang)].test
        assert y.tolist() == test["label"]  # the dataset's own order, not evaluation's length order
        assert decode_labels(entry["correct"]).tolist() == (p == y).astype(int).tolist()
        assert decode_labels(entry["predicted_counts"]).sum() == 20
    assert artifact["schema"] == 2 and artifact["precision"] in ("fp32", "bf16")
    assert decode_labels(encode_labels([12, 3])).tolist() == [12, 3]
    assert decode_labels(encode_labels([1, 3], separator=True)).tolist() == [1, 3]
    assert decode_labels("").tolist() == []
    assert majority_share(np.array([0, 3, 1])) == 0.75


def test_federated_artifacts_carry_test_outcomes_not_labels(results_tmp):
    from fedlib.paradigms import run_experiment

    artifact = run_experiment(cfg(protocol=2, eval_per_client=12, rounds=1))
    for entry in artifact["per_language"].values():
        assert len(decode_labels(entry["correct"])) == 12 and decode_labels(entry["predicted_counts"]).sum() == 12
        assert "labels" not in entry and "predictions" not in entry  # clients never send them


# ------------------------------------------------------------------ statistics
def _outcomes(rates, n=400, seeds=5, seed=0, languages=2) -> stats.Outcomes:
    rng = np.random.default_rng(seed)
    language_of = np.repeat(np.arange(languages), n // languages)
    correct = (rng.random((seeds, n)) < np.asarray(rates)[:, None]).astype(float)
    return stats.Outcomes(tuple(range(seeds)), tuple(f"l{i}" for i in range(languages)), correct, language_of, 0.4)


def test_arm_interval_covers_the_mean_and_shrinks_with_more_data():
    small, large = _outcomes([0.7] * 5, n=100), _outcomes([0.7] * 5, n=4000)
    a, b = stats.arm_estimate(small, resamples=500), stats.arm_estimate(large, resamples=500)
    assert a.low < a.mean < a.high and b.low < b.mean < b.high
    assert (b.high - b.low) < (a.high - a.low) / 3


def test_seed_noise_widens_the_interval():
    steady, noisy = _outcomes([0.7] * 5, n=2000), _outcomes([0.5, 0.9, 0.6, 0.8, 0.7], n=2000)
    width = lambda e: e.high - e.low  # noqa: E731
    assert width(stats.arm_estimate(noisy, resamples=500)) > 3 * width(stats.arm_estimate(steady, resamples=500))


def test_paired_difference_finds_a_real_gap_and_not_a_fake_one():
    base = _outcomes([0.6] * 5, n=2000, seed=1)
    lucky = _outcomes([0.2] * 5, n=2000, seed=2).correct
    better = stats.Outcomes(base.seeds, base.languages, np.maximum(base.correct, lucky), base.language_of, 0.4)
    gap = stats.paired_difference(better, base, resamples=500)
    assert gap.excludes_zero and gap.mean > 0
    same = stats.paired_difference(_outcomes([0.6] * 5, n=2000, seed=3), base, resamples=500)
    assert not same.excludes_zero
    with pytest.raises(ValueError, match="not paired"):
        stats.paired_difference(_outcomes([0.6] * 3, n=2000, seeds=3), base)


def test_an_arm_kept_to_some_seeds_keeps_their_rows_in_that_order():
    arm = _outcomes([0.5, 0.7, 0.6, 0.8], n=40, seeds=4)
    kept = arm.on_seeds([3, 1])
    assert kept.seeds == (3, 1) and kept.languages == arm.languages
    assert (kept.correct == arm.correct[[3, 1]]).all()
    with pytest.raises(ValueError):
        arm.on_seeds([7])


def test_languages_weigh_equally_whatever_their_test_size():
    correct = np.array([[1.0] * 10 + [0.0] * 90])
    arm = stats.Outcomes((0,), ("big", "small"), correct[:, ::-1], np.array([0] * 90 + [1] * 10), 0.5)
    assert stats.arm_estimate(arm, resamples=100).mean == pytest.approx(0.5)


def _exact(rates, n=100, seeds=3) -> stats.Outcomes:
    """Every seed right on the first ``rate x n`` examples of each language: per-language means known exactly."""
    rows = np.concatenate([np.arange(n) < round(rate * n) for rate in rates]).astype(float)
    return stats.Outcomes(tuple(range(seeds)), tuple(f"l{i}" for i in range(len(rates))), np.tile(rows, (seeds, 1)),
                          np.repeat(np.arange(len(rates)), n), 0.4)


def test_the_worst_language_and_the_spread_on_known_accuracies():
    arm = _exact([0.8, 0.5, 0.9, 0.7])
    language, worst = stats.worst_language(arm, resamples=500)
    assert language == "l1" and worst.mean == pytest.approx(0.5) and worst.low < 0.5 < worst.high
    gap = stats.spread(arm, resamples=500)
    assert gap.mean == pytest.approx(0.4) and gap.low < 0.4 < gap.high
    one = stats.worst_language(_exact([0.6, 0.3], seeds=1), resamples=200)  # one seed: examples only
    assert one[0] == "l1" and one[1].low < 0.3 < one[1].high


def test_the_worst_language_and_the_spread_hold_their_languages_fixed():
    close = _outcomes([0.70] * 5, n=400, languages=2)  # two languages at the same rate: either can be worst
    language, worst = stats.worst_language(close, resamples=500)
    fixed = stats.per_language(close, resamples=500)[language]
    assert worst.mean == pytest.approx(fixed.mean)
    # a minimum recomputed in each resample would sit below its own estimate; a fixed language does not
    assert worst.low < worst.mean < worst.high
    gap = stats.spread(close, resamples=500)
    assert gap.low < gap.mean < gap.high and gap.low < 0  # tied languages: a gap of 0 stays inside


def _by_language(rates, n=1000, seeds=5, seed=0) -> stats.Outcomes:
    """Random outcomes at one rate per language (``n`` examples each), the same for every seed."""
    rng = np.random.default_rng(seed)
    language_of = np.repeat(np.arange(len(rates)), n)
    correct = (rng.random((seeds, len(language_of))) < np.asarray(rates)[language_of]).astype(float)
    return stats.Outcomes(tuple(range(seeds)), tuple(f"l{i}" for i in range(len(rates))), correct, language_of, 0.4)


def test_paired_worst_difference_finds_a_lifted_worst_language_and_not_a_fake_one():
    base = _by_language([0.5, 0.8, 0.8], seed=1)
    lucky = np.random.default_rng(2).random(base.correct.shape) < 0.3
    lifted = stats.Outcomes(base.seeds, base.languages, np.where(base.language_of == 0, np.maximum(base.correct, lucky),
                                                                 base.correct), base.language_of, 0.4)  # l0 ~0.65
    assert stats.worst_language(base, resamples=200)[0] == stats.worst_language(lifted, resamples=200)[0] == "l0"
    gap = stats.paired_worst_difference(lifted, base, resamples=500)
    assert gap.excludes_zero and 0.1 < gap.mean < 0.2
    assert stats.paired_worst_difference(base, lifted, resamples=500).high < 0
    same = stats.paired_worst_difference(base, base, resamples=500)
    assert same.mean == 0 and not same.excludes_zero
    alike = stats.paired_worst_difference(_by_language([0.5, 0.8, 0.8], seed=3), base, resamples=500)
    assert not alike.excludes_zero
    resized = stats.Outcomes(base.seeds, base.languages, base.correct, np.repeat([0, 1, 2], [900, 1000, 1100]), 0.4)
    with pytest.raises(ValueError, match="not paired"):
        stats.paired_worst_difference(resized, base)


def test_resampling_within_languages_keeps_every_language_at_its_size():
    strata = [np.arange(0, 97), np.arange(97, 99), np.arange(99, 100)]  # 97 rows, 2 rows and 1 row
    drawn = []

    def record(seeds, examples):
        drawn.append((len(seeds), [np.asarray(e) for e in examples]))
        return 0.0

    stats._stratified_bootstrap(record, 3, strata, resamples=200, seed=0, confidence=0.95)
    assert len(drawn) >= 200
    for n_seeds, examples in drawn:
        assert n_seeds == 3 and [len(e) for e in examples] == [97, 2, 1]
        assert all(np.isin(e, rows).all() for e, rows in zip(examples, strata, strict=True))
    # A language of 2 rows among 400 vanishes from about 1 in 7 unstratified resamples; here it stays.
    tiny = stats.Outcomes((0, 1), ("big", "tiny"), np.ones((2, 400)), np.array([0] * 398 + [1] * 2), 0.4)
    language, worst = stats.worst_language(tiny, resamples=300)
    assert (worst.mean, worst.low, worst.high) == (1.0, 1.0, 1.0) and stats.spread(tiny, resamples=300).high == 0


def test_outcomes_from_artifacts_refuse_different_test_sets():
    def artifact(seed, labels, correct="1011", counts="2,2"):
        return {"seed": seed, "run_name": f"r{seed}",
                "per_language": {"en": {"correct": correct, "predicted_counts": counts, "labels": labels}}}

    arm = stats.outcomes([artifact(1, "0111"), artifact(0, "0111")])
    assert arm.seeds == (0, 1) and arm.correct.shape == (2, 4) and arm.correct[0].tolist() == [1, 0, 1, 1]
    with pytest.raises(ValueError, match="fixed test set"):
        stats.outcomes([artifact(0, "0111"), artifact(1, "1111")])
    with pytest.raises(ValueError, match="fixed test set"):
        stats.outcomes([artifact(0, None), artifact(1, None, correct="10111")])
    collapsed = stats.outcomes([artifact(0, None, counts="4,0,0")])
    assert collapsed.collapsed and not arm.collapsed


# ------------------------------------------------------------------ provenance
@pytest.fixture
def code_repo(tmp_path, monkeypatch):
    """A one-commit git repository (``code.py``) standing in for this one."""
    from fedlib import artifacts

    repo = tmp_path / "repo"
    repo.mkdir()
    git = lambda *a: subprocess.run(["git", *a], cwd=repo, check=True, capture_output=True)  # noqa: E731
    git("init", "-q")
    (repo / "code.py").write_text("x = 1\n")
    git("add", ".")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "one")
    monkeypatch.setattr(artifacts, "REPO_ROOT", repo)
    return repo


def test_artifacts_record_whether_the_tree_was_dirty(code_repo):
    from fedlib import artifacts

    repo = code_repo
    assert artifacts.git_tree_state() == {"git_dirty": False, "git_diff_sha256": None}
    (repo / "results").mkdir()
    (repo / "results" / "run.json").write_text("{}")  # outputs do not make the code dirty
    assert artifacts.git_tree_state()["git_dirty"] is False
    (repo / "code.py").write_text("x = 2\n")
    state = artifacts.git_tree_state()
    assert state["git_dirty"] is True and len(state["git_diff_sha256"]) == 64


def test_a_run_records_the_code_it_started_with(code_repo):
    """An edit made while a long run trains does not make its artifact 'dirty': the state is taken once."""
    from fedlib import artifacts

    repo = code_repo
    artifacts.code_state.cache_clear()
    try:
        assert artifacts.code_state()["git_dirty"] is False  # the run starts
        (repo / "README.md").write_text("edited meanwhile\n")
        assert artifacts.git_tree_state()["git_dirty"] is True
        assert artifacts.environment()["git_dirty"] is False  # what the artifact records at the end
    finally:
        artifacts.code_state.cache_clear()


def _committed_schema2_artifacts():
    from fedlib.config import REPO_ROOT, results_dir

    listed = subprocess.run(["git", "ls-files", "--", str(results_dir())], cwd=REPO_ROOT, capture_output=True,
                            text=True).stdout.split()
    for name in listed:
        if name.endswith(".json") and not name.endswith("lr-selection.json"):
            artifact = json.loads((REPO_ROOT / name).read_text())
            if artifact.get("schema", 1) >= 2:
                yield name, artifact


def test_committed_artifacts_come_from_a_clean_known_commit():
    """Schema-2 artifacts must name a commit of this repository and a clean tree.

    Schema-1 artifacts predate the record (the audit found some made from uncommitted trees); they
    are replaced as the compute plan lands, and the book marks them as such.
    """
    from fedlib.config import REPO_ROOT

    for name, artifact in _committed_schema2_artifacts():
        env = artifact["environment"]
        assert env.get("git_dirty") is False, f"{name} was made from a dirty working tree"
        sha = env.get("git_sha")
        known = sha and subprocess.run(["git", "cat-file", "-e", f"{sha}^{{commit}}"], cwd=REPO_ROOT,
                                       capture_output=True).returncode == 0
        assert known, f"{name} names commit {sha!r}, which this repository does not have"


# ------------------------------------------------------------------ the plan
def _fake(paradigm="federated", *, best_round=3, rounds_run=8, patience=5, val=(0.5, 0.6)):
    base = {"config": {"patience": patience}}
    if paradigm == "federated":
        return {**base, "best_round": best_round, "history": {"rounds": [{}] * rounds_run,
                                                              "best": {"val_accuracy": max(val)}}}
    if paradigm == "centralized":
        return {**base, "training": {"best_epoch": best_round, "epochs_run": rounds_run,
                                     "history": [{"val_accuracy": v} for v in val]}}
    return {**base, "clients": {c: {"best_epoch": best_round, "epochs_run": rounds_run,
                                    "history": [{"val_accuracy": v} for v in val]} for c in ("a", "b")}}


@pytest.mark.parametrize("paradigm", ["federated", "centralized", "monolingual"])
def test_convergence_means_the_best_round_is_patience_rounds_before_the_end(paradigm):
    assert plans.converged(_fake(paradigm, best_round=3, rounds_run=8))
    assert not plans.converged(_fake(paradigm, best_round=4, rounds_run=8))
    assert plans.validation_score(_fake(paradigm, val=(0.5, 0.7))) == pytest.approx(0.7)


def test_the_learning_rate_is_chosen_on_validation(monkeypatch):
    plan = plans.get_plan("nc_standin")
    arm = plan.arm("fed-ptuning")
    scores = dict(zip(arm.lr_grid, (0.6, 0.8, 0.7), strict=True))
    monkeypatch.setattr(plans, "_artifact", lambda cfg, **kw: _fake(val=(scores[cfg.lr],)))
    chosen = plans.select_lr(plan, arm)
    assert chosen["lr"] == arm.lr_grid[1] and not chosen["at_edge"]
    scores = dict(zip(arm.lr_grid, (0.6, 0.7, 0.8), strict=True))
    assert plans.select_lr(plan, arm)["at_edge"]
    # A tie (the same rows right, summed in another order) goes to the smaller step.
    scores = dict(zip(arm.lr_grid, (0.8282828282828282, 0.81, 0.8282828282828284), strict=True))
    assert plans.select_lr(plan, arm)["lr"] == arm.lr_grid[0]
    configs = {plan.config(arm, seed=s, lr=1e-3).config_hash() for s in arm.seeds}
    assert len(configs) == 5 and len(arm.seeds) == 5 and len(plan.arm("fed-lora").seeds) == 3
    resolved = plan.config(arm, seed=0, lr=1e-3).resolved()
    assert (resolved.protocol, resolved.precision, resolved.eval_per_client) == (2, "bf16", 204)


def test_a_runs_cost_is_its_cpu_time_where_recorded():
    shared = {"wall_seconds": 3600.0, "environment": {"torch_threads": 2}}
    assert plans.cpu_hours({**shared, "cpu_seconds": 1800.0}) == pytest.approx(0.5)  # waited half the time
    assert plans.cpu_hours({**shared, "cpu_seconds": None}) == pytest.approx(2.0)  # bound: wall x threads
    assert plans.cpu_hours(shared) == pytest.approx(2.0)
    # Resumed after round 2: the artifact's own CPU time covers rounds 3-4 only; rounds 1-2 count too,
    # by their recorded CPU time, or (rounds recorded before it was kept) their wall time x threads.
    rounds = [{"round": 1, "seconds": 900.0}] + [{"round": r, "seconds": 900.0, "cpu_seconds": 720.0}
                                               for r in (2, 3, 4)]
    resumed = {**shared, "cpu_seconds": 1800.0, "history": {"rounds": rounds, "resumed_after_rounds": [2]}}
    assert plans.cpu_hours(resumed) == pytest.approx((1800.0 + 900.0 * 2 + 720.0) / 3600)


def test_federated_rounds_record_their_cpu_time(results_tmp):
    from fedlib.federated import run_federated

    history = run_federated(ExperimentConfig(task="sib200", languages=("eng_Latn", "hau_Latn"), profile="smoke",
                                             rounds=2, train_per_client=4, eval_per_client=4, val_per_client=4))
    assert all(0 < r["cpu_seconds"] for r in history["rounds"])


def test_two_workers_can_split_an_arms_seeds(monkeypatch, results_tmp):
    plan = plans.get_plan("nc_standin")
    arm = plan.arm("fed-lora")
    ran = []

    def fake_artifact(cfg, **kw):
        ran.append(cfg.seed)
        return {**_fake(val=(0.5 + cfg.lr,)), "average": {"accuracy": 0.5}}

    monkeypatch.setattr(plans, "_artifact", fake_artifact)
    plans.run_plan(plan, (arm,), seeds=(2,), log=lambda line: None)
    assert ran == [0] * len(arm.lr_grid) + [2]  # the grid at seed 0, then only the seed asked for
