"""Report helpers: budgets per task, data-efficiency curves and measured communication."""

import pytest

from fedlib.config import get_profile
from fedlib.experiment import ExperimentConfig
from fedlib.report import (budget_arms, budget_curve, budget_summary, communication_table, paper_arms,
                           run_comparison)

LANGS = ("en", "de")


def test_task_budgets_override_the_profile_defaults():
    cpu = get_profile("cpu")
    xnli = ExperimentConfig(task="xnli", profile="cpu").resolved()
    nc = ExperimentConfig(task="nc_standin", profile="cpu").resolved()
    assert xnli.train_per_client == cpu.task_budgets["xnli"]["train_per_client"] != nc.train_per_client
    assert nc.val_per_client == cpu.val_per_client
    # An explicit value still wins over the task's budget.
    assert ExperimentConfig(task="xnli", profile="cpu", train_per_client=3).resolved().train_per_client == 3
    assert f"{xnli.train_per_client} training" in budget_summary("xnli", profile="cpu")


def test_budget_curve_has_one_point_per_paradigm_and_budget(results_tmp):
    runs = run_comparison("nc_standin", budget_arms((4, 8)), languages=LANGS, progress=False)
    curve = budget_curve(runs)
    assert sorted(map(tuple, curve[["paradigm", "train_per_client"]].values.tolist())) == [
        ("federated", 4), ("federated", 8), ("monolingual", 4), ("monolingual", 8)]
    assert curve["mean"].between(0, 100).all()


def test_communication_is_read_from_the_records(results_tmp):
    arms = [a for a in paper_arms() if a.key in ("federated", "federated-full")]
    runs = run_comparison("nc_standin", arms, languages=LANGS, progress=False)
    table = communication_table(runs).set_index("method")
    # Four bytes per float32 parameter plus the record's framing: never less than the raw arrays.
    for method in ("prompt", "full"):
        assert table.loc[method, "bytes_per_round"] >= 4 * table.loc[method, "communicated"]
        assert table.loc[method, "bytes_per_round"] < 4 * table.loc[method, "communicated"] * 1.05 + 10_000
    assert table.loc["prompt", "pct_of_full_ft"] < table.loc["full", "pct_of_full_ft"] == pytest.approx(100)


def test_load_only_never_trains(results_tmp):
    runs = run_comparison("nc_standin", paper_arms(), languages=LANGS, load_only=True, progress=False)
    assert runs.empty and not (results_tmp.exists() and any(results_tmp.rglob("*.json")))


def test_artifact_inventory_lists_every_run_with_its_wall_time(results_tmp):
    from fedlib.artifacts import artifact_inventory

    assert artifact_inventory("smoke").empty
    run_comparison("nc_standin", paper_arms()[:2], languages=LANGS, progress=False)
    inventory = artifact_inventory("smoke")
    assert sorted(inventory["paradigm"]) == ["centralized", "monolingual"]
    assert (inventory["wall_seconds"] > 0).all() and inventory["accuracy"].between(0, 1).all()
