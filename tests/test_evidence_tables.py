"""Chapters 3-5's tables, glue numbers and figures: read from plan artifacts, intervals everywhere."""

import re

import matplotlib
import pytest

matplotlib.use("Agg")

from plan_artifacts import fabricate  # noqa: E402

from fedlib import evidence_figures as figures  # noqa: E402
from fedlib import evidence_tables as tables  # noqa: E402
from fedlib.evidence import task_results  # noqa: E402
from fedlib.plan import get_plan  # noqa: E402

INTERVAL = r"[+-]?\d+\.\d [^\[]*\[[+-]?\d+\.\d, [+-]?\d+\.\d\]"


@pytest.fixture
def nc(results_tmp):
    fabricate("nc_standin", "fed-ptuning", 0.8, seeds=range(5))
    fabricate("nc_standin", "mono-ptuning", 0.6, seeds=range(5))
    fabricate("nc_standin", "central-ptuning", 0.8, seeds=range(5))
    return task_results("nc_standin", profile="smoke")


def test_numbers_exist_for_every_planned_arm_whether_computed_or_not(nc):
    numbers = tables.task_numbers("nc_standin", nc, prefix="nc", profile="smoke")
    for arm in get_plan("nc_standin").arms:
        assert f"nc_{arm.key.replace('-', '_')}" in numbers
    assert re.fullmatch(INTERVAL, numbers["nc_fed_ptuning"])
    assert numbers["nc_fed_ptuning_seeds"] == "5 of 5"
    assert numbers["nc_fed_lora"] == tables.MISSING and numbers["nc_fed_lora_seeds"] == "0 of 3"
    assert numbers["nc_fed_ptuning_minus_mono_ptuning_verdict"] == "reproduced"
    assert numbers["nc_fed_ptuning_minus_mono_ptuning_zero"] == "excludes 0"
    gap = float(numbers["nc_fed_ptuning_minus_mono_ptuning"].split()[0])
    assert 14 < gap < 26  # 0.8 vs 0.6 on fabricated predictions
    assert numbers["nc_fed_ptuning_minus_central_ptuning_verdict"] == "inconclusive"
    assert numbers["nc_fed_ptuning_minus_mono_ptuning_paper"] == "+16.4 points"  # 80.7 - 64.3
    assert numbers["nc_plan_runs"] == "15"
    assert numbers["nc_languages_federated_above"].startswith("5 (")


@pytest.fixture
def uneven(results_tmp):
    """Federated lifts Russian, the worst language of both arms, from 40 % to 70 %."""
    fabricate("nc_standin", "fed-ptuning", dict(en=0.85, de=0.85, es=0.8, fr=0.8, ru=0.7), seeds=range(5))
    fabricate("nc_standin", "mono-ptuning", dict(en=0.85, de=0.85, es=0.8, fr=0.8, ru=0.4), seeds=range(5))
    fabricate("nc_standin", "central-ptuning", 0.8, seeds=range(5))
    return task_results("nc_standin", profile="smoke")


def test_every_arm_reports_its_worst_language_and_spread(uneven):
    arms = tables.arm_table(uneven).set_index("arm")
    assert list(arms["worst language"]) == ["ru", "ru", "en"]  # central: every language alike, the first
    assert 35 < arms.loc["mono-ptuning", "worst"] < 45 and 40 < arms.loc["mono-ptuning", "spread"] < 50
    assert (arms["worst low"] <= arms["worst"]).all() and (arms["spread"] <= arms["spread high"]).all()
    worst = tables.comparison_table("nc_standin", uneven).set_index("comparison").loc["fed-ptuning − mono-ptuning"]
    assert 25 < worst["worst difference"] < 35 and worst["worst low"] > 0
    shown = tables.shown_arms(uneven).data
    assert re.fullmatch(r"ru \d+\.\d \[\d+\.\d, \d+\.\d\]", shown["worst language (%) [95 % CI]"][0])
    assert len(shown.columns) == 10  # within the page: the collapsed flag shares the one-label column
    assert re.fullmatch(r"\+\d+\.\d \[\+\d+\.\d, \+\d+\.\d\]",
                        tables.shown_comparisons("nc_standin", uneven).data.iloc[0, -1])


