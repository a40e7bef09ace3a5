"""IID sub-clients (``partition="iid"``): each language split at random into ``clients_per_language``
clients of exactly equal size, so that FedAvg weights them equally and DP noise averages over more
updates; the config hash of every earlier config is untouched."""

from __future__ import annotations

import pytest
from datasets import Dataset
from fedtest import LANGS, smoke_config

from fedlib.client_datasets import _clients_cached, build_clients
from fedlib.data import iid_partition


def texts(ds) -> list[tuple[str, str]]:
    return list(zip(ds["text"], ds["lang"], strict=True))


@pytest.mark.parametrize("rows, k, size", [(64, 4, 16), (66, 4, 16), (7, 7, 1)])
def test_equal_sizes_leave_out_the_remainder_only(rows, k, size):
    ds = Dataset.from_dict({"row": list(range(rows)), "label": [i % 3 for i in range(rows)]})
    parts = iid_partition(ds, k, seed=3, equal_sizes=True)
    assert [len(p) for p in parts] == [size] * k
    taken = [r for p in parts for r in p["row"]]
    assert len(set(taken)) == len(taken) == rows - rows % k  # disjoint; only the remainder is left out
    assert [list(p["row"]) for p in iid_partition(ds, k, seed=3, equal_sizes=True)] == [list(p["row"]) for p in parts]
    assert [len(p) for p in iid_partition(ds, k, seed=3)] == sorted([rows // k + 1] * (rows % k)
                                                                     + [rows // k] * (k - rows % k), reverse=True)


def test_each_language_splits_into_equal_disjoint_clients_covering_its_rows():
    whole = {c.lang: c for c in build_clients(smoke_config())}
    cfg = smoke_config(partition="iid", clients_per_language=4)
    clients = build_clients(cfg)
    assert cfg.num_clients == len(clients) == 4 * len(LANGS)
    assert [c.name for c in clients] == [f"{lang}-{i}" for lang in LANGS for i in range(4)]
    for lang in LANGS:
        mine = [c for c in clients if c.lang == lang]
        assert len(whole[lang].train) % 4 == 0, "pick a budget that divides, so the union is every row"
        assert {len(c.train) for c in mine} == {len(whole[lang].train) // 4}
        rows = [row for c in mine for row in texts(c.train)]
        assert len(set(rows)) == len(rows)
        assert sorted(rows) == sorted(texts(whole[lang].train))
        for c in mine:  # shared evaluation sets, as for Dirichlet shards
            assert texts(c.validation) == texts(whole[lang].validation)
            assert texts(c.test) == texts(whole[lang].test)


def test_iid_clients_are_deterministic_per_seed():
    def shards(seed):
        return [texts(c.train) for c in build_clients(smoke_config(partition="iid", clients_per_language=4,
                                                                   seed=seed))]

    first = shards(0)
    _clients_cached.cache_clear()
    assert shards(0) == first
    assert shards(1) != first


def test_iid_runs_are_named_and_validated():
    cfg = smoke_config(partition="iid", clients_per_language=4)
    assert "-federated-iid4-prompt-s0-" in cfg.run_name()
    assert "-federated-noniid-" in smoke_config(partition="dirichlet", clients_per_language=2).run_name()
    assert cfg.config_hash() != smoke_config(partition="dirichlet", clients_per_language=4).config_hash()
    with pytest.raises(ValueError, match="needs partition='dirichlet' or 'iid'"):
        smoke_config(clients_per_language=2)


def test_the_hash_of_configs_without_iid_is_unchanged(monkeypatch):
    """Hashes computed before partition='iid' and the update norms existed (the code at 78dce96)."""
    monkeypatch.delenv("FEDLIB_BACKBONE", raising=False)
    # Recorded on a CPU where the smoke profile's "auto" precision meant bf16; on a CPU without bf16
    # instructions "auto" is fp32 (another identity), so the check names the precision it was made with.
    monkeypatch.setenv("FEDLIB_PRECISION", "bf16")
    assert smoke_config().config_hash() == "397410cdc609"
    assert smoke_config(partition="dirichlet", clients_per_language=2).run_name() == \
        "sib200-federated-noniid-prompt-s0-bba6da1120f9"
    assert smoke_config(dp_clipping_norm=1.0, dp_noise_multiplier=0.5).config_hash() == "82b43cc6b2fb"
