"""Membership inference: the loss-threshold AUC, the member and non-member rows, and the attack on a
model that memorised its rows versus one that never saw them (tiny random backbone)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from fedlib.client_datasets import build_clients
from fedlib.experiment import ExperimentConfig
from fedlib.membership import example_losses, membership_auc, membership_report, membership_rows
from fedlib.model import get_bundle, model_spec, num_labels_of
from fedlib.training import encode, evaluate, train_local

LANGS = ("eng_Latn", "hau_Latn")


def config(**overrides):
    values = dict(task="sib200", languages=LANGS, profile="smoke", num_threads=1)
    values.update(overrides)
    return ExperimentConfig(**values).resolved()


# -- the AUC ------------------------------------------------------------------------------------------

def test_perfectly_separated_losses_give_auc_one_and_reversed_zero():
    low, high = np.linspace(0.0, 1.0, 20), np.linspace(2.0, 3.0, 20)
    estimate = membership_auc(low, high)
    assert (estimate.mean, estimate.low, estimate.high) == (1.0, 1.0, 1.0)
    assert membership_auc(high, low).mean == 0.0


def test_identical_distributions_give_an_interval_around_one_half():
    rng = np.random.default_rng(3)
    estimate = membership_auc(rng.exponential(size=200), rng.exponential(size=200))
    assert estimate.low < 0.5 < estimate.high
    assert estimate.high - estimate.low < 0.25
    assert membership_auc(np.arange(5.0), np.arange(6.0)) == membership_auc(np.arange(5.0), np.arange(6.0))  # seeded


def test_ties_count_half():
    estimate = membership_auc(np.ones(10), np.ones(12))
    assert (estimate.mean, estimate.low, estimate.high) == (0.5, 0.5, 0.5)


def test_auc_matches_the_pairwise_count():
    members = np.array([0.1, 0.5, 0.5, 2.0, 0.3])
    nonmembers = np.array([0.5, 1.0, 0.2, 3.0])
    wins = sum((m < n) + 0.5 * (m == n) for m, n in itertools.product(members, nonmembers))
    assert membership_auc(members, nonmembers).mean == pytest.approx(wins / (len(members) * len(nonmembers)))


@pytest.mark.parametrize("members", [[1.0], [[1.0, 2.0]], [1.0, np.nan]])
def test_bad_losses_are_refused(members):
    with pytest.raises(ValueError, match="member_losses"):
        membership_auc(members, [1.0, 2.0])


# -- the rows -----------------------------------------------------------------------------------------

def test_members_are_the_clients_training_rows_and_nonmembers_were_never_used():
    cfg = config()
    for client in build_clients(cfg):
        members, nonmembers = membership_rows(cfg, client.lang)
        assert members["text"] == client.train["text"] and members["label"] == client.train["label"]
        used = set(client.train["text"]) | set(client.validation["text"]) | set(client.test["text"])
        assert not used & set(nonmembers["text"])
        assert len(nonmembers) == len(members)
        assert set(nonmembers["lang"]) == {client.lang} and set(nonmembers["split"]) == {"train"}


def test_nonmembers_are_seeded():
    cfg = config()
    first, again = membership_rows(cfg, "hau_Latn")[1], membership_rows(cfg, "hau_Latn")[1]
    assert first["text"] == again["text"]
    assert membership_rows(cfg, "hau_Latn", seed=1)[1]["text"] != first["text"]


def test_dirichlet_members_are_every_client_of_the_language():
    cfg = config(partition="dirichlet", clients_per_language=2)
    members, nonmembers = membership_rows(cfg, "eng_Latn")
    shards = [c for c in build_clients(cfg) if c.lang == "eng_Latn"]
    assert sorted(members["text"]) == sorted(t for c in shards for t in c.train["text"])
    assert not set(members["text"]) & set(nonmembers["text"])


def test_too_few_unused_rows():
    # SIB-200 has 701 training rows per language: a budget of 600 leaves ~100 unused, of all 701 none.
    members, nonmembers = membership_rows(config(train_per_client=600), "eng_Latn")
    assert len(members) == 600 and 16 <= len(nonmembers) < 600
    with pytest.raises(ValueError, match="smaller train_per_client"):
        membership_rows(config(train_per_client=701), "eng_Latn")
    with pytest.raises(ValueError, match="not a language"):
        membership_rows(config(), "fra_Latn")


# -- the attack on real models ------------------------------------------------------------------------

def bundle_for(cfg):
    bundle = get_bundle(model_spec(cfg, num_labels_of(cfg)))
    bundle.reset(cfg.seed)  # bundles are shared per process: start from the untrained state
    return bundle


def test_example_losses_are_evaluates_loss_per_row_in_row_order():
    cfg = config()
    bundle = bundle_for(cfg)
    rows = membership_rows(cfg, "eng_Latn")[0]
    losses = example_losses(bundle.model, bundle.tokenizer, rows, max_length=cfg.max_length, runtime=bundle.runtime)
    mean = evaluate(bundle.model, encode(rows, bundle.tokenizer, cfg.max_length), bundle.tokenizer,
                    runtime=bundle.runtime)["loss"]
    assert losses.shape == (len(rows),) and losses.mean() == pytest.approx(mean, rel=1e-5)
    backwards = example_losses(bundle.model, bundle.tokenizer, rows.select(range(len(rows))[::-1]),
                               max_length=cfg.max_length, runtime=bundle.runtime, batch_size=5)
    np.testing.assert_allclose(backwards[::-1], losses, rtol=1e-4)


def test_an_untrained_model_leaks_nothing():
    cfg = config()
    bundle = bundle_for(cfg)
    report = membership_report(bundle.model, bundle.tokenizer, cfg, runtime=bundle.runtime)
    assert list(report["language"]) == [*LANGS, "all"]
    assert (report["low"] < 0.5).all() and (report["high"] > 0.5).all()
    assert report.loc[2, "n_members"] == 32 and report.loc[2, "n_nonmembers"] == 32


def test_a_model_that_memorised_its_rows_gives_them_away():
    # Full fine-tuning, 25 full-batch epochs at a high learning rate on the 16 member rows: it memorises
    # them (lower bounds 0.94-1.0 for training seeds 0-2; 15 epochs gave 0.64-0.75).
    cfg = config(method="full", languages=("eng_Latn",))
    bundle = bundle_for(cfg)
    members = membership_rows(cfg, "eng_Latn")[0]
    train_local(bundle.model, bundle.tokenizer, encode(members, bundle.tokenizer, cfg.max_length), epochs=25,
                lr=5e-3, batch_size=16, seed=0, progress=False, runtime=bundle.runtime)
    report = membership_report(bundle.model, bundle.tokenizer, cfg, runtime=bundle.runtime).set_index("language")
    eng = report.loc["eng_Latn"]
    assert eng["member_loss"] < eng["nonmember_loss"]
    assert eng["low"] > 0.75, report
    bundle.reset(cfg.seed)  # leave the shared bundle untrained for whoever uses it next
