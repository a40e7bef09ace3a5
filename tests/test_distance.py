"""Language distances: URIEL (urielplus), CC-100 proxy, model-based, and the rank correlation."""

import logging

import numpy as np
import pandas as pd
import pytest

from fedlib import distance as D
from fedlib.config import get_profile
from fedlib.data.errors import UnknownLanguageError
from fedlib.data.languages import in_xlmr_pretraining
from fedlib.data.tasks import get_task
from fedlib.distance import model, uriel
from fedlib.distance import table as task_table

TASKS = ("nc_standin", "xnli", "masakhanews", "sib200")
LANGS = ("en", "de", "sw", "yo", "pcm")  # pcm: no syntactic or phonological feature in URIEL


def _check_distance_matrix(matrix: pd.DataFrame, upper: float) -> None:
    values = matrix.to_numpy(dtype=float)
    assert list(matrix.index) == list(matrix.columns)
    assert np.array_equal(values, values.T, equal_nan=True)
    assert np.all(np.diag(values) == 0)
    finite = values[np.isfinite(values)]
    assert finite.size and np.all((finite >= 0) & (finite <= upper))


def test_every_task_language_maps_to_a_code_uriel_knows():
    known = set(map(str, uriel.knowledge_base().langs[0]))
    for task in TASKS:
        for lang in get_task(task).languages:
            assert D.uriel_code(lang) in known, (task, lang)
    assert D.uriel_code("en") == D.uriel_code("eng") == D.uriel_code("eng_Latn") == "eng"


def test_unknown_language_is_a_clear_error():
    with pytest.raises(UnknownLanguageError, match="xx"):
        D.uriel_code("xx")
    with pytest.raises(UnknownLanguageError, match="klingon"):
        D.uriel_matrix(["en", "klingon"], "syntactic")
    with pytest.raises(D.DistanceError, match="choose one of"):
        D.uriel_matrix(["en", "de"], "lexical")


@pytest.mark.parametrize("kind", D.URIEL_KINDS)
def test_uriel_distances_are_symmetric_zero_on_diagonal_in_range_and_deterministic(kind):
    first = D.uriel_matrix(LANGS, kind)
    _check_distance_matrix(first, upper=1.0)
    assert np.array_equal(first.to_numpy(), D.uriel_matrix(LANGS, kind).to_numpy(), equal_nan=True)
    assert first.attrs["imputed"] is False


@pytest.mark.parametrize("kind", D.URIEL_KINDS)
def test_uriel_distances_are_urielplus_own(kind):
    # urielplus marks an undefined distance with -1 and rounds to 4 decimals in float32.
    langs = ["en", "de", "ur"] if kind == "genetic" else ["en", "de", "ur", "yo", "pcm"]
    with uriel.quiet_logging():
        theirs = uriel.knowledge_base().new_distance(kind, [D.uriel_code(lang) for lang in langs])
    theirs = np.where(np.asarray(theirs) == -1, np.nan, theirs)
    ours = D.uriel_matrix(langs, kind).to_numpy()
    assert np.array_equal(np.isnan(theirs), np.isnan(ours))
    assert np.nanmax(np.abs(theirs - ours)) < 1e-3


def test_missing_uriel_features_are_reported_never_a_number():
    # URIEL has no phonological feature for Urdu ('urd').
    assert D.uriel_coverage(["ur"]).loc["ur", "phonological"] == 0
    matrix = D.uriel_matrix(["en", "ur", "de"], "phonological")
    assert matrix.attrs["missing_languages"] == ["ur"]
    assert matrix.loc["ur", ["en", "de"]].isna().all() and matrix.loc["en", "ur"] != matrix.loc["en", "ur"]
    assert np.isfinite(matrix.loc["en", "de"])
    with pytest.raises(D.MissingFeaturesError, match="phonological") as info:
        D.uriel_distance("en", "ur", "phonological")
    assert info.value.language == "ur" and info.value.kind == "phonological"
    with pytest.raises(D.MissingFeaturesError, match="pcm"):
        D.uriel_matrix(["en", "pcm"], "syntactic", missing="raise")


