"""The claims ledger: verdicts follow their stated rules and numbers come from the artifacts."""

import pandas as pd
import pytest

from fedlib import claims
from fedlib.report import paper_arms, run_comparison, seed_averages


def _results(means: dict[str, float], task_langs=("en", "de")) -> pd.DataFrame:
    rows = [{"arm": arm, "label": arm, "seed": seed, "lang": lang, "accuracy": mean / 100 + 0.01 * seed,
             "macro_f1": 0.0} for arm, mean in means.items() for seed in (0, 1) for lang in task_langs]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("means, verdict", [
    ({"federated": 80, "centralized": 70, "monolingual": 60}, "reproduced"),  # paper's NC order
    ({"federated": 70, "centralized": 80, "monolingual": 60}, "partial"),
    ({"federated": 50, "centralized": 80, "monolingual": 60}, "not reproduced"),
])
def test_paradigm_verdicts_follow_the_rule(means, verdict):
    (claim,) = claims._paradigm_claims({"nc_standin": _results(means)})
    assert claim.verdict == verdict
    assert f"federated {means['federated'] + 0.5:.1f}" in claim.ours  # mean over seeds 0 and 1


def test_missing_artifacts_are_not_assessed_never_guessed(tmp_path, monkeypatch):
    monkeypatch.setenv("FEDLIB_RESULTS", str(tmp_path))
    ledger = claims.claims_ledger()
    run_rows = ledger[~ledger["claim"].str.contains("parameters")]
    assert set(run_rows["verdict"]) == {"not assessed"}
    assert ledger.loc[ledger["claim"].str.contains("parameters"), "verdict"].item() == "reproduced"


def test_ledger_reads_the_numbers_of_real_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("FEDLIB_RESULTS", str(tmp_path))
    langs = claims.CHAPTER_TASKS["nc_standin"][1]
    arms = [a for a in paper_arms() if a.key in ("federated", "monolingual", "centralized")]
    results = run_comparison("nc_standin", arms, languages=langs, progress=False)
    ledger = claims.claims_ledger().set_index("claim")
    row = ledger.loc["nc_standin: federated vs centralized vs monolingual (avg. accuracy %)"]
    expected = seed_averages(results).set_index("arm")["mean"]
    assert f"federated {expected['federated']:.1f}" in row["ours"]
    assert row["verdict"] != "not assessed"
    html = claims.ledger_html(ledger.reset_index())
    assert 'href="../notebooks/03_news_classification.html' in html and "&gt; 99 %" in html
