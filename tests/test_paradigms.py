"""Paradigms, artifacts, config validation and parameter accounting (tiny random backbone)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from fedlib import paradigms
from fedlib.artifacts import artifact_path
from fedlib.experiment import ExperimentConfig
from fedlib.methods import apply_method, count_parameters

LANGS = ("eng_Latn", "hau_Latn")


def config(**overrides):
    values = dict(task="sib200", languages=LANGS, profile="smoke", rounds=2, num_threads=1)
    values.update(overrides)
    return ExperimentConfig(**values)


@pytest.mark.parametrize("paradigm", ["monolingual", "centralized", "federated", "federated-lora"])
def test_each_paradigm_writes_a_complete_artifact(paradigm, results_tmp):
    artifact = paradigms.run_experiment(config(paradigm=paradigm))
    assert set(artifact["per_language"]) == set(LANGS)
    for metrics in artifact["per_language"].values():
        assert 0.0 <= metrics["accuracy"] <= 1.0 and 0.0 <= metrics["macro_f1"] <= 1.0
    assert artifact["profile"] == "smoke" and artifact["backbone"] == "tiny-random"
    assert artifact["config"]["paradigm"] == paradigm
    assert artifact["environment"]["packages"]["flwr"] == "1.41.0"
    assert artifact["data_checksums"], "the artifact must name the data files it read"
    assert artifact["parameters"]["trainable"] < artifact["parameters"]["total"]
    saved = json.loads(artifact_path(config(paradigm=paradigm)).read_text())
    assert saved["config_hash"] == artifact["config_hash"]


def test_existing_artifact_is_loaded_not_recomputed(results_tmp, monkeypatch):
    first = paradigms.run_experiment(config(paradigm="monolingual"))

    def must_not_train(*args, **kwargs):
        raise AssertionError("recomputed although the artifact exists")

    monkeypatch.setattr(paradigms, "_monolingual", must_not_train)
    again = paradigms.run_experiment(config(paradigm="monolingual"))
    assert again["per_language"] == first["per_language"]
    with pytest.raises(AssertionError, match="recomputed"):
        paradigms.run_experiment(config(paradigm="monolingual"), force=True)


def test_same_config_gives_the_same_numbers(results_tmp):
    a = paradigms.run_experiment(config(paradigm="federated"), force=True)
    b = paradigms.run_experiment(config(paradigm="federated"), force=True)
    assert a["per_language"] == b["per_language"]
    assert a["config_hash"] == b["config_hash"]


def test_budgets_are_the_same_across_paradigms():
    cfg = config().resolved()
    # federated: rounds x local epochs over each client's rows; baselines: the same number of epochs
    assert cfg.rounds * cfg.local_epochs == config(paradigm="monolingual").resolved().rounds * cfg.local_epochs


@pytest.mark.parametrize("bad, message", [
    (dict(paradigm="telepathy"), "paradigm"),
    (dict(method="magic"), "method"),
    (dict(rounds=0), "rounds"),
    (dict(lr=-1.0), "lr"),
    (dict(alpha=0.0, partition="dirichlet", clients_per_language=2), "alpha"),
    (dict(engine="warp"), "engine"),
    (dict(languages=("xx_Fake",)), "not in task"),
    (dict(profile="huge"), "profile"),
    (dict(clients_per_language=3), "dirichlet"),
])
def test_bad_config_fails_before_work(bad, message):
    with pytest.raises(ValueError, match=message):
        config(**bad).resolved()


def test_unknown_task_is_a_clear_error():
    with pytest.raises((ValueError, KeyError), match="task"):
        ExperimentConfig(task="nonsense", profile="smoke").resolved()


def test_paper_claim_parameter_accounting_on_xlmr_base_shapes():
    from transformers import AutoModelForSequenceClassification

    from fedlib.backbone import backbone_config

    cfg = backbone_config("FacebookAI/xlm-roberta-base")
    cfg.num_labels = 3
    with torch.device("meta"):
        full = AutoModelForSequenceClassification.from_config(cfg)
        n_full = count_parameters(apply_method(full, "full")).total
        prompt = apply_method(AutoModelForSequenceClassification.from_config(cfg), "ptuning")
    count = count_parameters(prompt)
    assert 277e6 < n_full < 280e6  # the paper's "278 M"
    assert count.total == n_full + count.trainable_by_group["prompt"]
    assert count.trainable_by_group["backbone"] == 0
    assert count.communication_saving > 0.99  # the paper's ">99 % less to train and send"


def test_cli_runs_one_experiment(results_tmp, capsys):
    from fedlib.cli import main

    rc = main(["run", "--task", "sib200", "--languages", "eng_Latn", "--paradigm", "federated",
               "--profile", "smoke", "--rounds", "1"])
    out = capsys.readouterr().out
    assert rc == 0 and "eng_Latn" in out and "average" in out


def test_cli_rejects_bad_values(capsys):
    from fedlib.cli import main

    assert main(["run", "--task", "sib200", "--rounds", "0", "--profile", "smoke"]) == 2
    assert "rounds" in capsys.readouterr().err


def test_cli_compare_prints_the_table(results_tmp, capsys):
    from fedlib.cli import main

    rc = main(["compare", "--task", "sib200", "--languages", "eng_Latn", "--profile", "smoke",
               "--arms", "monolingual,federated"])
    out = capsys.readouterr().out
    assert rc == 0 and "average" in out and "Federated prompt" in out and "Monolingual" in out


def test_cli_compare_rejects_unknown_arms(capsys):
    from fedlib.cli import main

    assert main(["compare", "--task", "sib200", "--arms", "telepathy", "--profile", "smoke"]) == 2
    assert "telepathy" in capsys.readouterr().err