def test_worst_language_numbers_are_glued_for_the_headline_arms(uneven):
    numbers = tables.task_numbers("nc_standin", uneven, prefix="nc", profile="smoke")
    assert numbers["nc_fed_ptuning_worst_language"] == numbers["nc_mono_ptuning_worst_language"] == "ru"
    assert re.fullmatch(INTERVAL, numbers["nc_mono_ptuning_worst"]) and " % " in numbers["nc_mono_ptuning_worst"]
    assert re.fullmatch(INTERVAL, numbers["nc_fed_ptuning_spread"]) and " points " in numbers["nc_fed_ptuning_spread"]
    assert "nc_central_ptuning_worst" not in numbers  # the headline pair only
    assert 25 < float(numbers["nc_fed_ptuning_minus_mono_ptuning_worst"].split()[0]) < 35
    assert numbers["nc_fed_ptuning_minus_mono_ptuning_worst_zero"] == "excludes 0"
    assert numbers["nc_fed_ptuning_minus_mono_ptuning_worst_verdict"] == "reproduced"
    sentence = tables.summary_sentence("nc_standin", uneven)
    assert "The worst language is ru at" in sentence and "in worst-language accuracy is +" in sentence


def test_an_incomplete_arm_gives_an_interim_difference_and_no_verdict(results_tmp):
    fabricate("nc_standin", "fed-ptuning", 0.8, seeds=range(5))
    fabricate("nc_standin", "mono-ptuning", 0.6, seeds=range(2))
    numbers = tables.task_numbers("nc_standin", task_results("nc_standin", profile="smoke"), prefix="nc",
                                profile="smoke")
    assert numbers["nc_fed_ptuning_minus_mono_ptuning"].endswith("(interim, 2 seeds)")
    assert numbers["nc_fed_ptuning_minus_mono_ptuning_verdict"] == "not assessed"
    assert numbers["nc_fed_ptuning_minus_mono_ptuning_worst"].endswith("(interim, 2 seeds)")
    assert numbers["nc_fed_ptuning_minus_mono_ptuning_worst_verdict"] == "not assessed"
    results = task_results("nc_standin", profile="smoke")
    from fedlib.evidence import difference

    # The ledger says why a row waits: an arm short of its seeds, or an arm never run.
    assert tables.points_text(difference(results, "fed-ptuning", "mono-ptuning"), results, "fed-ptuning",
                              "mono-ptuning") == "waiting for seeds: mono-ptuning has 2 of 5"
    assert tables.points_text(None, results, "fed-lora", "fed-ptuning") == "no runs of fed-lora"


def test_nothing_computed_yet_still_gives_every_number(results_tmp):
    numbers = tables.task_numbers("masakhanews", {}, prefix="mn", profile="smoke")
    assert numbers["mn_fed_ptuning"] == tables.MISSING
    assert numbers["mn_fed_lora_minus_fed_ptuning"] == "not assessed"
    assert numbers["mn_fed_lora_minus_fed_ptuning_paper"] == "+4.6 points"  # 81.0 - 76.4
    assert numbers["mn_plan_runs"] == "0"
    assert numbers["mn_fed_ptuning_worst"] == numbers["mn_mono_ptuning_spread"] == tables.MISSING
    assert numbers["mn_mono_ptuning_worst_language"] == "—"
    assert numbers["mn_fed_ptuning_minus_mono_ptuning_worst"] == "not assessed"
    assert numbers["mn_fed_ptuning_minus_mono_ptuning_worst_verdict"] == "not assessed"
    assert "not computed yet" in tables.summary_sentence("masakhanews", {})
    for shown in (tables.shown_arms({}), tables.shown_languages({}), tables.shown_runs({}),
                  tables.shown_gains({}, "fed-ptuning", "mono-ptuning")):
        assert "nan" not in shown.to_html().lower()


