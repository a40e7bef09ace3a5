"""The claims ledger: verdicts do what their printed rule says, and numbers come from the artifacts."""

import re
from types import SimpleNamespace

import pytest
from plan_artifacts import fabricate as _fabricate

from fedlib import claims
from fedlib.config import get_profile
from fedlib.stats import Estimate
from fedlib.verdicts import VERDICTS, decide, rule


def _apply_printed_rule(text: str, estimate: Estimate | None) -> str:
    """Read the rule as a person would and apply it: the test of the printed words, not of the code."""
    if estimate is None:
        assert "not assessed until both arms have every planned seed" in text
        return "not assessed"
    side = re.search(r"reproduced if entirely (above|below) 0", text).group(1)
    other = re.search(r"contradicted if entirely (above|below) 0", text).group(1)
    assert {side, other} == {"above", "below"} and "inconclusive if it contains 0" in text
    where = "above" if estimate.low > 0 else "below" if estimate.high < 0 else "contains"
    return {side: "reproduced", other: "contradicted"}.get(where, "inconclusive")


@pytest.mark.parametrize("sign", [1, -1])
@pytest.mark.parametrize("estimate", [Estimate(0.05, 0.01, 0.09), Estimate(-0.05, -0.09, -0.01),
                                      Estimate(0.01, -0.02, 0.04), None])
def test_every_verdict_does_what_its_printed_rule_says(estimate, sign):
    verdict = decide(estimate, sign)
    assert verdict in VERDICTS
    assert verdict == _apply_printed_rule(rule("A", "B", sign), estimate)


@pytest.mark.parametrize("estimate", [Estimate(0.05, 0.01, 0.09), Estimate(-0.05, -0.09, -0.01),
                                      Estimate(0.01, -0.02, 0.04), None])
def test_every_ledger_row_does_what_its_printed_rule_says(estimate, monkeypatch):
    """The rows as the ledger builds them, on constructed differences: mean and worst-language rows."""
    monkeypatch.setattr(claims, "difference", lambda *a, **k: estimate)
    monkeypatch.setattr(claims, "worst_difference", lambda *a, **k: estimate)
    results = {key: SimpleNamespace(seeds=(0, 1, 2)) for key in ("fed-ptuning", "mono-ptuning", "central-ptuning")}
    rows = [claims.comparison_claim("nc_standin", a, b, text, results) for a, b, text in claims.TASK_CLAIMS[:2]]
    worst = claims.worst_language_claim("nc_standin", results)
    for row in [*rows, worst]:
        assert row.verdict == _apply_printed_rule(row.rule, estimate)
    assert worst.claim == "nc_standin: federated raises the worst language above monolingual"
    assert worst.paper == "—" and "fed-ptuning − mono-ptuning in worst-language accuracy" in worst.rule
    assert "reproduced if entirely above 0" in worst.rule  # the claimed direction: federated higher


def test_the_four_verdicts_occur():
    assert decide(Estimate(0.05, 0.01, 0.09), 1) == "reproduced"
    assert decide(Estimate(0.05, 0.01, 0.09), -1) == "contradicted"
    assert decide(Estimate(0.01, -0.02, 0.04), 1) == "inconclusive"
    assert decide(None, 1) == "not assessed"


def test_missing_artifacts_are_not_assessed_never_guessed(tmp_path, monkeypatch):
    monkeypatch.setenv("FEDLIB_RESULTS", str(tmp_path))
    ledger = claims.claims_ledger(get_profile("smoke"))
    run_rows = ledger[~ledger["claim"].str.contains("parameters")]
    assert set(run_rows["verdict"]) == {"not assessed"}
    assert ledger.loc[ledger["claim"].str.contains("parameters"), "verdict"].item() == "reproduced"


def test_ledger_reads_the_intervals_of_real_artifacts(results_tmp):
    _fabricate("nc_standin", "fed-ptuning", 0.8, seeds=range(5))
    _fabricate("nc_standin", "mono-ptuning", 0.6, seeds=range(5))
    _fabricate("nc_standin", "central-ptuning", 0.8, seeds=range(5))
    ledger = claims.claims_ledger(get_profile("smoke")).set_index("claim")
    beats_local = ledger.loc["nc_standin: federated prompt tuning beats monolingual (local) tuning"]
    assert beats_local["verdict"] == "reproduced" and "(5 seeds)" in beats_local["ours"]
    gap = float(re.match(r"([+-][0-9.]+) points", beats_local["ours"]).group(1))
    assert 14 < gap < 26  # 0.8 vs 0.6 on fabricated predictions
    central = ledger.loc["nc_standin: federated vs centralized prompt tuning"]
    assert central["verdict"] == "inconclusive"  # same accuracy: the interval contains 0
    assert ledger.loc["xnli: federated vs centralized prompt tuning", "verdict"] == "not assessed"
    worst = ledger.loc["nc_standin: federated raises the worst language above monolingual"]
    assert worst["verdict"] == "reproduced" and worst["paper"] == "—" and "(5 seeds)" in worst["ours"]
    assert 14 < float(re.match(r"([+-][0-9.]+) points", worst["ours"]).group(1)) < 26
    assert ledger.loc["masakhanews: federated raises the worst language above monolingual", "verdict"] == "not assessed"
    html = claims.ledger_html(ledger.reset_index())
    assert 'href="../notebooks/03_news_classification.html' in html and "&gt; 99 %" in html


def test_a_verdict_waits_for_every_planned_seed(results_tmp):
    from fedlib.evidence import difference, task_results

    _fabricate("nc_standin", "fed-ptuning", 0.8, seeds=range(5))
    _fabricate("nc_standin", "mono-ptuning", 0.6, seeds=range(2))  # 2 of its 5 seeds so far
    ledger = claims.claims_ledger(get_profile("smoke")).set_index("claim")
    assert ledger.loc["nc_standin: federated prompt tuning beats monolingual (local) tuning",
                      "verdict"] == "not assessed"
    results = task_results("nc_standin", profile="smoke")
    assert difference(results, "fed-ptuning", "mono-ptuning") is None
    interim = difference(results, "fed-ptuning", "mono-ptuning", interim=True)  # paired on seeds 0-1
    assert interim is not None and interim.low > 0
