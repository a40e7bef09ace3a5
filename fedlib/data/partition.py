"""Client partitions of a loaded split.

* :func:`partition_by_language` -- one client per language (the paper's setting); the same
  grouping as ``flwr_datasets.partitioner.NaturalIdPartitioner(partition_by="lang")``, but
  keyed by language code, in order of appearance, and without a progress bar.
* :func:`dirichlet_partition` -- label-skewed clients (``DirichletPartitioner``), for
  non-IID splits *within* a language: pass a single-language dataset.
* :func:`iid_partition` -- uniform random clients (seeded shuffle + ``IidPartitioner``).
* :func:`take_budget` -- a per-client training budget for data-efficiency curves.

Every function is deterministic in its ``seed``; each call builds a fresh flwr-datasets
partitioner (they own the dataset they are given and cannot be re-assigned). flwr-datasets
is imported on first use: importing it pulls in matplotlib (about 3 s).
"""

from __future__ import annotations

import contextlib
import logging
import math
import numbers
import warnings

import datasets
import numpy as np
from datasets import Dataset

from fedlib.data.errors import BudgetError, DataError, EmptyPartitionError

log = logging.getLogger(__name__)


@contextlib.contextmanager
def _quiet():
    """No datasets progress bars (index flattening) while partitioning; restores the previous state."""
    was_disabled = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if not was_disabled:
            datasets.enable_progress_bars()


def _langs(ds: Dataset) -> str:
    if "lang" not in ds.column_names or len(ds) == 0:
        return ""
    langs = list(dict.fromkeys(ds["lang"]))
    return f" (language{'s' if len(langs) > 1 else ''} {', '.join(langs[:8])}{', ...' if len(langs) > 8 else ''})"


def _check_partitions(ds: Dataset, num_partitions) -> int:
    if isinstance(num_partitions, bool) or not isinstance(num_partitions, numbers.Integral) or num_partitions < 1:
        raise DataError(f"num_partitions must be a positive integer, got {num_partitions!r}")
    if len(ds) == 0:
        raise EmptyPartitionError("cannot partition an empty dataset: every client would be empty")
    if num_partitions > len(ds):
        raise EmptyPartitionError(
            f"{num_partitions} partitions of {len(ds)} rows{_langs(ds)} would leave clients empty; "
            f"use at most {len(ds)} partitions"
        )
    return int(num_partitions)


def partition_by_language(ds: Dataset, column: str = "lang") -> dict[str, Dataset]:
    """``{lang: rows of that language}``, languages in order of first appearance (row order kept)."""
    if column not in ds.column_names:
        raise DataError(f"dataset has no {column!r} column (columns: {', '.join(ds.column_names)})")
    if len(ds) == 0:
        raise EmptyPartitionError("cannot partition an empty dataset by language: there are no clients")
    codes = np.asarray(ds[column], dtype=object)
    order = list(dict.fromkeys(codes.tolist()))
    return {lang: ds.select(np.flatnonzero(codes == lang)) for lang in order}