def test_a_pair_without_shared_features_is_nan_and_reported(monkeypatch):
    rows = {"eng": [1.0, -1.0], "deu": [-1.0, 1.0], "fra": [1.0, 1.0]}  # -1: no value

    def fake_vectors(codes, kind):
        values = np.array([rows[c] for c in codes])
        return values, values != -1.0

    monkeypatch.setattr(uriel, "feature_vectors", fake_vectors)
    matrix = D.uriel_matrix(["en", "de", "fr"], "syntactic")
    assert np.isnan(matrix.loc["en", "de"]) and matrix.attrs["missing_pairs"] == [("en", "de")]
    assert matrix.loc["en", "fr"] == 0.0  # both have feature 0, with the same value
    with pytest.raises(D.MissingFeaturesError, match="share no"):
        D.uriel_distance("en", "de", "syntactic")


def test_cc100_covers_every_task_language_and_agrees_with_the_task_registry():
    for task in TASKS:
        table = D.cc100_table(get_task(task).languages)
        assert table["in_pretraining"].tolist() == [in_xlmr_pretraining(lang) for lang in table["language"]]
        assert (table.loc[~table["in_pretraining"], "cc100_gib"] == 0).all()
        assert (table.loc[table["in_pretraining"], "cc100_gib"] > 0).all()
    table = D.cc100_table(["en", "pcm"]).set_index("language")
    assert table.loc["en", "cc100_gib"] == 300.8 and not table.loc["pcm", "in_pretraining"]


def test_parallel_sentences_are_the_same_items_in_every_language():
    flores = D.parallel_sentences(["en", "eng", "eng_Latn", "de"], n=3)
    assert flores["en"] == flores["eng"] == flores["eng_Latn"] != flores["de"]
    assert all(len(s) == 3 for s in flores.values())
    xnli = D.parallel_sentences(["en", "de"], source="xnli", n=3)
    assert len(xnli["de"]) == 3 and xnli["en"] != xnli["de"]
    with pytest.raises(D.MissingParallelDataError, match="pcm"):
        D.parallel_sentences(["pcm"])


@pytest.mark.parametrize("kind, upper", [("model_cosine", 2.0), ("model_cka", 1.0)])
def test_model_distances_are_symmetric_zero_on_diagonal_in_range_and_deterministic(kind, upper):
    langs = ["eng", "fra", "amh", "pcm"]  # pcm: not in FLORES-200, so no parallel sentences
    first = D.model_matrix(langs, kind, backbone="tiny-random", n=4, max_length=16)
    _check_distance_matrix(first, upper)
    assert first.attrs["missing_languages"] == ["pcm"] and first.loc["pcm", "eng"] != first.loc["pcm", "eng"]
    model.EMBEDDINGS.clear()  # recompute, not just re-read the cache
    again = D.model_matrix(langs, kind, backbone="tiny-random", n=4, max_length=16)
    assert np.array_equal(first.to_numpy(), again.to_numpy(), equal_nan=True)
    with pytest.raises(D.MissingParallelDataError):
        D.model_matrix(langs, kind, backbone="tiny-random", n=4, max_length=16, missing="raise")


def test_linear_cka_is_one_for_a_rotation_and_scale_of_the_same_representation():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 6))
    q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    assert D.linear_cka(x, 3 * x @ q) == pytest.approx(1.0)
    assert D.linear_cka(x, rng.normal(size=(10, 6))) < 0.9


def test_spearman_is_nan_for_a_constant_side_and_refuses_unequal_lengths():
    assert D.spearman([1, 2, 3, 4], [2, 4, 6, 9]) == pytest.approx(1.0)
    assert D.spearman([1, 1, 2, 3], [4, 3, 3, 1]) == pytest.approx(-5 / 6)  # Pearson of average ranks
    assert np.isnan(D.spearman([1, 1, 1, 1], [1, 2, 3, 4]))
    with pytest.raises(ValueError, match="equal length"):
        D.spearman([1, 2, 3], [1, 2])


