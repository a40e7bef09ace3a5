"""Paradigms, artifacts, config validation and parameter accounting (tiny random backbone)."""

from __future__ import annotations

import json

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
    assert 0 < artifact["cpu_seconds"] and artifact["wall_seconds"] > 0  # in-process: its own CPU time
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


def test_every_paradigm_passes_over_its_rows_the_same_number_of_times(results_tmp):
    # Federated: rounds x local epochs over each client's rows; the baselines train that many epochs.
    budget = dict(rounds=3, local_epochs=2, patience=100)  # no early stopping: every epoch runs
    federated = paradigms.run_experiment(config(paradigm="federated", **budget))
    monolingual = paradigms.run_experiment(config(paradigm="monolingual", **budget))
    centralized = paradigms.run_experiment(config(paradigm="centralized", **budget))
    assert len(federated["history"]["rounds"]) * budget["local_epochs"] == 6
    assert [c["epochs_run"] for c in monolingual["clients"].values()] == [6, 6]
    assert centralized["training"]["epochs_run"] == 6


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
    (dict(strategy="fedsgd"), "strategy"),
    (dict(rounds=-3), "rounds"),
    (dict(lr=0.0), "lr"),
    (dict(alpha=-0.5, partition="dirichlet", clients_per_language=2), "alpha"),
    (dict(server_lr=0.0), "server_lr"),
    (dict(min_successful_clients=3), "more than the 2 clients"),  # more clients than languages
    (dict(min_successful_clients=0), "min_successful_clients"),
])
def test_bad_config_fails_before_work(bad, message):
    with pytest.raises(ValueError, match=message):
        config(**bad).resolved()


def test_every_problem_is_listed_at_once():
    with pytest.raises(ValueError) as err:
        config(paradigm="telepathy", rounds=0, lr=-1.0, engine="warp").resolved()
    message = str(err.value)
    assert all(word in message for word in ("paradigm", "rounds", "lr", "engine"))


def test_unknown_profile_from_the_environment_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("FEDLIB_PROFILE", "huge")
    with pytest.raises(ValueError, match="unknown profile 'huge'.*FEDLIB_PROFILE"):
        ExperimentConfig(task="sib200", languages=LANGS).resolved()


def test_more_nodes_than_clients_is_refused_before_training():
    from fedlib.federated.client_app import build_client_app
    from fedlib.federated.engines import InProcessGrid
    from fedlib.federated.server_app import federate

    cfg = config(rounds=1).resolved()
    grid = InProcessGrid(build_client_app(cfg), 3)  # two languages, three nodes
    calls = []
    app = grid.client_app
    grid.client_app = lambda message, context: calls.append(message.metadata.message_type) or app(message, context)
    with pytest.raises(ValueError, match="3 nodes are connected but the experiment has only 2 clients"):
        federate(grid, cfg)
    assert "train" not in calls


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


@pytest.mark.parametrize("args, message", [
    (["--rounds", "0"], "rounds must be a positive integer"),
    (["--lr", "0"], "lr must be > 0"),
    (["--alpha", "-1", "--partition", "dirichlet", "--clients-per-language", "2"], "alpha must be > 0"),
    (["--languages", "eng_Latn,xx_Fake"], "not in task"),
    (["--languages", "eng_Latn", "--min-successful-clients", "2"], "more than the 1 clients"),
    (["--dp-noise-multiplier", "1.0"], "needs dp_clipping_norm"),
    (["--paradigm", "monolingual", "--dp-clipping-norm", "1.0"], "federated paradigms"),
])
def test_cli_rejects_bad_values_before_work(args, message, capsys, monkeypatch):
    from fedlib.cli import main

    monkeypatch.setattr(paradigms, "run_experiment", lambda *a, **k: pytest.fail("work started"))
    assert main(["run", "--task", "sib200", "--profile", "smoke", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fedlib: invalid experiment config") and message in err


@pytest.mark.parametrize("args, message", [
    (["--task", "nonsense"], "unknown task"),
    (["--task", "sib200", "--profile", "huge"], "invalid choice: 'huge'"),
    (["--task", "sib200", "--engine", "warp"], "invalid choice: 'warp'"),
    (["--task", "sib200", "--paradigm", "telepathy"], "invalid choice: 'telepathy'"),
    (["--task", "sib200", "--method", "magic"], "invalid choice: 'magic'"),
    (["--task", "sib200", "--strategy", "fedsgd"], "invalid choice: 'fedsgd'"),
    (["--task", "sib200", "--rounds", "many"], "invalid int value: 'many'"),
])
def test_cli_rejects_unknown_names_before_work(args, message, capsys, monkeypatch):
    from fedlib.cli import main

    monkeypatch.setattr(paradigms, "run_experiment", lambda *a, **k: pytest.fail("work started"))
    try:
        rc = main(["run", *args])
    except SystemExit as exit_:  # argparse's own "invalid choice" error
        rc = exit_.code
    assert rc == 2
    assert message in capsys.readouterr().err.lower()


def test_cli_rejects_an_unknown_profile_in_the_environment(capsys, monkeypatch):
    from fedlib.cli import main

    monkeypatch.setenv("FEDLIB_PROFILE", "huge")
    monkeypatch.setattr(paradigms, "run_experiment", lambda *a, **k: pytest.fail("work started"))
    assert main(["run", "--task", "sib200"]) == 2
    assert "FEDLIB_PROFILE" in capsys.readouterr().err


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
