"""Report helpers: budgets per task, data-efficiency curves and measured communication."""

import pytest

from fedlib.config import get_profile
from fedlib.experiment import ExperimentConfig
from fedlib.report import budget_summary, paper_arms, run_comparison

LANGS = ("en", "de")
SMOKE = get_profile("smoke")


def test_task_budgets_override_the_profile_defaults():
    cpu = get_profile("cpu")
    xnli = ExperimentConfig(task="xnli", profile="cpu").resolved()
    nc = ExperimentConfig(task="nc_standin", profile="cpu").resolved()
    assert xnli.train_per_client == cpu.task_budgets["xnli"]["train_per_client"] != nc.train_per_client
    assert nc.val_per_client == cpu.val_per_client
    # An explicit value still wins over the task's budget.
    assert ExperimentConfig(task="xnli", profile="cpu", train_per_client=3).resolved().train_per_client == 3
    assert f"{xnli.train_per_client} training" in budget_summary("xnli", cpu)


def test_load_only_never_trains(results_tmp):
    runs = run_comparison("nc_standin", paper_arms(SMOKE), profile=SMOKE, languages=LANGS, load_only=True,
                          progress=False)
    assert runs.empty and not (results_tmp.exists() and any(results_tmp.rglob("*.json")))


def test_artifact_inventory_lists_every_run_with_its_wall_time(results_tmp):
    from fedlib.artifacts import artifact_inventory

    assert artifact_inventory("smoke").empty
    run_comparison("nc_standin", paper_arms(SMOKE)[:2], profile=SMOKE, languages=LANGS, progress=False)
    inventory = artifact_inventory("smoke")
    assert sorted(inventory["paradigm"]) == ["centralized", "monolingual"]
    assert (inventory["wall_seconds"] > 0).all() and inventory["accuracy"].between(0, 1).all()


def test_the_profile_passed_wins_over_the_environment(results_tmp, monkeypatch):
    # The profile is chosen once, where a chapter or command starts; nothing below reads it again.
    monkeypatch.setenv("FEDLIB_PROFILE", "cpu")
    paper = get_profile("paper")
    arms = paper_arms(paper)
    assert [a.max_seeds for a in arms if a.key == "federated-lora"] == [paper.secondary_seeds]
    monkeypatch.setenv("FEDLIB_PROFILE", "smoke")
    runs = run_comparison("nc_standin", arms[:2], profile=SMOKE, seeds=(0,), languages=LANGS, progress=False)
    assert set(runs["profile"]) == {"smoke"} and set(runs["backbone"]) == {SMOKE.backbone}


def test_a_resolved_config_reads_nothing_from_the_environment_again(monkeypatch):
    from fedlib.client_datasets import build_clients
    from fedlib.experiment import ResolvedConfig

    cfg = ExperimentConfig(task="nc_standin", languages=LANGS, profile="smoke").resolved()
    assert isinstance(cfg, ResolvedConfig) and cfg.resolved() is cfg
    for name in ("FEDLIB_PROFILE", "FEDLIB_BACKBONE", "FEDLIB_PRECISION", "FEDLIB_DEVICE"):
        monkeypatch.setenv(name, "not-a-valid-value")
    assert [c.lang for c in build_clients(cfg)] == list(LANGS)
    assert cfg.config_hash() == ExperimentConfig.from_json(cfg.to_json()).config_hash()
    with pytest.raises(ValueError, match="FEDLIB_PROFILE"):  # a plain config does read them, and refuses
        ExperimentConfig(task="nc_standin", languages=LANGS).resolved()