def test_bootstrap_ci_is_deterministic_and_contains_rho():
    x = [0.1, 0.4, 0.2, 0.8, 0.5, 0.9, 0.3, 0.7]
    y = [1.0, 2.5, 0.5, 4.0, 2.0, 5.0, 1.5, 3.0]
    first = D.bootstrap_spearman(x, y, n_boot=500, seed=3)
    assert first == D.bootstrap_spearman(x, y, n_boot=500, seed=3)
    assert first.n == 8 and first.lo <= first.rho <= first.hi and -1 <= first.lo and first.hi <= 1
    few = D.bootstrap_spearman([1, 2, np.nan, 3], [1, 2, 3, np.nan])
    assert few.n == 2 and np.isnan(few.rho) and "fewer than" in few.note


def test_bootstrap_interval_leaves_out_resamples_without_a_rho():
    # Three of four languages tie on x: about a third of the resamples have a constant x, so no rho.
    result = D.bootstrap_spearman([0, 0, 0, 1], [1, 2, 3, 4], n_boot=400)
    assert 0 < result.valid_resamples < 0.9 * 400 and "resamples had a defined rho" in result.note
    assert np.isfinite([result.lo, result.hi]).all() and result.lo <= result.rho <= result.hi


def test_permutation_pvalue_is_exact_for_few_languages():
    # Six languages in perfect order: only the identity and the reversal reach |rho| = 1.
    assert D.permutation_pvalue(range(6), [2, 4, 5, 7, 9, 10]) == pytest.approx(2 / 720)
    assert D.permutation_pvalue(range(7), range(7), n_perm=100) == pytest.approx(2 / 5040)  # still exact
    assert D.permutation_pvalue(range(12), range(12), n_perm=999) == pytest.approx(1 / 1000)
    assert D.permutation_pvalue(range(12), range(12), n_perm=999, seed=4) == D.permutation_pvalue(
        range(12), range(12), n_perm=999, seed=4)


def test_language_tablejoins_distances_resources_and_gains(monkeypatch):
    gains = pd.DataFrame({"lang": ["en", "de", "es", "fr", "ru"], "gain": [1.0, 3.0, 2.0, 5.0, 4.0], "seeds": 1})
    monkeypatch.setattr(task_table, "federated_gain", lambda task, languages=None, *, profile: gains)
    table = D.language_table("nc_standin", profile=get_profile("smoke"))
    assert table["language"].tolist() == ["en", "de", "es", "fr", "ru"]
    assert (table.loc[table["language"] == "en", ["syntactic_to_en", "genetic_to_en"]] == 0).all().all()
    assert table["gain"].tolist() == gains["gain"].tolist()
    assert "model_cosine_to_en" not in table  # no model options: URIEL distances only
    corr = D.correlation_table(table, n_boot=200)
    assert set(corr["predictor"]) == set(D.predictor_columns(table)) and (corr["n"] == 5).all()
    assert corr["rho"].between(-1, 1).all()


def test_federated_gain_is_empty_without_artifacts(results_tmp):
    assert D.federated_gain("nc_standin", profile=get_profile("smoke")).empty
    assert not (results_tmp.exists() and any(results_tmp.rglob("*.json")))  # nothing was trained


def test_distance_to_and_mean_to_others():
    matrix = D.uriel_matrix(["en", "de", "ur"], "phonological")
    assert D.distance_to(matrix, "en")["de"] == matrix.loc["de", "en"]
    means = D.mean_distance_to_others(matrix)
    assert np.isnan(means["ur"]) and means["en"] == matrix.loc["en", "de"]
    with pytest.raises(UnknownLanguageError):
        D.distance_to(matrix, "fr")
    agreement = D.matrix_agreement({k: D.uriel_matrix(LANGS[:4], k) for k in ("syntactic", "genetic")})
    assert agreement.loc["syntactic", "syntactic"] == 1.0


def test_urielplus_leaves_the_root_logger_alone():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    D.uriel_matrix(["en", "de"], "syntactic")
    with uriel.quiet_logging():
        uriel.knowledge_base().new_distance("syntactic", ["eng", "deu", "fra"])
    assert root.handlers == handlers and root.level == level
