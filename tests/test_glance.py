"""The introduction's results at a glance and the method figure: numbers from artifacts and configs."""

import re

import matplotlib

matplotlib.use("Agg")

from plan_artifacts import fabricate  # noqa: E402

from fedlib.accounting import count_for  # noqa: E402
from fedlib.glance import glance_table, plot_glance  # noqa: E402
from fedlib.method_figure import method_numbers, plot_method  # noqa: E402


def test_glance_shows_ours_with_intervals_beside_the_paper(results_tmp):
    fabricate("nc_standin", "fed-ptuning", 0.8, seeds=range(5))
    table = glance_table(profile="smoke")
    nc = table[table["table"].str.startswith("Table 1")].set_index("paradigm")
    assert re.fullmatch(r"\d+\.\d % \[\d+\.\d, \d+\.\d\]", nc.loc["federated prompt tuning", "ours"])
    assert nc.loc["federated prompt tuning", "seeds"] == "5 of 5"
    assert re.fullmatch(r"en \d+\.\d % \[\d+\.\d, \d+\.\d\]", nc.loc["federated prompt tuning", "worst language"])
    assert nc.loc["monolingual", "worst language"] == "not computed yet"
    assert nc.loc["monolingual", "ours"] == "not computed yet" and nc.loc["monolingual", "paper"] == "64.3 %"
    assert "federated LoRA" in set(table[table["table"].str.startswith("Table 3")]["paradigm"])
    assert len(plot_glance(profile="smoke").axes) == 1  # one panel: the one task with artifacts


def test_the_method_figure_prints_the_counted_parameters():
    numbers = method_numbers(num_labels=3)
    count = count_for("FacebookAI/xlm-roberta-base", "ptuning", num_labels=3)
    assert numbers["trainable"] == count.trainable and numbers["frozen"] == count.total - count.trainable
    texts = " ".join(t.get_text() for t in plot_method(num_labels=3).texts)
    assert f"{count.trainable / 1e6:.2f} M trained" in texts and numbers["sent"] in texts
