"""Client partitions: disjoint, covering, deterministic in the seed; budgets and their errors."""

from __future__ import annotations

import collections

import numpy as np
import pytest
from datasets import Dataset
from flwr_datasets.partitioner import NaturalIdPartitioner

from fedlib.data import (
    BudgetError,
    DataError,
    EmptyPartitionError,
    dirichlet_partition,
    iid_partition,
    load_task,
    partition_by_language,
    take_budget,
)


@pytest.fixture(scope="module")
def sib_train():
    ds = load_task("sib200", ["eng_Latn", "hau_Latn", "yor_Latn"])["train"]
    return ds.add_column("row", list(range(len(ds))))


@pytest.fixture(scope="module")
def xnli_en_train():
    ds = load_task("xnli", "en")["train"]
    return ds.add_column("row", list(range(len(ds))))


def rows(parts) -> list[list[int]]:
    return [list(p["row"]) for p in parts]


def assert_disjoint_cover(parts, n):
    ids = [r for part in rows(parts) for r in part]
    assert len(ids) == len(set(ids)) == n
    assert set(ids) == set(range(n))


def test_partition_by_language(sib_train):
    clients = partition_by_language(sib_train)
    assert list(clients) == ["eng_Latn", "hau_Latn", "yor_Latn"]
    assert all(len(c) == 701 and set(c["lang"]) == {lang} for lang, c in clients.items())
    assert_disjoint_cover(clients.values(), len(sib_train))
    # same grouping as flwr-datasets' NaturalIdPartitioner
    natural = NaturalIdPartitioner(partition_by="lang")
    natural.dataset = sib_train
    assert natural.num_partitions == 3
    for pid, lang in natural.partition_id_to_natural_id.items():
        assert sorted(natural.load_partition(pid)["row"]) == sorted(clients[lang]["row"])


def test_partition_by_language_empty():
    empty = load_task("xglue_nc_de_sample")["train"]
    with pytest.raises(EmptyPartitionError, match="empty"):
        partition_by_language(empty)


def test_iid_partition(sib_train):
    parts = iid_partition(sib_train, 7, seed=1)
    assert_disjoint_cover(parts, len(sib_train))
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    assert rows(iid_partition(sib_train, 7, seed=1)) == rows(parts)
    assert rows(iid_partition(sib_train, 7, seed=2)) != rows(parts)


def test_dirichlet_partition_deterministic_disjoint_cover(xnli_en_train):
    parts = dirichlet_partition(xnli_en_train, 5, alpha=0.5, seed=3)
    assert len(parts) == 5 and all(len(p) > 0 for p in parts)
    assert_disjoint_cover(parts, len(xnli_en_train))
    assert rows(dirichlet_partition(xnli_en_train, 5, alpha=0.5, seed=3)) == rows(parts)
    assert rows(dirichlet_partition(xnli_en_train, 5, alpha=0.5, seed=4)) != rows(parts)


def _majority_share(parts) -> float:
    shares = [max(collections.Counter(p["label"]).values()) / len(p) for p in parts]
    return float(np.mean(shares))


def test_dirichlet_small_alpha_is_skewed(xnli_en_train):
    skewed = _majority_share(dirichlet_partition(xnli_en_train, 5, alpha=0.1, seed=0))
    balanced = _majority_share(dirichlet_partition(xnli_en_train, 5, alpha=1000.0, seed=0))
    assert skewed > 0.6
    assert balanced < 0.4
    assert skewed > balanced + 0.2


@pytest.mark.parametrize("alpha", [0, -1.0, float("nan"), float("inf"), "0.5", None])
def test_dirichlet_rejects_bad_alpha(xnli_en_train, alpha):
    with pytest.raises(DataError, match="alpha"):
        dirichlet_partition(xnli_en_train, 3, alpha=alpha, seed=0)


def test_partition_errors(xnli_en_train):
    tiny = xnli_en_train.select(range(3))
    with pytest.raises(EmptyPartitionError, match="at most 3"):
        iid_partition(tiny, 4)
    with pytest.raises(EmptyPartitionError, match="at most 3"):
        dirichlet_partition(tiny, 4, alpha=1.0)
    with pytest.raises(DataError, match="positive integer"):
        iid_partition(tiny, 0)
    with pytest.raises(EmptyPartitionError, match="empty dataset"):
        iid_partition(tiny.select([]), 2)
    # a client that can never reach min_partition_size
    with pytest.raises(EmptyPartitionError, match="min_partition_size"):
        dirichlet_partition(xnli_en_train.select(range(30)), 5, alpha=0.05, seed=0, min_partition_size=6)


def test_take_budget(xnli_en_train):
    sub = take_budget(xnli_en_train, 300, seed=0)
    assert len(sub) == 300 and len(set(sub["row"])) == 300
    assert list(sub["row"]) == sorted(sub["row"])
    full = collections.Counter(xnli_en_train["label"])
    got = collections.Counter(sub["label"])
    for label, n in full.items():
        assert abs(got[label] - 300 * n / len(xnli_en_train)) <= 1
    assert list(take_budget(xnli_en_train, 300, seed=0)["row"]) == list(sub["row"])
    assert list(take_budget(xnli_en_train, 300, seed=1)["row"]) != list(sub["row"])
    # nested budgets: a larger budget adds rows, it does not redraw them
    for stratify in (True, False):
        small = set(take_budget(xnli_en_train, 50, seed=5, stratify=stratify)["row"])
        large = set(take_budget(xnli_en_train, 400, seed=5, stratify=stratify)["row"])
        assert small < large
    assert take_budget(xnli_en_train, None) is xnli_en_train
    assert len(take_budget(xnli_en_train, 0)) == 0
    assert len(take_budget(xnli_en_train, len(xnli_en_train))) == len(xnli_en_train)


def test_take_budget_errors(xnli_en_train):
    with pytest.raises(BudgetError, match=r"budget of 2001 rows exceeds the 2000 rows available \(language en\)"):
        take_budget(xnli_en_train, 2001)
    assert len(take_budget(xnli_en_train, 2001, allow_fewer=True)) == 2000
    with pytest.raises(BudgetError, match="non-negative"):
        take_budget(xnli_en_train, -1)
    with pytest.raises(BudgetError, match="non-negative"):
        take_budget(xnli_en_train, 2.5)


def test_take_budget_single_class_and_plain_dataset():
    ds = Dataset.from_dict({"label": [1] * 10, "x": list(range(10))})
    assert len(take_budget(ds, 4, seed=0)) == 4
