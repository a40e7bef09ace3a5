"""The book's language-distance study: what it reads off the matrices, and every number it glues."""

import re

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from fedlib import distance as D
from fedlib.config import REPO_ROOT, get_profile
from fedlib.data.errors import UnknownLanguageError
from fedlib.distance.plots import GAIN_CANDIDATES

matplotlib.use("Agg")
CHAPTER = REPO_ROOT / "notebooks" / "08_language_distance.md"


def _matrix(values, langs, kind="syntactic"):
    matrix = pd.DataFrame(np.array(values, dtype=float), index=langs, columns=langs)
    matrix.attrs["distance"] = kind
    return matrix


def test_closest_pair_skips_the_diagonal_and_undefined_distances():
    matrix = _matrix([[0, np.nan, 0.5], [np.nan, 0, 0.2], [0.5, 0.2, 0]], ["en", "pcm", "de"])
    assert D.closest_pair(matrix) == ("pcm", "de")


def test_agreement_extremes_are_the_least_and_most_agreeing_distinct_pair():
    names = ["a", "b", "c"]
    agreement = pd.DataFrame([[1, -0.2, 0.9], [-0.2, 1, np.nan], [0.9, np.nan, 1]], index=names, columns=names)
    assert D.agreement_extremes(agreement) == (("a", "b", -0.2), ("a", "c", 0.9))


def test_distinct_languages_keep_one_code_per_language_the_first_task_uses():
    langs = D.distinct_languages(["nc_standin", "masakhanews"])
    assert langs[:5] == ["en", "de", "es", "fr", "ru"]
    assert "eng" not in langs and "fra" not in langs and "amh" in langs and len(langs) == 5 + 16 - 2


def test_model_options_follow_the_profile():
    assert D.model_options(get_profile("smoke")) == {"backbone": "tiny-random", "source": "flores", "n": 8,
                                                     "max_length": 32}
    assert D.model_options(get_profile("cpu"))["n"] == 32
    paper = D.model_options(get_profile("paper"))
    assert (paper["n"], paper["max_length"], paper["backbone"]) == (200, 128, get_profile("paper").backbone)


def test_resource_confound_correlates_distance_to_english_with_cc100_size():
    langs = ["de", "en", "sw", "yo", "ha", "am", "ru"]
    confound = D.resource_confound(langs)
    assert confound["distance to English"].tolist() == list(D.URIEL_KINDS)
    syntactic = D.distance_to(D.uriel_matrix(langs, "syntactic"), "en")
    gib = D.cc100_table(langs)["cc100_gib"]
    assert confound.loc[0, "rho"] == pytest.approx(D.spearman(syntactic, gib))
    with pytest.raises(UnknownLanguageError, match="English"):
        D.resource_confound(["de", "sw", "yo", "ha"])


def test_correlation_summary_names_only_candidates_clear_of_zero_by_both_tests():
    rows = pd.DataFrame({"predictor": ["near", "far", "lucky"], "n": 12, "rho": [0.1, 0.8, 0.6],
                         "lo": [-0.4, 0.3, 0.1], "hi": [0.5, 0.95, 0.9], "p_perm": [0.7, 0.01, 0.2]})
    text = D.correlation_summary("xnli", rows)
    assert text.startswith("xnli (12 languages): ρ ranges from 0.10 (near) to 0.80 (far)")
    assert text.endswith("1 of 3 candidates have an interval excluding zero and a permutation p below 0.05 (far)")
    assert D.correlation_summary("nc", rows.assign(rho=np.nan)) == "nc: too few languages for a rank correlation"