def test_per_language_gains_are_paired_with_intervals(nc):
    gains = tables.language_gains(nc, "fed-ptuning", "mono-ptuning")
    assert list(gains["language"]) == ["en", "de", "es", "fr", "ru"]
    assert (gains["low"] < gains["gain"]).all() and (gains["gain"] < gains["high"]).all()
    assert (gains["seeds"] == 5).all()
    assert tables.language_gains(nc, "fed-ptuning", "fed-lora").empty


def test_the_time_table_has_one_row_per_run(nc):
    runs = tables.run_table(nc)
    assert len(runs) == 15 and set(runs.groupby("arm").size()) == {5}
    assert (runs["wall_seconds"] == 1.0).all()  # each run's own time, never multiplied by its languages
    assert runs["converged"].all()  # best round 1 of 6 with patience 5


def test_reader_tables_show_intervals_and_no_index_or_nan(nc):
    html = tables.shown_arms(nc).to_html()
    assert re.search(r"\d+\.\d \[\d+\.\d, \d+\.\d\]", html) and "nan" not in html.lower()
    assert "—" in tables.shown_comparisons("nc_standin", nc).to_html()  # rows without a paper value
    wide = tables.shown_languages(nc).data
    assert list(wide.columns) == ["language", "fed-ptuning", "mono-ptuning", "central-ptuning"]


def test_a_pilot_says_whether_anything_learns(results_tmp):
    langs = ("en", "sw")
    fabricate("xnli", "fed-lora", 0.7, seeds=[0], languages=langs, labels_count=3)
    fabricate("xnli", "fed-ptuning", 0.0, seeds=[0], languages=langs, labels_count=3, one_label=True)
    sentence = tables.pilot_sentence("xnli", task_results("xnli", profile="smoke"))
    assert "collapsed" in sentence and "earns the full plan" in sentence


def test_a_pilot_at_chance_does_not_earn_the_plan(results_tmp):
    langs = ("en", "sw")
    for arm in ("fed-lora", "fed-ptuning"):
        fabricate("xnli", arm, 0.0, seeds=[0], languages=langs, labels_count=3, one_label=True)
    sentence = tables.pilot_sentence("xnli", task_results("xnli", profile="smoke"))
    assert "does not earn" in sentence and "Chance is 33.3 %" in sentence
    assert "not computed yet" in tables.pilot_sentence("xnli", {})


def test_figures_show_every_arm_chance_and_the_paper(nc):
    ax = figures.plot_arms("nc_standin", nc)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["fed-ptuning", "mono-ptuning", "central-ptuning"]
    assert any(line.get_xdata()[0] == pytest.approx(100 / 7) for line in ax.get_lines())  # chance, 7 topics
    diamonds = [line for line in ax.get_lines() if line.get_marker() == "D" and len(line.get_xdata())]
    assert sorted(float(d.get_xdata()[0]) for d in diamonds) == [64.3, 77.5, 80.7]
    ax = figures.plot_languages("nc_standin", nc)
    assert len(ax.get_yticklabels()) == 5
    assert figures.arm_colour("fed-ptuning") != figures.arm_colour("mono-ptuning")


def test_interval_text_scales_signs_and_says_when_nothing_is_computed():
    from fedlib.stats import Estimate

    assert tables.interval_text(Estimate(0.787, 0.757, 0.82)) == "78.7 % [75.7, 82.0]"
    assert tables.interval_text(Estimate(0.018, -0.011, 0.053), signed=True, unit=" points") == \
        "+1.8 points [-1.1, +5.3]"
    assert tables.interval_text(Estimate(0.6123, 0.58, 0.641), scale=1, unit="", decimals=3) == \
        "0.612 [0.580, 0.641]"
    assert tables.interval_text(None) == tables.MISSING

