"""Turn a resolved config into clients: who holds which training, validation and test rows.

The paper's clients are languages. With ``partition="dirichlet"`` each language's training rows are
further split across ``clients_per_language`` clients with Dirichlet label skew (non-IID); with
``partition="iid"`` uniformly at random into clients of exactly equal size (a remainder that does not
divide is left out, see :func:`fedlib.data.iid_partition`), so that FedAvg weights them equally and
DP noise is averaged over more updates (:mod:`fedlib.privacy`). Either way the clients of one language
share that language's validation and test sets.
"""

from __future__ import annotations

import dataclasses
import functools

from datasets import Dataset, concatenate_datasets

from fedlib.experiment import ExperimentConfig


@dataclasses.dataclass
class ClientData:
    name: str  # e.g. "sw" or "sw-2"
    lang: str
    train: Dataset
    validation: Dataset
    test: Dataset


def _budget(dataset: Dataset, n: int | None, seed: int) -> Dataset:
    """At most ``n`` rows, stratified by label; the whole split when it has fewer."""
    from fedlib.data import take_budget

    if n is None or n >= len(dataset):
        return dataset
    return take_budget(dataset, n, seed=seed)


# Only these fields decide who holds which rows; runs differing elsewhere share the cached clients.
_DATA_FIELDS = ("task", "languages", "seed", "train_per_client", "eval_per_client", "val_per_client",
                "partition", "clients_per_language", "alpha", "protocol", "data_fingerprint")


@functools.lru_cache(maxsize=8)
def _language_splits(task: str, languages: tuple[str, ...], protocol: int, fingerprint: str | None = None):
    """Each language's (train, validation, test) under the data protocol, and the rows it removed.

    ``fingerprint``: the folder task's files when the config was resolved; rows are read only from
    those same files (a file changed since is refused, not trained on under the old identity).
    """
    from fedlib.data import DataError, data_fingerprint, load_task, partition_by_language
    from fedlib.protocol import apply_protocol

    if fingerprint is not None and fingerprint != data_fingerprint(task):
        raise DataError(f"the files of {task!r} changed since this config was resolved (data_fingerprint "
                        f"{fingerprint[:12]}..., the files now {data_fingerprint(task)[:12]}...); resolve the "
                        "config again to run on the files as they are")
    splits = load_task(task, list(languages))
    by_lang = {split: partition_by_language(splits[split]) for split in ("train", "validation", "test")}
    out, removed = {}, {}
    for lang in languages:
        *parts, counts = apply_protocol(task, protocol, *(by_lang[s][lang] for s in ("train", "validation", "test")))
        out[lang] = tuple(parts)
        removed[lang] = {reason: n for reason, n in counts.items() if n}
    return out, removed


def protocol_report(config: ExperimentConfig) -> dict[str, dict[str, int]]:
    """Rows the config's data protocol moved or removed, per language (empty under protocol 1)."""
    cfg = config.resolved()
    splits = _language_splits(cfg.task, cfg.languages, cfg.protocol, cfg.data_fingerprint)
    return {lang: counts for lang, counts in splits[1].items() if counts}


@functools.lru_cache(maxsize=8)
def _clients_cached(data_key: tuple) -> tuple[ClientData, ...]:
    from fedlib.data import dirichlet_partition, iid_partition
    from fedlib.protocol import TEST_SEED

    cfg = ExperimentConfig(**dict(zip(_DATA_FIELDS, data_key, strict=True)))
    splits, _ = _language_splits(cfg.task, tuple(cfg.languages), cfg.protocol, cfg.data_fingerprint)
    test_seed = cfg.seed if cfg.protocol == 1 else TEST_SEED
    clients: list[ClientData] = []
    for lang in cfg.languages:
        train_rows, validation_rows, test_rows = splits[lang]
        train = _budget(train_rows, cfg.train_per_client, cfg.seed)
        validation = _budget(validation_rows, cfg.val_per_client, cfg.seed)
        test = _budget(test_rows, cfg.eval_per_client, test_seed)
        if cfg.partition == "language":
            clients.append(ClientData(lang, lang, train, validation, test))
            continue
        if cfg.partition == "iid":
            parts = iid_partition(train, cfg.clients_per_language, seed=cfg.seed, equal_sizes=True)
        else:
            parts = dirichlet_partition(train, cfg.clients_per_language, cfg.alpha, seed=cfg.seed)
        for i, part in enumerate(parts):
            clients.append(ClientData(f"{lang}-{i}", lang, part, validation, test))
    return tuple(clients)


def build_clients(config: ExperimentConfig) -> list[ClientData]:
    """The clients of a config, in a fixed order (client index = partition id). Cached per process."""
    cfg = config.resolved()
    return list(_clients_cached(tuple(getattr(cfg, field) for field in _DATA_FIELDS)))


def pooled(datasets: list[Dataset]) -> Dataset:
    """The centralized baseline's view: every client's rows in one place."""
    return concatenate_datasets(datasets)
