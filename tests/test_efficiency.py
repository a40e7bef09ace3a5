"""Chapter 6 from the plan: the data-efficiency arms, their paired comparisons, the ledger row, traffic."""

import matplotlib
import pandas as pd
import pytest

matplotlib.use("Agg")

from plan_artifacts import fabricate  # noqa: E402

from fedlib import efficiency  # noqa: E402
from fedlib import plan as plans  # noqa: E402


def test_study_arms_take_their_base_arms_rate_and_run_every_seed(results_tmp):
    plan = plans.get_plan("nc_standin")
    arm = plan.arm("fed-ptuning-16")
    assert arm.lr_grid == () and arm.lr_from == "fed-ptuning" and arm not in plan.arms
    assert dict(arm.budgets)["train_per_client"] == 16
    assert list(plans.planned_runs(plan, (arm,), profile="smoke")) == []  # no rate chosen yet: nothing to run
    fabricate("nc_standin", "fed-ptuning", 0.8, seeds=range(5))
    runs = list(plans.planned_runs(plan, (arm,), profile="smoke"))
    assert [cfg.seed for _, _, cfg in runs] == [0, 1, 2] and {stage for stage, _, _ in runs} == {"seeds"}
    assert {cfg.lr for _, _, cfg in runs} == {plan.arm("fed-ptuning").lr_grid[0]}
    assert {cfg.resolved().train_per_client for _, _, cfg in runs} == {16}


def test_a_quarter_of_the_rows_federated_against_all_of_them_alone(results_tmp):
    fabricate("nc_standin", "fed-ptuning", 0.85, seeds=range(5))
    fabricate("nc_standin", "mono-ptuning", 0.6, seeds=range(5))
    fabricate("nc_standin", "fed-ptuning-16", 0.8, seeds=range(3))
    fabricate("nc_standin", "mono-ptuning-16", 0.4, seeds=range(3))
    results = efficiency.efficiency_results(profile="smoke")
    table = efficiency.efficiency_table(results).set_index("key")
    assert table.loc["fed-ptuning-16", "rows per client"] == 16 and table.loc["fed-ptuning", "rows per client"] == 64
    assert table.loc["fed-ptuning-16", "seeds"] == 3 and table.loc["mono-ptuning", "seeds"] == 5
    comparisons = efficiency.efficiency_comparisons(results).set_index("comparison")
    claim = comparisons.loc["fed-ptuning-16 − mono-ptuning"]
    assert claim["complete"] and claim["excludes 0"] and 10 < claim["difference"] < 30
    assert pd.isna(comparisons.loc["fed-ptuning-32 − mono-ptuning-32", "difference"])  # not computed: missing
    numbers = efficiency.efficiency_numbers(results)
    assert numbers["eff_claim_verdict"] == "reproduced" and numbers["eff_fed_ptuning_32"] == "not computed yet"
    from fedlib.claims import efficiency_claim

    row = efficiency_claim("smoke")
    assert row.verdict == "reproduced" and "fed-ptuning-16 − mono-ptuning" in row.rule
    assert efficiency.plot_efficiency(results) is not None
    html = efficiency.shown_efficiency_comparisons(results).to_html()
    assert "—" in html and "nan" not in html.lower()


def test_the_claim_waits_for_every_seed_of_the_study_arm(results_tmp):
    fabricate("nc_standin", "fed-ptuning", 0.85, seeds=range(5))
    fabricate("nc_standin", "mono-ptuning", 0.6, seeds=range(5))
    fabricate("nc_standin", "fed-ptuning-16", 0.8, seeds=range(2))
    numbers = efficiency.efficiency_numbers(efficiency.efficiency_results(profile="smoke"))
    assert numbers["eff_claim_verdict"] == "not assessed" and numbers["eff_claim"].endswith("(interim)")


@pytest.mark.parametrize("missing", [True, False])
def test_traffic_is_read_from_the_plans_federated_runs(results_tmp, missing):
    import json

    from fedlib.artifacts import artifact_path

    arms = ("fed-ptuning",) if missing else ("fed-ptuning", "fed-full")
    for key in arms:
        fabricate("nc_standin", key, 0.8, seeds=range(1))
        plan = plans.get_plan("nc_standin")
        path = artifact_path(plan.config(plan.arm(key), seed=0, lr=plan.arm(key).lr_grid[0], profile="smoke"))
        artifact = json.loads(path.read_text())
        artifact["bytes_per_round"] = {"en": {"sent": 1, "received": 100 if key == "fed-ptuning" else 10_000}}
        artifact["parameters"] = {"communicated": 25}
        path.write_text(json.dumps(artifact))
    traffic = efficiency.plan_traffic(profile="smoke")
    numbers = efficiency.traffic_numbers(traffic)
    assert numbers["comm_fed_ptuning_bytes"] == "100"
    assert numbers["comm_fed_ptuning_pct_full"] == ("—" if missing else "1.00")
    assert numbers["comm_fed_lora_bytes"] == "not computed yet"


def test_the_finding_names_the_verdict_and_every_seed_or_says_what_is_missing(results_tmp):
    fabricate("nc_standin", "fed-ptuning", 0.85, seeds=range(5))
    fabricate("nc_standin", "mono-ptuning", 0.8, seeds=range(5))
    assert efficiency.efficiency_finding(efficiency.efficiency_results(profile="smoke")).startswith(
        "*Not computed yet* (missing: fed-ptuning-16)")
    fabricate("nc_standin", "fed-ptuning-16", 0.4, seeds=range(3))
    text = efficiency.efficiency_finding(efficiency.efficiency_results(profile="smoke"))
    assert "**contradicted**" in text and "paired over the 3 seeds" in text
    assert text.count("(best round 1 of 6)") == 3 and "early stopping" in text
