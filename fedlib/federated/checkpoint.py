"""Round checkpoints: a federated run killed after round k restarts at round k + 1.

After every round :func:`fedlib.federated.server_app.federate` writes one file holding everything the
next round depends on:

* the global trainable parameters, and the best-so-far parameters / round / validation accuracy and
  the early-stopping counter,
* the strategy's state across rounds (FedAdam / FedOpt moments ``m_t`` and ``v_t``, and the arrays
  it keeps, ``current_arrays``; a DP wrapper's inner strategy too),
* the history so far (rounds, failures),
* the random states of Python (Flower samples nodes with ``random``), NumPy and PyTorch,
* the round counter, whether the run has stopped (last round or early stop), and the config hash.

Clients are seeded per (run, round, client) and the DP noise per (run, round), so a run resumed from
a checkpoint ends with the numbers an uninterrupted run gives.

The file is written atomically (a temporary file in the same folder, then ``os.replace``): a kill
mid-write leaves the previous checkpoint intact. It is a pickle, read only from the folder the caller
names (the run's own output), never from elsewhere. A checkpoint of another config (hash) is refused.
"""

from __future__ import annotations

import copy
import os
import pickle
import random
import tempfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
from flwr.app import ArrayRecord

FILENAME = "checkpoint.pkl"
VERSION = 1
# Attributes of Flower strategies that carry state from one round to the next (FedOpt family).
STRATEGY_STATE = ("current_arrays", "m_t", "v_t")


class CheckpointMismatchError(ValueError):
    """The checkpoint in the folder belongs to a different experiment config."""


def arrays_to_numpy(arrays: ArrayRecord) -> "OrderedDict[str, np.ndarray]":
    return OrderedDict((k, np.array(v.numpy(), copy=True)) for k, v in arrays.items())


def numpy_to_arrays(state: "OrderedDict[str, np.ndarray]") -> ArrayRecord:
    return ArrayRecord(OrderedDict((k, torch.from_numpy(np.array(v, copy=True))) for k, v in state.items()))


def _strategy_chain(strategy):
    """The strategy and the strategies it wraps (Flower's DP wrappers keep theirs in ``.strategy``)."""
    while strategy is not None:
        yield strategy
        strategy = getattr(strategy, "strategy", None)


def strategy_state(strategy) -> list[dict]:
    return [{name: copy.deepcopy(getattr(s, name)) for name in STRATEGY_STATE if hasattr(s, name)}
            for s in _strategy_chain(strategy)]


def restore_strategy_state(strategy, state: list[dict]) -> None:
    chain = list(_strategy_chain(strategy))
    if len(chain) != len(state):
        raise CheckpointMismatchError("the checkpoint was written by a differently wrapped strategy")
    for s, values in zip(chain, state):
        for name, value in values.items():
            setattr(s, name, copy.deepcopy(value))


def rng_state() -> dict:
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}


def restore_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])


def checkpoint_file(folder: str | Path) -> Path:
    return Path(folder) / FILENAME


def save_checkpoint(folder: str | Path, state: dict) -> Path:
    """Write ``state`` atomically to ``folder``/checkpoint.pkl."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".checkpoint-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            pickle.dump({"version": VERSION, **state}, f, protocol=pickle.HIGHEST_PROTOCOL)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, checkpoint_file(folder))
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return checkpoint_file(folder)


def load_checkpoint(folder: str | Path, config_hash: str) -> dict | None:
    """The checkpoint in ``folder`` (``None`` if there is none); refuses one of another config."""
    path = checkpoint_file(folder)
    if not path.exists():
        return None
    with open(path, "rb") as f:
        state = pickle.load(f)  # noqa: S301 -- our own run's file, see the module docstring
    if state.get("version") != VERSION:
        raise CheckpointMismatchError(f"{path} has checkpoint format {state.get('version')!r}, expected {VERSION}")
    if state.get("config_hash") != config_hash:
        raise CheckpointMismatchError(
            f"{path} belongs to config {state.get('config_hash')!r}, not to this run's {config_hash!r}; "
            f"delete {Path(folder)} (or pass another checkpoint folder) to start afresh"
        )
    return state
