"""Trained weights kept per run, a committed run retrained when they are missing, languages that never joined."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from fedlib import paradigms, unseen
from fedlib.artifacts import artifact_path
from fedlib.client_datasets import build_clients
from fedlib.experiment import ExperimentConfig
from fedlib.methods import load_trainable_state
from fedlib.model import get_bundle, model_spec, num_labels_of
from fedlib.model_store import load_states, model_path
from fedlib.training import encode, evaluate

LANGS = ("eng_Latn", "hau_Latn")


def config(**overrides):
    return ExperimentConfig(**{"task": "sib200", "languages": LANGS, "profile": "smoke", "rounds": 2,
                               "num_threads": 1, "protocol": 2, **overrides})


@pytest.mark.parametrize("paradigm", ["monolingual", "centralized", "federated"])
def test_the_kept_weights_give_the_scores_the_artifact_reports(paradigm, results_tmp):
    cfg = config(paradigm=paradigm).resolved()
    artifact = paradigms.run_experiment(cfg)
    states, info = load_states(cfg)
    expected = {"monolingual": {c.name for c in build_clients(cfg)}, "centralized": {"pooled"},
                "federated": {"global"}}[paradigm]
    assert set(states) == expected and info == {"retrained": False}
    bundle = get_bundle(model_spec(cfg, num_labels_of(cfg)))
    for index, client in enumerate(build_clients(cfg)):
        state = states[client.name] if paradigm == "monolingual" else next(iter(states.values()))
        load_trainable_state(bundle.model, state)
        test = evaluate(bundle.model, encode(client.test, bundle.tokenizer, cfg.max_length), bundle.tokenizer,
                        runtime=bundle.runtime)
        assert test["accuracy"] == artifact["per_language"][client.lang]["accuracy"], (paradigm, index)


def test_a_committed_run_without_weights_is_retrained_and_checked_not_rewritten(results_tmp):
    cfg = config(paradigm="federated").resolved()
    paradigms.run_experiment(cfg)
    committed = artifact_path(cfg).read_bytes()
    model_path(cfg).unlink()
    states, info = paradigms.trained_states(cfg)
    assert set(states) == {"global"}
    assert info["retrained"] and info["reproduced"] and info["max_accuracy_difference"] == 0.0
    assert info["retrain_cpu_hours"] > 0  # what the retraining cost, for the studies' compute account
    assert artifact_path(cfg).read_bytes() == committed
    assert paradigms.trained_states(cfg)[1] == info  # second call: loaded, not retrained


def test_the_prediction_line_is_fitted_on_transfer_pairs_and_never_rewritten(results_tmp, monkeypatch):
    languages = ("en", "de", "fr")
    matrix = pd.DataFrame([[0.0, 0.2, 0.4], [0.2, 0.0, 0.6], [0.4, 0.6, 0.0]], index=languages, columns=languages)
    pairs = pd.DataFrame([{"seed": 0, "source": s, "target": t, "accuracy": 0.9 - 0.5 * matrix.loc[s, t]}
                          for s in languages for t in languages if s != t])
    fit = unseen.fit_prediction(pairs, {"syntactic": matrix})["syntactic"]
    assert fit["slope"] == pytest.approx(-0.5) and fit["intercept"] == pytest.approx(0.9) and fit["pairs"] == 6
    monkeypatch.setattr(unseen, "unseen_languages", lambda: ("de", "fr"))
    monkeypatch.setattr(unseen, "federation_codes", lambda: ("en",))
    first = unseen.record_prediction(pairs, {"syntactic": matrix}, profile="smoke")
    assert first["predicted_accuracy"]["syntactic"] == {"de": pytest.approx(0.8), "fr": pytest.approx(0.7)}
    assert not first["scored_before"]
    other = pairs.assign(accuracy=0.1)
    assert unseen.record_prediction(other, {"syntactic": matrix}, profile="smoke") == first


def test_unseen_languages_are_scored_without_training(results_tmp, monkeypatch):
    cfg = ExperimentConfig(task="nc_standin", profile="smoke", paradigm="federated", rounds=1, num_threads=1,
                           protocol=2).resolved()
    paradigms.run_experiment(cfg)  # trains (and keeps its weights) before the study
    monkeypatch.setattr(unseen, "unseen_languages", lambda: ("hau_Latn", "zho_Hans"))
    with pytest.raises(RuntimeError, match="record the prediction"):
        unseen.score_unseen([cfg], log=lambda line: None)
    (unseen.study_dir("smoke")).mkdir(parents=True)
    (unseen.study_dir("smoke") / unseen.PREDICTION_FILE).write_text("{}")

    def no_training(*args, **kwargs):
        raise AssertionError("scoring unseen languages must not train")

    monkeypatch.setattr(paradigms, "_train", no_training)
    monkeypatch.setattr(paradigms, "train_local", no_training)
    [scored] = unseen.score_unseen([cfg], log=lambda line: None)
    assert set(scored["per_model"]) == {"global"} and scored["languages"] == ["hau_Latn", "zho_Hans"]
    assert scored["model"] == {"retrained": False}
    arm = unseen.arm_outcomes([scored])
    assert arm.languages == ("hau_Latn", "zho_Hans") and arm.correct.shape[0] == 1
    assert set(np.unique(arm.correct)) <= {0.0, 1.0}
    again = json.loads((unseen.study_dir("smoke") / f"{cfg.run_name()}.json").read_text())
    assert unseen.score_unseen([cfg], log=lambda line: None) == [again]  # resumable: loaded, not rescored


def test_monolingual_models_average_example_by_example():
    def per_lang(correct):
        return {"x": {"correct": correct, "predicted_counts": "2,2"}}

    run = {"seed": 0, "source_run": "r", "languages": ["x"],
           "per_model": {"a": per_lang("1100"), "b": per_lang("1010")}}
    arm = unseen.arm_outcomes([run])
    np.testing.assert_array_equal(arm.correct, [[1.0, 0.5, 0.5, 0.0]])
    np.testing.assert_array_equal(unseen.arm_outcomes([run], model="b").correct, [[1.0, 0.0, 1.0, 0.0]])
