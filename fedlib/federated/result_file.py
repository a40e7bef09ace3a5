"""The file a ServerApp leaves its run's result in, for the engine that started it.

The simulation and deployment engines run the ServerApp outside the caller's process, so the round
history comes back through the file system: ``history.json`` (the history as JSON) with
``history.npz`` beside it (the final global arrays) and ``history.best.npz`` (the arrays of the round
that did best on validation: the model whose test scores the run reports). All are written
atomically, arrays first, so once the JSON exists the result is complete: that is what the
deployment engine polls for.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from fedlib.atomic_file import write_atomically

FILENAME = "history.json"
FINAL_ARRAYS = "_final_arrays"  # the history's key for the final arrays (kept out of the JSON)
BEST_ARRAYS = "_best_arrays"  # ... and for the best round's arrays
ARRAY_SUFFIXES = {FINAL_ARRAYS: ".npz", BEST_ARRAYS: ".best.npz"}
POLL_S = 0.25


def result_path(folder: str | Path) -> Path:
    return Path(folder) / FILENAME


def arrays_path(path: str | Path, key: str = FINAL_ARRAYS) -> Path:
    return Path(path).with_suffix(ARRAY_SUFFIXES[key])


def write_result(path: str | Path, history: dict) -> None:
    """The history as JSON at ``path`` (keys starting with ``_`` left out), its arrays beside it."""
    for key in ARRAY_SUFFIXES:
        arrays = io.BytesIO()
        np.savez(arrays, **history[key])
        write_atomically(arrays_path(path, key), arrays.getvalue())
    plain = {k: v for k, v in history.items() if not k.startswith("_")}
    write_atomically(path, json.dumps(plain).encode())


def is_written(path: str | Path) -> bool:
    return Path(path).exists() and all(arrays_path(path, key).exists() for key in ARRAY_SUFFIXES)


def read_result(path: str | Path) -> dict:
    """The history at ``path``, with its arrays back under ``_final_arrays`` and ``_best_arrays``."""
    path = Path(path)
    if not is_written(path):
        raise RuntimeError(f"the federated run wrote no result to {path}; see the log above")
    history = json.loads(path.read_text())
    for key in ARRAY_SUFFIXES:
        with np.load(arrays_path(path, key)) as arrays:
            history[key] = {k: arrays[k] for k in arrays.files}
    return history


def wait_for_result(path: str | Path, check: Callable[[], None], poll_s: float = POLL_S) -> dict:
    """Poll until the result at ``path`` is written, then read it.

    ``check()`` is called before each wait and stops the wait by raising (a process died, time is up).
    """
    while not is_written(path):
        check()
        time.sleep(poll_s)
    return read_result(path)
