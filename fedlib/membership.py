"""Membership inference: does a trained model give away which rows it was trained on?

A model that memorises its training rows fits them better than rows it never saw, so its loss is an
attack: an adversary holding a row and the model guesses "member" when the loss is low (Yeom et al.,
2018, the loss-threshold attack). Every threshold at once is summarised by the AUC of the score
``-loss`` with members as positives: the probability that a random member has a lower loss than a
random non-member, ties counting half. **0.5 means the losses say nothing about membership** (no
leakage the attack can see); 1.0 means every member fits better than every non-member.

The question (issue M) is whether prompt tuning, which trains a few thousand parameters, memorises
less than full fine-tuning. So the non-members must differ from the members *only* in not having been
trained on: they are rows of the same language's training split, never used by the run (not its
train, validation or test rows, compared by text), drawn with a fixed seed and stratified by label
like the members' budget (:func:`fedlib.data.take_budget`). Rows of another split could differ in
source or length, and the attack would measure that instead.

The AUC is exact (``scipy.stats.mannwhitneyu``: U / (n1 n2)); its interval is a percentile bootstrap
that resamples members and non-members independently, as two independent samples.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from datasets import Dataset, concatenate_datasets
from scipy import stats

from fedlib.client_datasets import _language_splits, build_clients
from fedlib.runtime import Runtime, runtime_of
from fedlib.stats import CONFIDENCE, RESAMPLES, Estimate
from fedlib.training import batches, encode, evaluation_order

log = logging.getLogger(__name__)

MIN_NONMEMBERS = 16  # fewer unused rows than this: the interval would say nothing, so refuse
NONMEMBER_SEED = 0  # the non-members of a language are the same for every run with the same members
COLUMNS = ("language", "n_members", "n_nonmembers", "member_loss", "nonmember_loss", "auc", "low", "high")


@torch.inference_mode()
def example_losses(model, tokenizer, rows: Dataset, *, max_length: int, runtime: Runtime | None = None,
                   batch_size: int = 32) -> np.ndarray:
    """Cross-entropy loss of ``model`` on each row of ``rows`` (the library's schema), in row order.

    Computed exactly as :func:`fedlib.training.evaluate` computes its mean loss (same encoding, length-
    sorted batches, device and autocast of ``runtime``, default the model's own), so their mean is the
    loss ``evaluate`` reports; only the reduction differs.
    """
    if len(rows) == 0:
        raise ValueError("no rows to compute losses on")
    runtime = runtime or runtime_of(model)
    model.eval()
    encoded = encode(rows, tokenizer, max_length)
    losses = []
    for batch in batches(encoded, tokenizer, batch_size, shuffle=False):
        batch = runtime.to_device(batch)
        with runtime.autocast():
            logits = model(**batch).logits
        loss = torch.nn.functional.cross_entropy(logits.float(), batch["labels"], reduction="none")
        losses.append(loss.cpu().numpy().astype(np.float64))
    out = np.empty(len(encoded), dtype=np.float64)
    out[evaluation_order(encoded)] = np.concatenate(losses)  # batches ran in length order: undo it
    return out


def auc(member_losses: np.ndarray, nonmember_losses: np.ndarray, axis: int = -1) -> np.ndarray:
    """P(member loss < non-member loss) + P(tie) / 2 along ``axis``: Mann-Whitney U of ``-loss``."""
    u = stats.mannwhitneyu(-member_losses, -nonmember_losses, axis=axis, method="asymptotic").statistic
    return u / (member_losses.shape[axis] * nonmember_losses.shape[axis])


def _losses(name: str, values) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or len(array) < 2 or not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be a 1-D array of at least 2 finite losses (got shape {array.shape}, "
                         f"{int(np.sum(~np.isfinite(array)))} NaN or infinite)")
    return array


def membership_auc(member_losses, nonmember_losses, *, resamples: int = RESAMPLES, seed: int = 0,
                   confidence: float = CONFIDENCE) -> Estimate:
    """AUC of the loss-threshold attack (members positive, score ``-loss``), with its bootstrap interval.

    0.5 = no leakage. The interval resamples members and non-members independently (they are two
    independent samples), ``resamples`` times with a generator seeded by ``seed``.
    """
    members = _losses("member_losses", member_losses)
    nonmembers = _losses("nonmember_losses", nonmember_losses)
    value = float(auc(members, nonmembers))
    result = stats.bootstrap((members, nonmembers), auc, paired=False, vectorized=True, n_resamples=resamples,
                             confidence_level=confidence, method="percentile", rng=np.random.default_rng(seed))
    return Estimate(value, float(result.confidence_interval.low), float(result.confidence_interval.high))


def _language_train_split(cfg, language: str) -> Dataset:
    """The language's training split as the run's clients were drawn from it (after the data protocol)."""
    # The same cached function build_clients reads, so the pool is exactly the one the budget came from.
    splits, _ = _language_splits(cfg.task, tuple(cfg.languages), cfg.protocol, cfg.data_fingerprint)
    return splits[language][0]


def membership_rows(config, language: str, *, seed: int = NONMEMBER_SEED) -> tuple[Dataset, Dataset]:
    """``(members, nonmembers)`` of ``language`` under ``config``.

    Members are the training rows of the language's clients, exactly as :func:`build_clients` gives
    them (with a Dirichlet partition, every client of that language: the run trained on all of them).
    Non-members are as many rows of the same language's training split that the run never used: no
    text in any of the language's train, validation or test rows. They are drawn with ``seed``,
    stratified by label (:func:`fedlib.data.take_budget`), and keep the split's row order.

    When fewer unused rows exist than members, all of them are used and a warning is logged (the
    report's ``n_nonmembers`` shows it); fewer than :data:`MIN_NONMEMBERS` raise ``ValueError``, since
    the interval of so few rows would say nothing (e.g. a budget of every training row leaves none).
    """
    from fedlib.data import take_budget

    cfg = config.resolved()
    if language not in cfg.languages:
        raise ValueError(f"{language!r} is not a language of this config ({', '.join(cfg.languages)})")
    clients = [c for c in build_clients(cfg) if c.lang == language]
    members = concatenate_datasets([c.train for c in clients])
    used = set(members["text"]) | set(clients[0].validation["text"]) | set(clients[0].test["text"])
    pool = _language_train_split(cfg, language)
    unused = pool.select([i for i, text in enumerate(pool["text"]) if text not in used])
    if len(unused) < MIN_NONMEMBERS:
        raise ValueError(
            f"{language}: only {len(unused)} of its {len(pool)} training rows share no text with the run's "
            f"train, validation or test rows ({len(members)} members); membership inference needs at least "
            f"{MIN_NONMEMBERS} non-members: use a smaller train_per_client")
    if len(unused) < len(members):
        log.warning("%s: %d members but only %d unused training rows; all of them are the non-members",
                    language, len(members), len(unused))
    nonmembers = take_budget(unused, min(len(members), len(unused)), seed=seed)
    return members, nonmembers


def membership_report(model, tokenizer, config, *, runtime: Runtime | None = None,
                      languages: Sequence[str] | None = None, resamples: int = RESAMPLES,
                      seed: int = 0) -> pd.DataFrame:
    """The attack on a trained ``model``: one row per language, then ``all`` (every language pooled).

    Columns: ``n_members``, ``n_nonmembers``, mean ``member_loss`` and ``nonmember_loss``, ``auc`` with
    its interval ``low``-``high``. The pooled row mixes languages whose loss levels differ; it answers
    "does the model leak at all", the per-language rows which language leaks.
    """
    cfg = config.resolved()
    rows, pooled = [], ([], [])
    for language in languages or cfg.languages:
        members, nonmembers = membership_rows(cfg, language)
        losses = [example_losses(model, tokenizer, part, max_length=cfg.max_length, runtime=runtime)
                  for part in (members, nonmembers)]
        rows.append(_row(language, *losses, resamples=resamples, seed=seed))
        pooled[0].append(losses[0])
        pooled[1].append(losses[1])
    rows.append(_row("all", np.concatenate(pooled[0]), np.concatenate(pooled[1]), resamples=resamples, seed=seed))
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _row(language: str, member: np.ndarray, nonmember: np.ndarray, *, resamples: int, seed: int) -> dict:
    estimate = membership_auc(member, nonmember, resamples=resamples, seed=seed)
    return {"language": language, "n_members": len(member), "n_nonmembers": len(nonmember),
            "member_loss": float(member.mean()), "nonmember_loss": float(nonmember.mean()),
            "auc": estimate.mean, "low": estimate.low, "high": estimate.high}