def test_the_reader_sees_candidate_names_intervals_and_only_the_notes_the_prose_does_not_give():
    rows = pd.DataFrame({"task": "nc_standin", "predictor": ["syntactic_to_en", "model_cosine_mean_to_others",
                                                              "cc100_gib"],
                         "n": 5, "rho": [0.3, -0.4, 0.2], "lo": [-1.0, -1.0, -0.9], "hi": [1.0, 0.8, 1.0],
                         "p_perm": [0.68, 0.52, 0.78],
                         "note": ["only 5 languages: the interval is too narrow, trust p_perm",
                                  "only 5 languages: the interval is too narrow, trust p_perm; only 1990 of 2000 "
                                  "resamples had a defined rho", ""]})
    shown = D.shown_correlations(rows).data
    assert list(shown["candidate"]) == ["syntactic distance to English", "model (cosine) mean distance to the others",
                                        "CC-100 size (GiB)"]
    assert list(shown["Spearman ρ [95 % CI]"]) == ["+0.30 [-1.00, +1.00]", "-0.40 [-1.00, +0.80]",
                                                   "+0.20 [-0.90, +1.00]"]
    assert list(shown["note"]) == ["—", "only 1990 of 2000 resamples had a defined rho", "—"]
    html = D.shown_correlations(rows).to_html()
    assert "predictor" not in html and "p_perm" not in html


@pytest.fixture(scope="module")
def smoke_study(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FEDLIB_RESULTS", str(tmp_path_factory.mktemp("results")))  # no artifacts: no gains
        tasks = {"nc_standin": ("", ("en", "de", "es", "fr", "ru")), "masakhanews": ("", None)}
        yield D.language_study(tasks, get_profile("smoke"))


def test_distance_numbers_give_every_number_the_chapter_quotes(smoke_study):
    quoted = set(re.findall(r"\{glue(?::\w+)?\}`(\w+)", CHAPTER.read_text()))
    numbers = D.distance_numbers(smoke_study)
    assert quoted == set(numbers)
    assert numbers["dist_n_languages"] == len(smoke_study.languages) == 19
    assert numbers["dist_no_syntax"] == "Nigerian Pidgin" and numbers["dist_tasks_with_gains"] == "none"
    assert numbers["dist_n_absent"] == 8 and "Nigerian Pidgin" in numbers["dist_absent"]
    assert numbers["dist_n_tests"] == 0 and "no correlation" in numbers["dist_corr_summary"]


def test_the_study_reports_tasks_without_artifacts_instead_of_training(smoke_study):
    assert smoke_study.gain_status["federated and monolingual artifacts"].tolist() == ["not computed yet"] * 2
    assert not smoke_study.tables and smoke_study.correlations.empty
    assert set(smoke_study.matrices) == set(D.DISTANCE_KINDS)


def test_plots_draw_one_panel_per_kind_and_label_languages_outside_cc100(smoke_study):
    assert len(D.plot_matrices(smoke_study.matrices, D.SHOWN_KINDS).axes) == 2 * len(D.SHOWN_KINDS)  # + colorbars
    resources = smoke_study.resources
    strip, axis = D.plot_resources(resources).axes  # CC-100 lacks some: a strip left of a log axis
    assert axis.get_xscale() == "log" and axis.get_xlim()[0] > 0
    assert [t.get_text() for t in strip.get_xticklabels()] == ["not in\nCC-100"]
    assert len(strip.collections[0].get_offsets()) == int((~resources["in_pretraining"]).sum())
    assert len(axis.collections[-1].get_offsets()) == int(resources["in_pretraining"].sum())
    table = pd.DataFrame({"language": ["en", "de", "yo", "ha"], "gain": [1.0, -2.0, 3.0, 0.5],
                          "syntactic_to_en": [0, 0.4, 0.7, 0.6], "model_cosine_to_en": [0, 0.1, 0.3, 0.2],
                          "cc100_gib": [300.8, 66.6, 0.0, 0.3], "in_pretraining": [True, True, False, True]})
    axes = D.plot_gain_scatter({"a": table, "b": table}).axes
    assert len(axes) == 2 * (len(GAIN_CANDIDATES) + 1)  # + the CC-100 panel's strip
    assert "symlog" not in {ax.get_xscale() for ax in axes}
    strip, axis = axes[2:4]
    assert axis.get_xscale() == "log" and axis.get_xlabel() == "CC-100 size (GiB, log scale)"
    assert [t.get_text() for t in strip.texts] == ["yo"]  # 0 GiB: in the strip, not on the log axis
    assert sorted(t.get_text() for t in axis.texts) == ["de", "en", "ha"]
    plt.close("all")