def dirichlet_partition(
    ds: Dataset,
    num_partitions: int,
    alpha: float,
    seed: int = 0,
    *,
    min_partition_size: int = 1,
    label_column: str = "label",
) -> list[Dataset]:
    """Split ``ds`` into ``num_partitions`` label-skewed clients (Dirichlet(alpha) label proportions).

    Small ``alpha`` (e.g. 0.1) gives clients dominated by few labels; large ``alpha``
    (e.g. 100) approaches IID. Uses :class:`flwr_datasets.partitioner.DirichletPartitioner`
    (resampled up to 10 times until every client has ``min_partition_size`` rows; if that
    fails, :class:`EmptyPartitionError`). Partitions are disjoint and cover ``ds``.
    """
    n = _check_partitions(ds, num_partitions)
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not math.isfinite(alpha) or alpha <= 0:
        raise DataError(f"alpha must be a finite number > 0, got {alpha!r}")
    if min_partition_size < 1:
        raise DataError(f"min_partition_size must be >= 1 (no empty clients), got {min_partition_size}")
    from flwr_datasets.partitioner import DirichletPartitioner  # slow import (pulls matplotlib)

    partitioner = DirichletPartitioner(
        num_partitions=n,
        partition_by=label_column,
        alpha=float(alpha),
        min_partition_size=min_partition_size,
        self_balancing=False,
        shuffle=True,
        seed=seed,
    )
    with _quiet():
        partitioner.dataset = ds.flatten_indices() if ds._indices is not None else ds
    with _quiet(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            parts = [partitioner.load_partition(i) for i in range(n)]
        except ValueError as exc:
            raise EmptyPartitionError(
                f"Dirichlet partition of {len(ds)} rows{_langs(ds)} into {n} clients with alpha={alpha} "
                f"left a client below {min_partition_size} rows after 10 draws ({exc}); "
                f"use fewer partitions, a larger alpha or a smaller min_partition_size"
            ) from None
    if caught:
        log.info("dirichlet_partition: %d Dirichlet draw(s) rejected for min_partition_size", len(caught))
    for i, part in enumerate(parts):
        if len(part) == 0:  # pragma: no cover - min_partition_size >= 1 prevents it
            raise EmptyPartitionError(f"Dirichlet partition {i} of {n} is empty{_langs(ds)}")
    return parts


def iid_partition(ds: Dataset, num_partitions: int, seed: int = 0, *, equal_sizes: bool = False) -> list[Dataset]:
    """``num_partitions`` uniformly random, disjoint clients covering ``ds`` (sizes differ by at most 1).

    ``equal_sizes=True`` makes every client exactly ``len(ds) // num_partitions`` rows by leaving out
    the ``len(ds) % num_partitions`` rows that come last in the seeded shuffle (logged): FedAvg weights
    clients by their rows, and DP accounting (:mod:`fedlib.privacy`) needs those weights equal.
    """
    n = _check_partitions(ds, num_partitions)
    from flwr_datasets.partitioner import IidPartitioner

    partitioner = IidPartitioner(num_partitions=n)
    with _quiet():
        shuffled = ds.shuffle(seed=seed)
        dropped = len(ds) % n if equal_sizes else 0
        if dropped:
            log.info("iid_partition: %d rows%s do not divide into %d equal clients; left out %d rows",
                     len(ds), _langs(ds), n, dropped)
            shuffled = shuffled.select(range(len(ds) - dropped))
        partitioner.dataset = shuffled.flatten_indices()
        return [partitioner.load_partition(i) for i in range(n)]


def _stratified_order(labels: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """The first ``n`` row ids of a stratified random order: each prefix is as proportional as possible."""
    classes, counts = np.unique(labels, return_counts=True)
    queues = [rng.permutation(np.flatnonzero(labels == c)) for c in classes]
    share = counts / counts.sum()
    taken = np.zeros(len(classes), dtype=np.int64)
    picked = np.empty(n, dtype=np.int64)
    for t in range(n):
        deficit = share * (t + 1) - taken
        deficit[taken >= counts] = -np.inf
        k = int(np.argmax(deficit))
        picked[t] = queues[k][taken[k]]
        taken[k] += 1
    return picked


def take_budget(
    ds: Dataset,
    n: int | None,
    seed: int = 0,
    stratify: bool = True,
    *,
    label_column: str = "label",
    allow_fewer: bool = False,
) -> Dataset:
    """``n`` rows of ``ds`` chosen at random (per-client budget); ``n=None`` keeps every row.

    ``stratify=True`` keeps label proportions as close as possible. Budgets are *nested*: for
    the same seed, the rows of a smaller budget are contained in those of a larger one, so
    data-efficiency curves add data rather than redraw it. Rows keep their original order.
    A budget larger than ``len(ds)`` raises :class:`BudgetError` unless ``allow_fewer=True``
    (then all rows are returned and the shortfall is logged).
    """
    if n is None:
        return ds
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
        raise BudgetError(f"budget must be a non-negative integer or None, got {n!r}")
    if n > len(ds):
        if not allow_fewer:
            raise BudgetError(
                f"budget of {n} rows exceeds the {len(ds)} rows available{_langs(ds)}; lower the budget, "
                f"or pass allow_fewer=True to take every row"
            )
        log.info("take_budget: %d rows requested, only %d available%s", n, len(ds), _langs(ds))
        n = len(ds)
    rng = np.random.default_rng(seed)
    if stratify and n:
        if label_column not in ds.column_names:
            raise DataError(f"cannot stratify: no {label_column!r} column (columns: {', '.join(ds.column_names)})")
        picked = _stratified_order(np.asarray(ds[label_column]), int(n), rng)
    else:
        picked = rng.permutation(len(ds))[: int(n)]
    return ds.select(np.sort(picked))
