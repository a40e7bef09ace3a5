"""Round checkpoints: a federated run killed after round k restarts at round k + 1.

After every round :func:`fedlib.federated.server_app.federate` saves everything the next round
depends on:

* the global trainable parameters, and the best-so-far parameters / round / validation accuracy and
  the early-stopping counter,
* the strategy's state across rounds (FedAdam / FedOpt moments ``m_t`` and ``v_t``, and the arrays
  it keeps, ``current_arrays``; a DP wrapper's inner strategy too),
* the history so far (rounds, failures),
* the random states of Python (Flower samples nodes with ``random``), NumPy and PyTorch,
* the round counter, whether the run has stopped (last round or early stop), and the config hash.

Clients are seeded per (run, round, client) and the DP noise per (run, round), so a run resumed from
a checkpoint ends with the numbers an uninterrupted run gives.

Format: no pickles, so that resuming from a checkpoint someone else made cannot run their code.
The folder holds ``checkpoint.json`` (format version, counters, history, RNG states, and the name
and SHA-256 of the tensor file) and ``tensors-<digest>.safetensors`` (every array; see
:mod:`fedlib.federated.state_codec` for how the two fit together). Both are written atomically,
tensors first, and the JSON names its tensor file, so a kill at any point leaves the previous
checkpoint whole. A folder holding a pickle (``checkpoint.pkl``, the format of older versions) is
refused without reading it, and so is a checkpoint of another config (hash).
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
from collections import OrderedDict
from pathlib import Path

import numpy as np
import safetensors.numpy
import torch
from flwr.app import ArrayRecord

from fedlib.atomic_file import write_atomically
from fedlib.federated.state_codec import decode_state, encode_state

FILENAME = "checkpoint.json"
TENSORS_GLOB = "tensors-*.safetensors"
PICKLE_SUFFIXES = (".pkl", ".pickle")
VERSION = 2  # 1 was a pickle
# Attributes of Flower strategies that carry state from one round to the next (FedOpt family).
STRATEGY_STATE = ("current_arrays", "m_t", "v_t")


class CheckpointError(ValueError):
    """The checkpoint folder holds something this run must not resume from."""


class CheckpointMismatchError(CheckpointError):
    """The checkpoint in the folder belongs to a different experiment config."""


class PickledCheckpointError(CheckpointError):
    """The checkpoint folder holds a pickle, which is never loaded."""


def arrays_to_numpy(arrays: ArrayRecord) -> OrderedDict[str, np.ndarray]:
    return OrderedDict((k, np.array(v.numpy(), copy=True)) for k, v in arrays.items())


def numpy_to_arrays(state: OrderedDict[str, np.ndarray]) -> ArrayRecord:
    return ArrayRecord(OrderedDict((k, torch.from_numpy(np.array(v, copy=True))) for k, v in state.items()))


def _strategy_chain(strategy):
    """The strategy and the strategies it wraps (Flower's DP wrappers keep theirs in ``.strategy``)."""
    while strategy is not None:
        yield strategy
        strategy = getattr(strategy, "strategy", None)


def strategy_state(strategy) -> list[dict]:
    """Each strategy's round-to-round attributes: ``None``, dicts of arrays, or array records (stored as dicts)."""
    def plain(value):
        return arrays_to_numpy(value) if isinstance(value, ArrayRecord) else copy.deepcopy(value)

    return [{name: plain(getattr(s, name)) for name in STRATEGY_STATE if hasattr(s, name)}
            for s in _strategy_chain(strategy)]


def restore_strategy_state(strategy, state: list[dict]) -> None:
    chain = list(_strategy_chain(strategy))
    if len(chain) != len(state):
        raise CheckpointMismatchError("the checkpoint was written by a differently wrapped strategy")
    for s, values in zip(chain, state, strict=True):
        for name, value in values.items():
            if isinstance(getattr(s, name, None), ArrayRecord):
                value = numpy_to_arrays(value)
            setattr(s, name, copy.deepcopy(value))


def rng_state() -> dict:
    """Python's state (a tuple of ints), NumPy's bit-generator state (a dict), torch's (uint8 bytes)."""
    return {"python": random.getstate(), "numpy": np.random.get_state(legacy=False),
            "torch": torch.get_rng_state().numpy()}


def restore_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(torch.from_numpy(state["torch"]))


def checkpoint_file(folder: str | Path) -> Path:
    return Path(folder) / FILENAME


def refuse_pickles(folder: str | Path) -> None:
    """Raise :class:`PickledCheckpointError` if ``folder`` holds a pickle; nothing is read from it."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    pickles = sorted(p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickles:
        raise PickledCheckpointError(
            f"{folder} holds a pickled checkpoint ({', '.join(pickles)}), the format of older fedlib versions. "
            "Loading a pickle can run any code it carries, so fedlib never unpickles one, its own included. "
            f"Delete {folder} to restart the run from round 1."
        )


def save_checkpoint(folder: str | Path, state: dict) -> Path:
    """Write ``state`` (JSON-ready values and NumPy arrays) to ``folder``, replacing its checkpoint."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tree, arrays = encode_state(state)
    tensors = safetensors.numpy.save(arrays)
    digest = hashlib.sha256(tensors).hexdigest()
    tensor_file = write_atomically(folder / f"tensors-{digest[:16]}.safetensors", tensors)
    index = {"version": VERSION, "tensors": {"file": tensor_file.name, "sha256": digest}, "state": tree}
    write_atomically(checkpoint_file(folder), json.dumps(index).encode())
    for stale in folder.glob(TENSORS_GLOB):  # an earlier round's, or one a kill left unreferenced
        if stale != tensor_file:
            stale.unlink(missing_ok=True)
    return checkpoint_file(folder)


def load_checkpoint(folder: str | Path, config_hash: str) -> dict | None:
    """The checkpoint in ``folder`` (``None`` if there is none); refuses a pickle, or one of another config."""
    refuse_pickles(folder)
    path = checkpoint_file(folder)
    if not path.exists():
        return None
    restart = f"delete {Path(folder)} (or pass another checkpoint folder) to start afresh"
    try:
        index = json.loads(path.read_text())
        version, tree = index["version"], index["state"]
        tensor_name, digest = Path(index["tensors"]["file"]).name, index["tensors"]["sha256"]
        saved_hash = tree["config_hash"]
    except (ValueError, KeyError, TypeError) as err:
        raise CheckpointError(f"{path} is not a fedlib checkpoint ({type(err).__name__}: {err}); {restart}") from None
    if version != VERSION:
        raise CheckpointMismatchError(f"{path} has checkpoint format {version!r}, expected {VERSION}; {restart}")
    if saved_hash != config_hash:
        raise CheckpointMismatchError(
            f"{path} belongs to config {saved_hash!r}, not to this run's {config_hash!r}; {restart}"
        )
    tensor_path = Path(folder) / tensor_name  # by its bare name: never a file outside the folder
    tensors = tensor_path.read_bytes() if tensor_path.is_file() else b""
    if hashlib.sha256(tensors).hexdigest() != digest:
        raise CheckpointError(f"{tensor_path} is missing or is not the tensor file {path} was written with; "
                              f"{restart}")
    return decode_state(tree, safetensors.numpy.load(tensors))
